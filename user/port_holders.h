// Who holds a port: the holder iterator (bpf/holder.bpf.c), loaded and
// attached while the watcher still has its capabilities, read afterwards
// without any. Used when a bind() or listen() failed with EADDRINUSE.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "record.h"

struct holder_bpf;
struct bpf_link;

namespace selfconnect {

struct HeldPort {
    PortHolder holder;
    uint16_t family = 0;
    std::string local_addr;
    int state = 0;  // TCP state
};

class PortHolderFinder {
public:
    // Never throws: a kernel without task_file iterators or
    // bpf_sock_from_file (5.11) leaves it unavailable, with the reason.
    PortHolderFinder();
    ~PortHolderFinder();
    PortHolderFinder(const PortHolderFinder&) = delete;
    PortHolderFinder& operator=(const PortHolderFinder&) = delete;

    bool available() const { return link_ != nullptr; }
    const std::string& unavailable_reason() const { return reason_; }
    // Every open TCP socket of namespace `netns` whose local port is `port`.
    std::vector<HeldPort> find(uint32_t netns, uint16_t port);

private:
    holder_bpf* skel_ = nullptr;
    bpf_link* link_ = nullptr;
    std::string reason_;
};

// The socket that keeps a server from `addr`:`port`: a connected (not
// listening) one whose local address overlaps, self-connected ones first.
std::optional<PortHolder> blocking_holder(const std::vector<HeldPort>& held, uint16_t family,
                                          const std::string& addr);

}  // namespace selfconnect
