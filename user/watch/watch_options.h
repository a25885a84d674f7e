// What `selfconnect watch` was asked to do, parsed and checked by cli/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/attach_mode.h"
#include "records/name_options.h"

namespace selfconnect {

struct WatchOptions {
    bool json = false;
    std::optional<double> duration_seconds;
    std::optional<uint64_t> count;
    std::optional<uint32_t> pid;
    std::optional<std::string> comm;
    uint16_t port = 0;   // 0: every port
    std::vector<uint32_t> netns;  // empty: every namespace
    AttachMode attach_mode = AttachMode::Auto;
    uint32_t ring_buffer_bytes = 0;  // 0: default
    uint32_t retry_threshold = 5;    // refusals within the window that make a retry_loop
    double retry_window_seconds = 10.0;
    bool kill = false;
    bool verbose = false;
    std::optional<std::string> metrics;  // ADDRESS:PORT, validated
    std::optional<std::string> output;   // a file to append NDJSON to
    bool protect = false;                // reserve ports at risk (ip_local_reserved_ports)
    uint32_t protect_max = 64;           // ports --protect reserves per namespace at most
    bool guard = false;                  // the guard on loopback (bpf/guard.bpf.c)
    bool require_guard = false;          // exit if the guard cannot run
    NameOptions names;                   // where container names are read
};

}  // namespace selfconnect
