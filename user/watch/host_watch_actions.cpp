#include "watch/host_watch_actions.h"

#include "prevent/reserved_ports.h"

namespace selfconnect {

namespace {

// Before the program is loaded (or in a test), nothing is folded.
class NoFolds final : public FoldTable {
public:
    std::optional<sc_fold> read(const sc_command_port&) override { return std::nullopt; }
    void forget(const sc_command_port&) override {}
};

}  // namespace

FoldTable& HostWatchActions::fold_table()
{
    static NoFolds none;
    return folds_ ? static_cast<FoldTable&>(*folds_) : none;
}

std::optional<std::string> HostWatchActions::guard_namespace(uint32_t netns, uint32_t pid)
{
    if (!guard_)
        return "the guard is not running";
    // A namespace that could not be guarded is tried again at most once a
    // second; one that was is attached again at each record (an inode the
    // kernel gave a new namespace must not pass for the old one's).
    const auto now = std::chrono::steady_clock::now();
    auto it = guard_failures_.find(netns);
    if (it != guard_failures_.end() && now - it->second.at < std::chrono::seconds(1))
        return it->second.error;
    if (guard_failures_.size() >= 1024)
        guard_failures_.clear();  // namespaces come and go; a second's memory is all this is
    auto error = guard_->cover(netns, pid);
    if (error)
        guard_failures_.insert_or_assign(netns, GuardFailure{now, *error});
    else
        guard_failures_.erase(netns);
    return error;
}

ListenerFix HostWatchActions::fix_for(const Record& listener)
{
    const auto now = std::chrono::steady_clock::now();
    auto it = reserved_lists_.find(listener.netns);
    if (it == reserved_lists_.end() || now - it->second.read_at >= std::chrono::seconds(1)) {
        if (reserved_lists_.size() >= 1024)
            reserved_lists_.clear();  // namespaces come and go; a second's cache is all this is
        it = reserved_lists_.insert_or_assign(listener.netns, ReservedList{now, readable_reserved_ports(listener)}).first;
    }
    const std::optional<PortSet>& list = it->second.list;
    return {live_fix_command(listener, list), pod_spec_sysctl(with_listener_port(listener, list))};
}

}  // namespace selfconnect
