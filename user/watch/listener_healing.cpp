#include "watch/listener_healing.h"

namespace selfconnect {

bool ListenerHealing::due(uint64_t listener_events_lost)
{
    const auto now = clock_();
    if (listener_events_lost <= healed_up_to_ || now - last_ < kEvery)
        return false;
    healed_up_to_ = listener_events_lost;
    last_ = now;
    return true;
}

}  // namespace selfconnect
