// What a census of descriptors says of one network namespace's TCP
// sockets, and the kernel's own count to hold it to: where the two agree
// and no socket has two equal ends, the namespace holds no self-connect and
// its whole socket table need not be walked (audit, kernel/socket_census).
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace selfconnect {

struct TcpCensus {
    uint64_t held = 0;            // hashed TCP sockets that a descriptor holds, each once
    bool same_ends_seen = false;  // one of them has local address and port == remote
    bool mptcp_seen = false;      // an MPTCP socket, whose TCP subflows no descriptor holds
};

// By network namespace inode; a namespace absent holds none.
using TcpCensusByNetns = std::unordered_map<uint32_t, TcpCensus>;

// What `census` (if one was taken) says of the namespace `netns`: its
// entry, or an entry of none held where it has none; nothing without a
// census.
const TcpCensus* census_of(const std::optional<TcpCensusByNetns>& census, uint32_t netns);
const TcpCensus& census_of(const TcpCensusByNetns& census, uint32_t netns);

// The kernel's count of hashed TCP sockets of both families in the
// namespace the calling thread is in ("inuse" of /proc/net/sockstat and
// sockstat6; no sockstat6 without IPv6: none of that family). Nothing if
// it cannot be read.
std::optional<uint64_t> hashed_tcp_sockets_here();

// The census agrees with the kernel's count, saw no socket with equal ends
// and no MPTCP socket: no self-connected socket can be in the namespace,
// except one that opened after the census (as after any scan), or one no
// descriptor holds while others opened and closed between the census and
// the count so as to balance it (see README, "audit").
bool census_rules_out_self_connects(const TcpCensus& census, std::optional<uint64_t> kernel_count);

}  // namespace selfconnect
