// What `watch --metrics ADDRESS:PORT` serves at /metrics, in Prometheus'
// text format. Counters are written by the watch loop and read by the
// server's thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "events.h"
#include "metrics/risk_map.h"

namespace selfconnect {

struct Metrics {
    std::atomic<uint64_t> self_connects_ipv4{0};
    std::atomic<uint64_t> self_connects_ipv6{0};
    std::atomic<uint64_t> self_connects_closed{0};
    std::atomic<uint64_t> retry_loop_warnings{0};
    std::atomic<uint64_t> kills_ok{0};
    std::atomic<uint64_t> kills_failed{0};
    // Lost in the kernel (ring full, or over the kernel's budget), by
    // kernel kind (enum sc_event_kind).
    std::array<std::atomic<uint64_t>, SC_EVENT_KINDS> lost_kernel_by_kind{};
    std::atomic<uint64_t> lost_unknown_kinds{0};         // events of a kind the loader does not know
    std::atomic<uint64_t> lost_holder_lookups{0};        // port conflicts whose holder was not looked for
    std::atomic<uint64_t> lost_userspace{0};       // ring samples that could not be decoded
    std::atomic<uint64_t> skipped_kernel_runs{0};  // runs the kernel skipped (nested BPF)
    std::atomic<uint64_t> lost_output{0};          // records that could not be written
    // More at once than the kernel's tables for the open count hold.
    std::atomic<uint64_t> lost_open_count_self_connects{0};
    std::atomic<uint64_t> lost_open_count_closes{0};
    std::atomic<uint64_t> ports_reserved_listener{0};    // --protect, for a listener at risk
    std::atomic<uint64_t> ports_reserved_retry_loop{0};  // --protect, for a retry loop
    std::atomic<uint64_t> ports_reserve_failed{0};       // --protect could not (or the cap)
    std::atomic<uint64_t> listeners_blocked{0};
    // Self-connects past a command's first few a second on a port, counted
    // in the kernel and written as self_connect_repeats.
    std::atomic<uint64_t> self_connects_folded_ipv4{0};
    std::atomic<uint64_t> self_connects_folded_ipv6{0};
    // Refused connects past a loop's first few a second, counted in the kernel.
    std::atomic<uint64_t> refusals_folded{0};
    // --guard, as the kernel counts it (every one, records or not).
    std::atomic<uint64_t> self_connects_prevented{0};  // SYNs that met themselves, refused
    std::atomic<uint64_t> guard_missed{0};             // could have met themselves; no guard saw the SYN
    std::atomic<uint64_t> guard_namespaces{0};         // gauge: namespaces whose loopback is guarded
    std::atomic<uint64_t> guard_namespaces_failed{0};  // gauge: namespaces the guard could not attach to
    // Gauges of the present.
    std::atomic<uint64_t> listeners_at_risk{0};
    std::atomic<uint64_t> self_connects_open{0};           // of those written
    std::atomic<uint64_t> self_connects_open_unwritten{0};  // of those folded or over budget (kernel)
    std::string attach_mode;                  // set once, before serving
    // Which listeners, self-connects and retry loops those are.
    RiskMap risk_map;
};

std::string render_prometheus(const Metrics& m);

struct ListenAddress {
    std::string host;  // "127.0.0.1", "::1", "0.0.0.0"
    uint16_t port = 0;
};

// "127.0.0.1:9464", "[::1]:9464", ":9464" (every address). Nothing if malformed.
std::optional<ListenAddress> parse_listen_address(const std::string& text);

// The HTTP response for one request head: 200 with the metrics for
// "GET /metrics", 404 for another path, 405 for another method, 400 else.
std::string http_response_for(const std::string& request_head, const Metrics& m);

}  // namespace selfconnect
