#include "prevent/socket_killer.h"

#include <arpa/inet.h>

#include <cstring>

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
    return s;
}

KillResult SocketKiller::destroy(const Record& r)
{
    try {
        auto it = by_netns_.find(r.netns);
        if (it == by_netns_.end()) {
            UniqueFd ns = open_netns(r.netns, r.owner.pid);
            if (!ns)
                return {false, "network namespace " + std::to_string(r.netns) + " is gone"};
            it = by_netns_.emplace(r.netns, std::make_unique<SockDiag>(ns.get())).first;
        }
        const int err = it->second->destroy(self_connected_socket(r));
        if (err)
            return {false, strerror(err)};
        return {true, {}};
    } catch (const std::exception& e) {
        return {false, e.what()};
    }
}

}  // namespace selfconnect
