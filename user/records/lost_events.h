// Records lost, by where they were lost: how many since the last report,
// and in all.
#pragma once

#include <chrono>
#include <cstdint>

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
};

struct LostEvents {
    std::chrono::system_clock::time_point when;
    LossPlace where = LossPlace::KernelRing;
    uint64_t count = 0;
    uint64_t total = 0;
    uint64_t self_connects = 0;  // KernelRing only: in all, by kind
    uint64_t closes = 0;
    uint64_t refusals = 0;
    uint64_t listens = 0;
    uint64_t listener_closes = 0;
    uint64_t ports_in_use = 0;  // refused bind()/listen(): ring full, or past the kernel's budget
    uint64_t prevented = 0;     // self_connect_prevented: ring full, or past the kernel's budget
    uint64_t guard_missed = 0;  // guard_missed: ring full, or past the kernel's budget
};

}  // namespace selfconnect
