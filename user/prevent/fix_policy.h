// Which findings get a fix, decided once for watch and audit alike.
#pragma once

#include "records/record.h"

namespace selfconnect {

// Is this listener's port worth a fix line, a reservation (--protect,
// --fix) and a pod fix? Not where the kernel chose it (listen() without a
// bind(), bind() to port 0): it changes at every start, so a reservation
// would protect nothing next time and --protect would spend one per
// restart. Unknown (no listener-origin iterator) counts as the user's.
inline bool port_worth_reserving(const Record& r)
{
    const auto* listener = r.if_is<ListenerAtRiskFacts>();
    return !(listener && listener->port_chosen_by_kernel.value_or(false));
}

// Does a record keep its pod fix? Only an owner in a pod: a pod's
// namespace lasts as long as the pod, so its spec is where a fix lasts.
inline bool keeps_pod_fix(const Record& r)
{
    return r.owner.pod_uid.has_value();
}

}  // namespace selfconnect
