// A network namespace of the test's own, named so that commands can run in
// it (`ip netns exec`), with lo up and a narrowed ephemeral range. Every
// sysctl a test changes is this namespace's, never the host's. Deleted,
// with whatever still runs in it left to its owner, when destroyed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace selfconnect::testing {

class NamedNetns {
public:
    explicit NamedNetns(const std::string& port_range = "40000 41999");
    ~NamedNetns();
    NamedNetns(const NamedNetns&) = delete;
    NamedNetns& operator=(const NamedNetns&) = delete;

    const std::string& name() const { return name_; }
    uint32_t inode() const { return inode_; }
    // `argv` run inside the namespace: ip netns exec NAME argv... (same pid).
    std::vector<std::string> exec(const std::vector<std::string>& argv) const;
    // `sh -c script` inside the namespace.
    std::vector<std::string> shell(const std::string& script) const;
    // A sysctl of this namespace, e.g. "net/ipv4/ip_local_reserved_ports".
    std::string read_sysctl(const std::string& path) const;
    void write_sysctl(const std::string& path, const std::string& value) const;
    // Waits until a TCP socket listens on `port` here, 10 s at most.
    [[nodiscard]] ::testing::AssertionResult wait_listening(uint16_t port) const;

    // `nc NC_ARGS` here, its stdin a FIFO in `fifo_dir` kept open, so that
    // once connected it stays connected. With `until_connected`, re-run
    // until it connects: the seed's client loop, held once it meets itself;
    // it ends (its nc with it) when its shell gets SIGTERM.
    std::vector<std::string> held_nc(const std::string& fifo_dir, const std::string& nc_args,
                                     bool until_connected) const;

    // The ends of a veth pair here, named `first` and `second`, up, each
    // with the address `addr`/32: sockets bound to each (SO_BINDTODEVICE)
    // may share that address and a port.
    [[nodiscard]] ::testing::AssertionResult add_twin_devices(const std::string& first, const std::string& second,
                                                              const std::string& addr) const;
    // A python client here that binds to `device` and to addr:port, meets
    // itself there and blocks in recv(): it exits 0 if the socket was
    // destroyed under it (ECONNABORTED), 1 if recv() ended otherwise.
    std::vector<std::string> bound_self_connect(const std::string& device, const std::string& addr,
                                                uint16_t port) const;

private:
    std::string name_;
    uint32_t inode_ = 0;
};

}  // namespace selfconnect::testing
