// How the program meets the inet_sock_set_state hook. Decided once, at load.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace selfconnect {

enum class AttachMode {
    Auto,        // tp_btf where the kernel offers it, else tracepoint
    TpBtf,       // BTF-enabled raw tracepoint: direct reads, cheapest
    Tracepoint,  // classic tracepoint sock/inet_sock_set_state
};

std::string_view attach_mode_name(AttachMode m);
std::optional<AttachMode> parse_attach_mode(std::string_view s);

// Is `name` in the kernel's BTF string table (a type, a field, an enum
// value such as a helper's BPF_FUNC_ name)?
bool kernel_btf_has_name(std::string_view name);

// Does the kernel's BTF describe the raw tracepoint (btf_trace_inet_sock_set_state)?
bool kernel_offers_tp_btf();

// Auto becomes the concrete mode this kernel supports.
AttachMode resolve_attach_mode(AttachMode requested);

// Classic tracepoints are found through tracefs; mount it if nobody has.
// Returns an error sentence, or nothing.
std::optional<std::string> ensure_tracefs();

// Is the classic tracepoint `event` ("syscalls/sys_exit_bind") there? Call
// after ensure_tracefs().
bool kernel_has_tracepoint(const std::string& event);

// The tracepoint program reads its record at fixed offsets (see
// vmlinux/vmlinux.h). Compares them with the kernel's format description
// (`format_text`); returns the first mismatch as a sentence, or nothing.
std::optional<std::string> check_tracepoint_layout(const std::string& format_text);

// Reads the format file from tracefs and checks it.
std::optional<std::string> check_tracepoint_layout();

}  // namespace selfconnect
