#include "watch/policy_watch.h"

#include <fcntl.h>

#include <algorithm>

#include "host/netns.h"
#include "host/unique_fd.h"

namespace selfconnect {

namespace {
constexpr auto kReadEvery = std::chrono::seconds(2);
constexpr auto kListEvery = std::chrono::seconds(30);
constexpr auto kRescanEvery = std::chrono::seconds(10);
}  // namespace

PolicyWatch::PolicyWatch(std::vector<uint32_t> only_netns, PortOrigin origin, bool may_enter_others)
    : only_(std::move(only_netns)), origin_(std::move(origin)), may_enter_others_(may_enter_others)
{
    list_namespaces();
    last_ = read_all();
    read_at_ = std::chrono::steady_clock::now();
}

void PolicyWatch::list_namespaces()
{
    const uint32_t own = current_netns_inode();
    paths_.clear();
    for (const auto& [inode, ns] : list_network_namespaces())
        if (netns_selected(only_, inode) && (may_enter_others_ || inode == own))
            // Our own through our own link: another process's may not be
            // opened once the capabilities are dropped.
            paths_.emplace(inode, inode == own ? "/proc/self/ns/net" : ns.path);
    listed_at_ = std::chrono::steady_clock::now();
}

std::map<uint32_t, PortPolicy> PolicyWatch::read_all()
{
    std::map<uint32_t, PortPolicy> now;
    for (const auto& [inode, path] : paths_) {
        // Opened again each time, so that no namespace is kept alive by us;
        // a path now naming another namespace is passed over.
        UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd || netns_inode_of(fd.get()) != inode)
            continue;
        try {
            now.emplace(inode, read_port_policy(fd.get()));
        } catch (const std::exception&) {
            // gone, or no longer enterable: not judged this time
        }
    }
    return now;
}

void PolicyWatch::after(EventDispatcher& dispatcher)
{
    const auto now = std::chrono::steady_clock::now();
    if (now - read_at_ < kReadEvery)
        return;
    read_at_ = now;
    if (now - listed_at_ >= kListEvery)
        list_namespaces();
    std::map<uint32_t, PortPolicy> current = read_all();
    std::vector<uint32_t> changed;
    std::map<uint32_t, PortSet> reserved_now;
    for (auto& [inode, policy] : current) {
        auto before = last_.find(inode);
        if (before == last_.end() || before->second == policy)
            continue;  // new to us (its listeners are reported as they start), or as it was
        // A namespace whose owner changes its sysctls in a loop (any user
        // may, in a namespace of its own) is scanned at most every
        // kRescanEvery: until then its old policy is kept, so the change is
        // still seen once that time has passed.
        auto scanned = scanned_at_.find(inode);
        if (scanned != scanned_at_.end() && now - scanned->second < kRescanEvery) {
            policy = before->second;
            continue;
        }
        scanned_at_[inode] = now;
        changed.push_back(inode);
        reserved_now.emplace(inode, policy.reserved);
    }
    last_ = std::move(current);
    if (changed.empty())
        return;
    const ScanResult scan = scan_now(changed, origin_);
    dispatcher.policies_changed(reserved_now, scan.records, scan.namespaces);
    // What --protect just reserved is no change of someone else's: read
    // again at once, so that the next read compares with the list as it now
    // is (only a write of someone else's within this instant is taken in).
    for (const auto& [inode, policy] : read_all())
        if (std::find(changed.begin(), changed.end(), inode) != changed.end())
            last_[inode] = policy;
}

}  // namespace selfconnect
