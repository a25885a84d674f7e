#include "watch/self_connect_lifetimes.h"

#include <algorithm>
#include <set>

namespace selfconnect {

// The entry a close of `r`'s socket takes out: the one at its key, or,
// if none is there, one at its address and port under another device. A
// socket may be bound to another device, or to one, after its record
// (SO_BINDTODEVICE works on a connected socket; from unbound to bound it
// needs no privilege), and its close then carries a device no entry has.
// Taking another entry at its address keeps the count right: there are
// never more entries at an address than sockets open there, and each
// close takes out one while any is left, so none outlives the sockets.
// Only which device a remaining entry names may be wrong, until it closes.
std::map<SelfConnectLifetimes::Key, SelfConnectLifetimes::Open>::iterator SelfConnectLifetimes::entry_of(
    std::map<Key, Open>& in, const Record& r)
{
    if (const auto exact = in.find(key_of(r)); exact != in.end())
        return exact;
    const auto first = in.lower_bound(Key{r.netns, r.family, r.addr, r.port, 0});
    const bool same_address = first != in.end() && std::get<0>(first->first) == r.netns &&
                              std::get<1>(first->first) == r.family && std::get<2>(first->first) == r.addr &&
                              std::get<3>(first->first) == r.port;
    return same_address ? first : in.end();
}

void SelfConnectLifetimes::on_established(const Record& r)
{
    // Another socket at that address now: the one closed unseen has gone.
    closed_unseen_.erase(key_of(r));
    const auto early = closed_before_seen_.find(key_of(r));
    if (early != closed_before_seen_.end()) {
        const bool closed_already = r.mono_ns <= early->second;
        closed_before_seen_.erase(early);
        if (closed_already)
            return;  // its close came first, kept by the kernel
    }
    open_.insert_or_assign(key_of(r), Open{r.mono_ns, r});
}

void SelfConnectLifetimes::on_existing(const Record& r) { open_.emplace(key_of(r), Open{0, r}); }

std::optional<double> SelfConnectLifetimes::on_closed(const Record& r)
{
    // Open, or closed unseen at the last rescan with its close on its way.
    for (std::map<Key, Open>* in : {&open_, &closed_unseen_}) {
        const auto it = entry_of(*in, r);
        if (it == in->end())
            continue;
        const uint64_t at = it->second.established_at;
        in->erase(it);
        if (at == 0)
            return std::nullopt;
        return r.mono_ns >= at ? static_cast<double>(r.mono_ns - at) / 1e9 : 0.0;
    }
    return std::nullopt;
}

void SelfConnectLifetimes::name_close(Record& r)
{
    const auto it = entry_of(open_, r);
    if (it != open_.end() && it->second.record.owner.known)
        r.owner = it->second.record.owner;
}

void SelfConnectLifetimes::on_close_not_written(const Record& r)
{
    bool known = false;
    for (std::map<Key, Open>* in : {&open_, &closed_unseen_}) {
        const auto it = entry_of(*in, r);
        if (it == in->end())
            continue;
        known = true;
        if (it->second.established_at <= r.mono_ns)
            in->erase(it);
    }
    if (!known) {
        uint64_t& closed_at = closed_before_seen_[key_of(r)];
        closed_at = std::max(closed_at, r.mono_ns);
    }
}

void SelfConnectLifetimes::forget_kept_closes_before(uint64_t mono_ns)
{
    std::erase_if(closed_before_seen_, [&](const auto& kept) { return kept.second < mono_ns; });
}

void SelfConnectLifetimes::resync(const std::vector<Record>& now, const std::function<bool(uint32_t netns)>& fully_read)
{
    std::set<Key> found;
    for (const Record& r : now)
        found.insert(key_of(r));
    // A close still on its way at the last rescan has come by now.
    closed_unseen_.clear();
    for (auto it = open_.begin(); it != open_.end();) {
        const bool gone = fully_read(std::get<0>(it->first)) && !found.count(it->first);
        if (gone)
            closed_unseen_.insert(open_.extract(it++));
        else
            ++it;
    }
}

}  // namespace selfconnect
