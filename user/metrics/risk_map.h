// The risk map: one info series (value 1) per listener on a port of its
// namespace's ephemeral range, per self-connected socket open now and per
// retry loop under way, labelled with where it is (netns, address, port)
// and who (pid, comm, container, pod), so that one query over a fleet
// answers which services on which nodes can be hit and which are fixed.
// Each kind is bounded: past the bound, series are left out and counted.
// Written by the watch loop, read by the metrics server's thread.
#pragma once

#include <array>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "records/record.h"

namespace selfconnect {

enum class RiskKind : size_t {
    ListenerInRange,  // selfconnect_listener_in_range_info (reserved="false": at risk)
    OpenSelfConnect,  // selfconnect_self_connect_open_info
    RetryLoop,        // selfconnect_retry_loop_info
};
inline constexpr size_t kRiskKinds = 3;

// One series' labels, in the order written; empty values are left out.
using RiskLabels = std::vector<std::pair<std::string, std::string>>;

// The labels a record gives its series: where, who, and for a listener
// who chose its port and whether it is reserved.
RiskLabels risk_labels(const Record& r, bool reserved = false);

class RiskMap {
public:
    RiskMap() = default;
    explicit RiskMap(size_t max_series_per_kind) : max_(max_series_per_kind) {}
    size_t bound() const { return max_; }
    // What the map says of `kind` from now on: `shown` (at most bound() of
    // them are kept), and how many more there are, left out.
    void replace(RiskKind kind, std::vector<RiskLabels> shown, size_t left_out);
    // Prometheus text: the three info families and the count left out.
    void render(std::string& out) const;

private:
    size_t max_ = 1000;
    mutable std::mutex mutex_;
    std::array<std::vector<RiskLabels>, kRiskKinds> series_;
    std::array<size_t, kRiskKinds> left_out_{};
};

}  // namespace selfconnect
