#include "watch/self_connect_lifetimes.h"

namespace selfconnect {

void SelfConnectLifetimes::on_established(const Record& r) { established_at_[key_of(r)] = r.mono_ns; }

void SelfConnectLifetimes::on_existing(const Record& r) { established_at_.emplace(key_of(r), 0); }

std::optional<double> SelfConnectLifetimes::on_closed(const Record& r)
{
    auto it = established_at_.find(key_of(r));
    if (it == established_at_.end())
        return std::nullopt;
    if (it->second == 0) {
        established_at_.erase(it);
        return std::nullopt;
    }
    const double seconds = r.mono_ns >= it->second ? static_cast<double>(r.mono_ns - it->second) / 1e9 : 0.0;
    established_at_.erase(it);
    return seconds;
}

}  // namespace selfconnect
