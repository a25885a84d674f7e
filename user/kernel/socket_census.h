// The socket census (bpf/socket_census.bpf.h): its iterator read once,
// every TCP socket that a descriptor holds counted in its namespace. One
// walk of the host's descriptors instead of one walk of the kernel's whole
// socket table per namespace scanned.
#pragma once

#include <optional>
#include <string>

#include "host/tcp_census.h"

namespace selfconnect {

class KernelProgram;

struct TakenCensus {
    std::optional<TcpCensusByNetns> census;  // nothing: not taken, and every namespace is walked
    // Why not, where this kernel could have taken it (it has
    // bpf_sock_from_file): a failure to say. Nothing where it simply
    // cannot (before 5.11), which is said elsewhere or not at all.
    std::optional<std::string> failure;
};

// Audit's: its own small object loaded, read once, unloaded.
TakenCensus take_tcp_census();

// The watcher's: read through the census its program carries (no second
// load). Reading an iterator takes no capability where unprivileged BPF
// is allowed, CAP_BPF otherwise (capabilities_for_bpf_reads keeps it).
TakenCensus take_tcp_census(const KernelProgram& program);

}  // namespace selfconnect
