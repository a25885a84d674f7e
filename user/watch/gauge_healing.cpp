#include "watch/gauge_healing.h"

namespace selfconnect {

bool GaugeHealing::due(uint64_t events_lost)
{
    const auto now = clock_();
    if (events_lost <= healed_up_to_ || now - last_ < kEvery)
        return false;
    healed_up_to_ = events_lost;
    last_ = now;
    return true;
}

}  // namespace selfconnect
