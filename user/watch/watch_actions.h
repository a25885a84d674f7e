// What the event dispatcher may do to the host: destroy a socket, reserve a
// port, ask who holds a port, read the fix for a listener. One seam, so
// the dispatcher's tests fake the host and need neither root nor BPF.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel/connect_guard.h"
#include "kernel/kernel_fold_table.h"
#include "watch/holder_lookups.h"
#include "host/port_set.h"
#include "prevent/port_protector.h"
#include "prevent/socket_killer.h"
#include "records/record.h"
#include "watch/watch_options.h"

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

// The real host.
class HostWatchActions final : public WatchActions {
public:
    explicit HostWatchActions(const WatchOptions& options) : protector_(options.protect_max, options.netns) {}
    void use_holder_lookups(HolderLookups* lookups) { holders_ = lookups; }
    void use_fold_table(int map_fd) { folds_.emplace(map_fd); }
    void use_guard(ConnectGuard* guard) { guard_ = guard; }

    KillResult kill(const Record& self_connect) override { return killer_.destroy(self_connect); }
    std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason) override
    {
        reserved_lists_.erase(netns);  // about to change
        return protector_.protect(netns, port, pid, reason);
    }
    void find_holders(const Record& port_in_use) override
    {
        if (holders_)
            holders_->ask(port_in_use);
    }
    ListenerFix fix_for(const Record& listener) override;
    void reserved_now(uint32_t netns, const PortSet& reserved) override
    {
        reserved_lists_.erase(netns);
        protector_.forget_unless_reserved(netns, reserved);
    }
    FoldTable& fold_table() override;
    std::optional<std::string> guard_namespace(uint32_t netns, uint32_t pid) override;

private:
    // Each namespace's reserved list, read at most once a second: a loop
    // that listens and closes cannot make a thread and a read of /proc
    // per listen.
    struct ReservedList {
        std::chrono::steady_clock::time_point read_at;
        std::optional<PortSet> list;
    };
    std::map<uint32_t, ReservedList> reserved_lists_;
    SocketKiller killer_;
    PortProtector protector_;
    HolderLookups* holders_ = nullptr;
    std::optional<KernelFoldTable> folds_;  // set once the program is loaded
    ConnectGuard* guard_ = nullptr;         // --guard
    // Namespaces the guard could not be attached to, tried again at most
    // once a second: a loop there cannot make a thread and a setns() per
    // record.
    struct GuardFailure {
        std::chrono::steady_clock::time_point at;
        std::string error;
    };
    std::map<uint32_t, GuardFailure> guard_failures_;
};

}  // namespace selfconnect
