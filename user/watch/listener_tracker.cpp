#include "watch/listener_tracker.h"

#include <algorithm>

namespace selfconnect {

Record ListenerTracker::kept(const Record& r)
{
    Record k = r;
    if (auto* listener = k.if_is<ListenerAtRiskFacts>()) {
        listener->fix.reset();
        listener->pod_fix.reset();
    }
    return k;
}

bool ListenerTracker::add(const Record& l)
{
    auto [it, is_new] = listeners_.try_emplace(key_of(l));
    Listener& listener = it->second;
    const bool was_at_risk = !is_new && !listener.reserved;
    if (l.socket_inode && listener.sockets.count(l.socket_inode))
        return false;  // the same socket, seen twice
    listener.sockets.emplace(l.socket_inode, kept(l));
    // The kernel says, for each socket, whether the port is reserved now.
    listener.reserved = l.reserved;
    at_risk_ += !listener.reserved && !was_at_risk;
    at_risk_ -= listener.reserved && was_at_risk;
    return !listener.reserved && !was_at_risk;
}

void ListenerTracker::closed(const Record& l)
{
    auto it = listeners_.find(key_of(l));
    if (it == listeners_.end())
        return;
    auto& sockets = it->second.sockets;
    auto socket = sockets.find(l.socket_inode);
    if (socket == sockets.end())
        socket = sockets.find(0);  // one seen without its inode
    if (socket == sockets.end() && !l.socket_inode)
        socket = sockets.begin();
    if (socket != sockets.end())
        sockets.erase(socket);
    if (sockets.empty()) {
        at_risk_ -= !it->second.reserved;
        listeners_.erase(it);
    }
}

void ListenerTracker::reserved(uint32_t netns, uint16_t port)
{
    for (auto& [key, listener] : listeners_)
        if (std::get<0>(key) == netns && std::get<1>(key) == port)
            listener.reserved = true;
    count();
}

std::vector<Record> ListenerTracker::resync(const std::vector<Record>& now, const std::vector<uint32_t>& scanned,
                                            const std::function<bool(uint32_t)>& holds_no_socket)
{
    std::map<Key, Listener> fresh;
    for (auto& [key, listener] : listeners_) {
        const uint32_t netns = std::get<0>(key);
        if (std::find(scanned.begin(), scanned.end(), netns) == scanned.end() && !(holds_no_socket && holds_no_socket(netns)))
            fresh.emplace(key, std::move(listener));  // not looked at: as it was
    }
    std::vector<Record> unknown;
    for (const Record& l : now) {
        Listener& listener = fresh[key_of(l)];
        const auto before = listeners_.find(key_of(l));
        if (listener.sockets.empty()) {
            listener.reserved = l.reserved;
            const bool was_at_risk = before != listeners_.end() && !before->second.reserved;
            if (!l.reserved && !was_at_risk)
                unknown.push_back(l);
        }
        // A socket known already keeps the record it was seen by: a rescan
        // after capabilities were dropped may not read its owner.
        const Record* seen = nullptr;
        if (before != listeners_.end() && l.socket_inode)
            if (auto s = before->second.sockets.find(l.socket_inode); s != before->second.sockets.end())
                seen = &s->second;
        Record socket = seen ? *seen : kept(l);
        socket.reserved = l.reserved;
        listener.sockets.emplace(l.socket_inode, std::move(socket));
    }
    listeners_ = std::move(fresh);
    count();
    return unknown;
}

void ListenerTracker::count()
{
    at_risk_ = static_cast<size_t>(
        std::count_if(listeners_.begin(), listeners_.end(), [](const auto& kv) { return !kv.second.reserved; }));
}

void ListenerTracker::each(const std::function<void(const Record&, bool reserved)>& visit) const
{
    for (const auto& [key, listener] : listeners_)
        visit(listener.sockets.begin()->second, listener.reserved);
}

}  // namespace selfconnect
