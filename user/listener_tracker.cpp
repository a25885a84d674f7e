#include "listener_tracker.h"

#include "netns.h"
#include "port_reserver.h"
#include "privileges.h"

namespace selfconnect {

bool ListenerTracker::add(const Record& l)
{
    return ++listeners_[Key{l.netns, l.port, l.addr}] == 1;
}

void ListenerTracker::closed(const Record& l)
{
    auto it = listeners_.find(Key{l.netns, l.port, l.addr});
    if (it != listeners_.end() && --it->second <= 0)
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

std::string live_fix_line(const Record& listener)
{
    const bool here = listener.netns == current_netns_inode();
    // Another namespace is entered only with the capability to do so.
    UniqueFd fd = here || may_administer_system() ? open_netns(listener.netns, listener.owner.pid) : UniqueFd();
    if (fd) {
        if (auto list = read_reserved_ports(fd.get())) {
            list->set(listener.port);
            const std::string cmd = "sysctl -w net.ipv4.ip_local_reserved_ports=" + format_port_list(*list);
            return here ? cmd : "nsenter --net=/proc/" + std::to_string(listener.owner.pid) + "/ns/net " + cmd;
        }
    }
    return "selfconnect audit --fix --netns " + std::to_string(listener.netns);
}

}  // namespace selfconnect
