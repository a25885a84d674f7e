// Who holds a port: the holder iterator (find_port_holders in
// bpf/selfconnect.bpf.c), attached with the rest while the watcher still
// has its capabilities, read afterwards without any. Used when a bind() or
// listen() failed with EADDRINUSE.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "record.h"

namespace selfconnect {

class Detector;

struct HeldPort {
    PortHolder holder;
    std::string local_addr;
    int state = 0;  // TCP state
};

class PortHolderFinder {
public:
    explicit PortHolderFinder(Detector& detector) : detector_(detector) {}
    // False on a kernel without bpf_sock_from_file (before 5.11).
    bool available() const;
    // Every open TCP socket of namespace `netns` whose local port is `port`.
    std::vector<HeldPort> find(uint32_t netns, uint16_t port);

private:
    Detector& detector_;
};

// The socket that keeps a server from `addr`:`port`: a connected (not
// listening) one whose local address overlaps, self-connected ones first.
std::optional<PortHolder> blocking_holder(const std::vector<HeldPort>& held, const std::string& addr);

}  // namespace selfconnect
