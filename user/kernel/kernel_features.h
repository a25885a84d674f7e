// What this kernel offers, and whether this process may use it: every probe
// the loader makes, decided once before the program is opened. libbpf's own
// probe answers "no" alike when the kernel lacks a feature and when a
// seccomp filter or an LSM refuses the call; the user needs to know which,
// because the fixes have nothing in common.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/attach_mode.h"

namespace selfconnect {

// Is `name` in the kernel's BTF string table (a type, a field, an enum
// value such as a helper's BPF_FUNC_ name)? The names the loader asks about
// are looked up together, once per process, and the answer is kept (a
// table that could not be read answers no to each, for the process's
// life); any other name costs a read of its own.
bool kernel_btf_has_name(std::string_view name);

// The same for several names in one read of the table, in their order.
std::vector<bool> kernel_btf_has_names(const std::vector<std::string_view>& names);

// Does the kernel's BTF describe the raw tracepoint (btf_trace_inet_sock_set_state)?
bool kernel_offers_tp_btf();

// Could this kernel attach fexit programs (BPF trampolines)? A do-nothing
// fexit program with no target is loaded: a kernel that would take fexit
// refuses it for the missing target (EINVAL), one that refuses fexit
// outright says so first (EPERM, ENOTSUPP). A yes can still be refused at
// load or attach (an architecture without trampolines): the loader then
// falls back. `err` as that load left errno, pure, for the tests.
bool trampoline_probe_says_yes(int err, std::string_view verifier_log);
bool kernel_may_offer_trampolines();

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

// The seccomp mode of this process (/proc/self/status "Seccomp:"): 0 none,
// 1 strict, 2 filter; -1 if it cannot be read.
int seccomp_mode();

// The sentence for a ring buffer map that could not be created with errno
// `err`, or "" when err is 0. Pure, for the tests.
std::string explain_ring_buffer_probe(int err, int seccomp);

// Creates and frees a small BPF ring buffer; "" when that works.
std::string probe_ring_buffer();

// Does every bpf() command need CAP_BPF while kernel.unprivileged_bpf_disabled
// is set, lookups on descriptors already held included? Before Linux 5.19
// it does; the sysctl can be set at any time, so its value now decides
// nothing. Pure, for the tests: `release` as uname -r gives it.
bool bpf_commands_need_capability(const std::string& release);
bool bpf_commands_need_capability();

// Before Linux 6.1 a classic tracepoint program that uses a hash map whose
// entries are allocated at run time makes the verifier WARN (the kernel is
// tainted; a host with panic_on_warn panics); 6.1 made such maps safe there
// (bpf_mem_alloc). Pure, for the tests: `release` as uname -r gives it.
bool tracepoints_need_preallocated_maps(const std::string& release);
bool tracepoints_need_preallocated_maps();

// Checks that must pass before loading: BTF present, ring buffers supported.
// Returns an error sentence or an empty string.
std::string check_kernel_support();

}  // namespace selfconnect
