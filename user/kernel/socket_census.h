// The socket census for audit: bpf/socket_census.bpf.c loaded on its own,
// its iterator read once, every TCP socket that a descriptor holds counted
// in its namespace. One walk of the host's descriptors instead of one walk
// of the kernel's whole socket table per namespace.
#pragma once

#include <optional>

#include "host/tcp_census.h"

namespace selfconnect {

// Nothing where it cannot be taken: a kernel before 5.11 (no
// bpf_sock_from_file), no BTF, BPF refused. The caller then walks every
// namespace's table, as without it.
std::optional<TcpCensusByNetns> take_tcp_census();

}  // namespace selfconnect
