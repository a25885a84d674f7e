// Turns refused connects into an early warning: the loop that ends in a
// self-connect is a client that keeps being refused on a port of the
// ephemeral range of its own address. A "process" is keyed by its name, not
// its pid, because such loops usually re-run a short-lived client (nc, curl).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "records/record.h"

namespace selfconnect {

class RetryLoopDetector {
public:
    RetryLoopDetector(uint32_t threshold, double window_seconds);

    // Feeds one refusal (a ConnectRefused record). Returns a retry_loop record
    // when this refusal makes `threshold` within the window, at most once per
    // (netns, process, port) per window.
    std::optional<Record> on_refused(const Record& refused);
    // The loops warned of that are still under way at `now_ns` (refused
    // within the window), by their warning.
    std::vector<Record> under_way(uint64_t now_ns) const;

private:
    using Key = std::tuple<uint32_t, std::string, uint16_t>;
    struct Streak {
        std::deque<uint64_t> recent;  // the last `threshold` refusal times
        uint64_t refusals = 0;        // since the streak began
        std::optional<uint64_t> reported_at;
        std::optional<Record> warning;  // the retry_loop record, once written
    };
    void forget_stale(uint64_t now);

    uint32_t threshold_;
    uint64_t window_ns_;
    double window_seconds_;
    std::map<Key, Streak> streaks_;
    uint64_t last_sweep_ = 0;
};

}  // namespace selfconnect
