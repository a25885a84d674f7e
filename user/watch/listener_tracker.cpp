#include "watch/listener_tracker.h"

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

}  // namespace selfconnect
