// The real host behind WatchActions: the socket killer, --protect's
// reservations, the holder lookups' thread, the kernel's fold table and
// the guard, each set once the watch has them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "host/port_set.h"
#include "kernel/connect_guard.h"
#include "kernel/kernel_fold_table.h"
#include "prevent/port_protector.h"
#include "prevent/socket_killer.h"
#include "records/record.h"
#include "watch/holder_lookups.h"
#include "watch/watch_actions.h"
#include "watch/watch_options.h"

namespace selfconnect {

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
    // The kernel's table, as the folds ask it.
    class KernelFolds final : public FoldTable {
    public:
        explicit KernelFolds(int map_fd) : table_(map_fd) {}
        std::optional<sc_fold> read(const sc_command_port& key) override { return table_.read(key); }
        void forget(const sc_command_port& key) override { table_.forget(key); }

    private:
        KernelFoldTable table_;
    };
    std::optional<KernelFolds> folds_;  // set once the program is loaded
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
