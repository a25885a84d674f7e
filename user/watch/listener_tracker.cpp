#include "watch/listener_tracker.h"

#include <algorithm>

namespace selfconnect {

bool ListenerTracker::add(const Record& l)
{
    Listener& listener = listeners_[key_of(l)];
    if (listener.sockets.empty()) {
        listener.first = l;
        listener.reserved = l.reserved;
    }
    if (l.socket_inode && listener.sockets.count(l.socket_inode))
        return false;  // the same socket, seen twice
    listener.sockets.insert(l.socket_inode);
    return listener.sockets.size() == 1 && !listener.reserved;
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
    if (sockets.empty())
        listeners_.erase(it);
}

void ListenerTracker::reserved(uint32_t netns, uint16_t port)
{
    for (auto& [key, listener] : listeners_)
        if (std::get<0>(key) == netns && std::get<1>(key) == port)
            listener.reserved = true;
}

std::vector<Record> ListenerTracker::resync(const std::vector<Record>& now, const std::vector<uint32_t>& scanned)
{
    std::map<Key, Listener> fresh;
    for (const auto& [key, listener] : listeners_)
        if (std::find(scanned.begin(), scanned.end(), std::get<0>(key)) == scanned.end())
            fresh.emplace(key, listener);  // not looked at: as it was
    std::vector<Record> unknown;
    for (const Record& l : now) {
        Listener& listener = fresh[key_of(l)];
        if (listener.sockets.empty()) {
            const auto before = listeners_.find(key_of(l));
            // Known already: as first seen (a rescan after capabilities
            // were dropped may not read its owner), its reservation as now.
            listener.first = before != listeners_.end() ? before->second.first : l;
            listener.reserved = l.reserved;
            const bool was_at_risk = before != listeners_.end() && !before->second.reserved;
            if (!l.reserved && !was_at_risk)
                unknown.push_back(l);
        }
        listener.sockets.insert(l.socket_inode);
    }
    listeners_ = std::move(fresh);
    return unknown;
}

size_t ListenerTracker::at_risk() const
{
    return static_cast<size_t>(
        std::count_if(listeners_.begin(), listeners_.end(), [](const auto& kv) { return !kv.second.reserved; }));
}

void ListenerTracker::each(const std::function<void(const Record&, bool reserved)>& visit) const
{
    for (const auto& [key, listener] : listeners_)
        visit(listener.first, listener.reserved);
}

}  // namespace selfconnect
