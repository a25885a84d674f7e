#include "watch/self_connect_folds.h"

#include <algorithm>
#include <cstring>

namespace selfconnect {

sc_command_port SelfConnectFolds::key_of(const Record& r)
{
    sc_command_port key{};
    key.netns = r.netns;
    key.uid = r.owner.uid;
    key.port = r.port;
    key.family = r.family;
    std::memcpy(key.comm, r.owner.comm.data(), std::min(r.owner.comm.size(), sizeof(key.comm)));
    return key;
}

std::string SelfConnectFolds::bytes_of(const sc_command_port& key)
{
    return std::string(reinterpret_cast<const char*>(&key), sizeof(key));
}

void SelfConnectFolds::written(const Record& r)
{
    if (!r.owner.known)
        return;
    const sc_command_port key = key_of(r);
    auto [it, made] = folds_.try_emplace(bytes_of(key));
    Fold& f = it->second;
    if (made)
        f.key = key;
    f.last = r;
    f.active_ns = std::max(f.active_ns, r.mono_ns);
    if (!f.pending)
        f.since_ns = r.mono_ns;
    if (!f.check_at_ns)
        f.check_at_ns = r.mono_ns + kQuietNs;
}

void SelfConnectFolds::read(FoldTable& table, Fold& f)
{
    const std::optional<sc_fold> now = table.read(f.key);
    if (!now)
        return;  // forgotten by a full table: what it held is in the metric only
    // Another entry than last read: the kernel forgot the key and began again.
    const bool same_entry = now->made_ns == f.made_ns && now->folded >= f.read_through;
    const uint64_t folded = same_entry ? now->folded - f.read_through : now->folded;
    f.read_through = now->folded;
    f.made_ns = now->made_ns;
    if (!folded)
        return;
    f.pending += folded;
    f.last_folded_ns = now->last_folded_ns;
    f.active_ns = std::max<uint64_t>(f.active_ns, now->last_folded_ns);
}

Record SelfConnectFolds::repeats_of(Fold& f)
{
    Record r = f.last;
    r.mono_ns = std::max(f.last_folded_ns, f.since_ns);
    SelfConnectRepeatsFacts repeats;
    repeats.repeats = f.pending;
    repeats.since_mono_ns = f.since_ns;
    repeats.span_seconds = static_cast<double>(r.mono_ns - f.since_ns) / 1e9;
    r.facts = repeats;
    f.pending = 0;
    f.since_ns = r.mono_ns;
    return r;
}

std::vector<Record> SelfConnectFolds::due(FoldTable& table, uint64_t now_ns, bool final)
{
    std::vector<Record> out;
    if (!final && now_ns < next_check_ns_)
        return out;
    next_check_ns_ = now_ns + kEveryCheckNs;
    for (auto it = folds_.begin(); it != folds_.end();) {
        Fold& f = it->second;
        if (final || (f.check_at_ns && f.check_at_ns <= now_ns)) {
            read(table, f);
            const bool quiet = now_ns >= std::max(f.last_folded_ns, f.last.mono_ns) + kQuietNs;
            if (f.pending && (final || quiet || now_ns - f.since_ns >= kEveryNs))
                out.push_back(repeats_of(f));
            // Read again while the loop goes on; else only after a record.
            f.check_at_ns = (f.pending || !quiet) ? now_ns + kQuietNs : 0;
        }
        if (!f.check_at_ns && !f.pending && now_ns >= f.active_ns + kForgetAfterNs) {
            table.forget(f.key);
            it = folds_.erase(it);
        } else {
            ++it;
        }
    }
    make_room(table, out);
    return out;
}

// Past kMaxTracked keys (a user cycling through ports and names), the ones
// idle longest are read, written and forgotten.
void SelfConnectFolds::make_room(FoldTable& table, std::vector<Record>& out)
{
    if (folds_.size() <= kMaxTracked)
        return;
    std::vector<std::map<std::string, Fold>::iterator> by_age;
    by_age.reserve(folds_.size());
    for (auto it = folds_.begin(); it != folds_.end(); ++it)
        by_age.push_back(it);
    const size_t drop = folds_.size() - kMaxTracked + kMaxTracked / 10;
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(drop - 1), by_age.end(),
                     [](const auto& a, const auto& b) { return a->second.active_ns < b->second.active_ns; });
    for (size_t i = 0; i < drop; ++i) {
        Fold& f = by_age[i]->second;
        read(table, f);
        if (f.pending)
            out.push_back(repeats_of(f));
        table.forget(f.key);
        folds_.erase(by_age[i]);
    }
}

}  // namespace selfconnect
