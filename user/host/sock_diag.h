// TCP sockets through NETLINK_SOCK_DIAG: list them, destroy one.
//
// What audit reports comes from sock_diag rather than a BPF socket
// iterator: it works on every kernel the detector supports, answers per
// network namespace (which is how ip_local_port_range is scoped too), and
// the same socket serves SOCK_DESTROY for --kill. (A census of descriptors,
// kernel/socket_census, only spares the dumps that cannot find anything.)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "host/tcp_states.h"
#include "host/unique_fd.h"

namespace selfconnect {

struct TcpSocket {
    uint16_t family = 0;  // AF_INET / AF_INET6
    uint8_t state = 0;    // a TcpState
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;   // host byte order
    uint16_t dport = 0;
    uint32_t uid = 0;
    uint32_t inode = 0;
    uint64_t cookie = 0;
    uint32_t bound_ifindex = 0;  // SO_BINDTODEVICE, 0 for none: part of the socket's identity
};

class SockDiag {
public:
    // A sock_diag socket in the namespace `netns_fd` (-1: the current one).
    explicit SockDiag(int netns_fd = -1);

    // Sockets of both families in the states of `state_mask` (bit N set:
    // state N): IPv4 first, then IPv6, each in the kernel's order.
    std::vector<TcpSocket> list(uint32_t state_mask);

    // SOCK_DESTROY: 0 on success, else an errno value. `cookie` 0 matches
    // any socket with that 4-tuple.
    int destroy(const TcpSocket& s);

private:
    // One dump: of one family (AF_INET, AF_INET6), or of both (AF_UNSPEC).
    std::vector<TcpSocket> dump(uint16_t family, uint32_t state_mask);

    UniqueFd fd_;
};

}  // namespace selfconnect
