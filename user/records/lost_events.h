// Records lost, by where they were lost: how many since the last report,
// and in all.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include "events.h"

namespace selfconnect {

enum class LossPlace {
    KernelRing,     // the kernel's ring buffer was full (counted by kind too)
    KernelSkipped,  // runs of the program the kernel skipped while a BPF program
                    // ran on that CPU: what each would have reported is unknown
    Output,         // records that could not be written
    HolderLookup,   // refused bind()s or listen()s whose holder was not looked
                    // for: more at once than the lookup queue holds
    UnknownKind,    // events of a kind this loader does not know: the BPF
                    // program wrote a kind nobody mapped (a defect)
    OpenCount,      // self-connects not written, and closes not written,
                    // more at once than the kernel's tables for the open
                    // count hold: the open gauge may read low by the first
                    // until they close, high by the second until their
                    // sockets are read again (by kind too)
};

struct LostEvents {
    std::chrono::system_clock::time_point when;
    LossPlace where = LossPlace::KernelRing;
    uint64_t count = 0;
    uint64_t total = 0;
    // KernelRing and OpenCount only: in all, by kernel kind (enum
    // sc_event_kind; a refused bind()/listen(), a prevented self-connect or
    // a missed guard is counted lost past the kernel's budget too).
    std::array<uint64_t, SC_EVENT_KINDS> by_kind{};
    uint64_t of(uint8_t kind) const { return kind < by_kind.size() ? by_kind[kind] : 0; }
};

}  // namespace selfconnect
