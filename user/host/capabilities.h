// Which capabilities the process holds, checked before anything is loaded so
// the user gets one sentence instead of a verifier log; and dropping them
// once attached.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace selfconnect {

// CAP_SYS_ADMIN: mounting, entering another network namespace. Asked before
// trying, so that a call that cannot succeed is never made (under a
// seccomp filter that kills, such as a systemd unit's, it would end us).
bool may_administer_system();

// The capabilities missing to load and attach the detector, as a sentence,
// or nothing if it may proceed. CAP_BPF + CAP_PERFMON (5.8+) or CAP_SYS_ADMIN.
std::optional<std::string> missing_load_capabilities();

// CAP_NET_ADMIN, needed by --kill (SOCK_DESTROY).
std::optional<std::string> missing_kill_capabilities();

// CAP_NET_ADMIN, needed by --guard to attach to loopback devices (for as
// long as it runs, on its attaching thread only; see ConnectGuard).
std::optional<std::string> missing_guard_capabilities();

// After loading and attaching: keeps only `keep` (capability numbers) in
// every set (effective, permitted, inheritable, ambient, bounding) and sets
// no_new_privs. Returns an error sentence, or nothing.
std::optional<std::string> drop_capabilities_except(const std::vector<int>& keep);

// Keeps only `keep` in the calling thread's effective and permitted sets
// (capabilities are per thread): for a thread that needs less than the
// main one, such as the one serving metrics to the network (nothing).
// Returns an error sentence, or nothing.
std::optional<std::string> drop_this_threads_capabilities(const std::vector<int>& keep = {});

// CAP_BPF: before Linux 5.19, while kernel.unprivileged_bpf_disabled is
// set (the default of many distributions' kernels), every bpf() command of
// a process without it fails, even on descriptors it already holds.
std::vector<int> capabilities_for_bpf_after_load();

// What --kill needs for as long as it runs: SOCK_DESTROY (CAP_NET_ADMIN),
// entering another network namespace (CAP_SYS_ADMIN) and opening other
// users' /proc/PID/ns/net (CAP_SYS_PTRACE).
std::vector<int> capabilities_for_kill();

}  // namespace selfconnect
