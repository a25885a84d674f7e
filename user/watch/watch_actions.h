// What the event dispatcher may do to the host: destroy a socket, reserve a
// port, look up who holds a port, read the fix for a listener. One seam, so
// the dispatcher's tests fake the host and need neither root nor BPF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/port_holder_finder.h"
#include "prevent/port_protector.h"
#include "prevent/socket_killer.h"
#include "records/record.h"
#include "watch/watch_options.h"

namespace selfconnect {

class WatchActions {
public:
    virtual ~WatchActions() = default;
    // --kill: destroys a self-connected socket.
    virtual KillResult kill(const Record& self_connect) = 0;
    // --protect: the port_reserved record, or nothing if nothing was done.
    virtual std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason) = 0;
    // Every TCP socket on this port of the namespace; none where the kernel
    // cannot tell.
    virtual std::vector<HeldSocket> holders_of(uint32_t netns, uint16_t port) = 0;
    // The command that protects a live listener's port.
    virtual std::string fix_for(const Record& listener) = 0;
};

// The real host.
class HostWatchActions final : public WatchActions {
public:
    explicit HostWatchActions(const WatchOptions& options) : protector_(options.protect_max, options.netns) {}
    // Must be given before the capabilities are dropped: it loads a program.
    void use_holder_finder(PortHolderFinder* finder) { holders_ = finder; }

    KillResult kill(const Record& self_connect) override { return killer_.destroy(self_connect); }
    std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason) override
    {
        return protector_.protect(netns, port, pid, reason);
    }
    std::vector<HeldSocket> holders_of(uint32_t netns, uint16_t port) override
    {
        return holders_ ? holders_->find(netns, port) : std::vector<HeldSocket>{};
    }
    std::string fix_for(const Record& listener) override;

private:
    SocketKiller killer_;
    PortProtector protector_;
    PortHolderFinder* holders_ = nullptr;
};

}  // namespace selfconnect
