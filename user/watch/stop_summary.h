// What the watcher says on stderr when it stops: what it reported, and what
// it lost or could not write, so a run's end accounts for every event.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "events.h"
#include "records/lost_events.h"

namespace selfconnect {

struct WatchTotals {
    uint64_t detections = 0;
    uint64_t retry_loop_warnings = 0;
    LostEvents lost;
    uint64_t skipped_runs = 0;
    uint64_t not_written = 0;
    uint64_t unknown_kinds = 0;  // events of a kind this build does not know
    LostEvents open_count;       // what the open count could not follow (LossPlace::OpenCount)
    std::optional<std::array<uint64_t, SC_GUARD_COUNTS>> guard;  // --guard ran
};

// The summary's lines, each ending in a newline.
std::string stop_summary(const WatchTotals& t);

}  // namespace selfconnect
