#include "watch/self_connect_lifetimes.h"

namespace selfconnect {

void SelfConnectLifetimes::on_established(const Record& r) { open_.insert_or_assign(key_of(r), Open{r.mono_ns, r}); }

void SelfConnectLifetimes::on_existing(const Record& r) { open_.emplace(key_of(r), Open{0, r}); }

std::optional<double> SelfConnectLifetimes::on_closed(const Record& r)
{
    auto it = open_.find(key_of(r));
    if (it == open_.end())
        return std::nullopt;
    const uint64_t at = it->second.established_at;
    open_.erase(it);
    if (at == 0)
        return std::nullopt;
    return r.mono_ns >= at ? static_cast<double>(r.mono_ns - at) / 1e9 : 0.0;
}

}  // namespace selfconnect
