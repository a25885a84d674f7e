// The command line, parsed and validated into typed options. Nothing here
// touches the kernel, so every bad input can be tested without privileges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attach_mode.h"

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
};

struct AuditOptions {
    bool json = false;
    bool kill = false;
    bool fix = false;                    // apply each namespace's fix line
    bool verbose = false;
    std::vector<uint32_t> netns;         // empty: every namespace
};

struct Command {
    enum class Kind { Watch, Audit, Exit } kind = Kind::Exit;
    WatchOptions watch;
    AuditOptions audit;
    // For Kind::Exit: what to print and with which status (help, version,
    // or one line of error on stderr with status 2).
    int exit_code = 0;
    std::string output;
    bool output_is_error = false;
};

// args excludes the program name.
Command parse_command_line(const std::vector<std::string>& args);

// "4096", "64K", "1M": a byte count; nothing if malformed or over 1 GiB.
std::optional<uint32_t> parse_byte_size(const std::string& s);

}  // namespace selfconnect
