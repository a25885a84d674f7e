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
};

struct LostEvents {
    std::chrono::system_clock::time_point when;
    LossPlace where = LossPlace::KernelRing;
    uint64_t count = 0;
    uint64_t total = 0;
    uint64_t self_connects = 0;  // KernelRing only: in all, by kind
    uint64_t closes = 0;
    uint64_t refusals = 0;
};

}  // namespace selfconnect
