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

// Nothing where it cannot be taken: a kernel before 5.11 (no
// bpf_sock_from_file), no BTF, BPF refused. The caller then walks every
// namespace's table, as without it. Where the kernel has the helper and
// the census still failed, `failure` (if given) says why.
std::optional<TcpCensusByNetns> take_tcp_census(std::string* failure = nullptr);

// The same through the census the watcher's program carries: no second
// load. Reading it needs no capability.
std::optional<TcpCensusByNetns> take_tcp_census(const KernelProgram& program);

}  // namespace selfconnect
