// What the event dispatcher may do to the host: destroy a socket, reserve a
// port, ask who holds a port, read the fix for a listener. One seam, so
// the dispatcher's tests fake the host and need neither root nor BPF, and
// the dispatcher knows no kernel: the real host is HostWatchActions
// (watch/host_watch_actions.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host/port_set.h"
#include "prevent/socket_killer.h"
#include "records/record.h"
#include "watch/fold_table.h"

namespace selfconnect {

struct ListenerFix {
    std::string command;
    std::string pod_spec;
};

class WatchActions {
public:
    virtual ~WatchActions() = default;
    // --kill: destroys a self-connected socket.
    virtual KillResult kill(const Record& self_connect) = 0;
    // --protect: the port_reserved record, or nothing if nothing was done.
    virtual std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason) = 0;
    // Asks who holds the port a bind() or listen() was refused; the answer
    // comes later, to EventDispatcher::on_holders (never, where the kernel
    // cannot tell).
    virtual void find_holders(const Record& port_in_use) = 0;
    // The command that protects a live listener's port, and the same list
    // as pod-spec lines (kept only for a listener in a pod).
    virtual ListenerFix fix_for(const Record& listener) = 0;
    // A namespace's reserved ports as they now read, after someone changed
    // them: what --protect reserved and was taken out is reserved again
    // when next asked.
    virtual void reserved_now(uint32_t netns, const PortSet& reserved) = 0;
    // The kernel's folded self-connects (see SelfConnectFolds).
    virtual FoldTable& fold_table() = 0;
    // --guard: no guard saw a connect of namespace `netns` (made by `pid`):
    // attach it there. Nothing if it is on now, else why not.
    virtual std::optional<std::string> guard_namespace(uint32_t netns, uint32_t pid) = 0;
};

}  // namespace selfconnect
