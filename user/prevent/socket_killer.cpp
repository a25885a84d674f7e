#include "prevent/socket_killer.h"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

#include "host/netns.h"

namespace selfconnect {

TcpSocket self_connected_socket(const Record& r)
{
    TcpSocket s;
    s.family = r.family;
    inet_pton(r.family, r.addr.c_str(), s.src.data());
    s.dst = s.src;
    s.sport = r.port;
    s.dport = r.port;
    s.bound_ifindex = r.bound_ifindex;
    return s;
}

SockDiag& SocketKiller::diag_for(const Record& r)
{
    for (auto it = recent_.begin(); it != recent_.end(); ++it)
        if (it->first == r.netns) {
            recent_.splice(recent_.begin(), recent_, it);
            return *recent_.front().second;
        }
    UniqueFd ns = open_netns(r.netns, r.owner.pid);
    if (!ns)
        throw std::runtime_error("network namespace " + std::to_string(r.netns) + " is gone");
    recent_.emplace_front(r.netns, std::make_unique<SockDiag>(ns.get()));
    while (recent_.size() > kNamespacesKept)
        recent_.pop_back();
    return *recent_.front().second;
}

KillResult SocketKiller::destroy(const Record& r)
{
    try {
        const int err = diag_for(r).destroy(self_connected_socket(r));
        if (err)
            return {false, strerror(err)};
        return {true, {}};
    } catch (const std::exception& e) {
        return {false, e.what()};
    }
}

}  // namespace selfconnect
