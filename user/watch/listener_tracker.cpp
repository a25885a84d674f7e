#include "watch/listener_tracker.h"

#include <algorithm>

namespace selfconnect {

bool ListenerTracker::add(const Record& l)
{
    auto& sockets = listeners_[key_of(l)];
    if (l.socket_inode && sockets.count(l.socket_inode))
        return false;  // the same socket, seen twice
    sockets.insert(l.socket_inode);
    return sockets.size() == 1;
}

void ListenerTracker::closed(const Record& l)
{
    auto it = listeners_.find(key_of(l));
    if (it == listeners_.end())
        return;
    auto& sockets = it->second;
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
    for (auto it = listeners_.begin(); it != listeners_.end();) {
        if (std::get<0>(it->first) == netns && std::get<1>(it->first) == port)
            it = listeners_.erase(it);
        else
            ++it;
    }
}

std::vector<Record> ListenerTracker::resync(const std::vector<Record>& now, const std::vector<uint32_t>& scanned)
{
    std::map<Key, std::multiset<uint32_t>> fresh;
    for (const auto& [key, sockets] : listeners_)
        if (std::find(scanned.begin(), scanned.end(), std::get<0>(key)) == scanned.end())
            fresh.emplace(key, sockets);  // not looked at: as it was
    std::vector<Record> unknown;
    for (const Record& l : now) {
        auto& sockets = fresh[key_of(l)];
        if (sockets.empty() && !listeners_.count(key_of(l)))
            unknown.push_back(l);
        sockets.insert(l.socket_inode);
    }
    listeners_ = std::move(fresh);
    return unknown;
}

}  // namespace selfconnect
