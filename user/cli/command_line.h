// The command line, parsed and validated into typed options. Nothing here
// touches the kernel, so every bad input can be tested without privileges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_options.h"
#include "watch/watch_options.h"

namespace selfconnect {

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
