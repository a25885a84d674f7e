// A client that never binds its port, as real ones do (curl, nc, Go's
// net.Dial): `tries` blocking connect()s to addr:port, each on a fresh
// socket, counting how each ended. A self-connect is a connect that
// succeeded with the socket's own address and port as its peer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace selfconnect::testing {

struct ConnectLoopResult {
    int tries = 0;
    int self_connects = 0;
    int refused = 0;     // ECONNREFUSED
    int other = 0;       // anything else (a listener answered, another error)
    int last_errno = 0;  // of the last "other" failure
};

// `family` AF_INET or AF_INET6 (an AF_INET6 socket may be given a v4-mapped
// address). `setup`, if given, runs on each socket before its connect().
ConnectLoopResult connect_loop(int family, const std::string& addr, uint16_t port, int tries,
                               const std::function<void(int fd)>& setup = nullptr);

// Writes this network namespace's net.ipv4.ip_local_port_range.
bool set_port_range(uint16_t lo, uint16_t hi);

}  // namespace selfconnect::testing
