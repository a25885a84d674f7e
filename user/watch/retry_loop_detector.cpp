#include "watch/retry_loop_detector.h"

namespace selfconnect {

RetryLoopDetector::RetryLoopDetector(uint32_t threshold, double window_seconds)
    : threshold_(threshold), window_ns_(static_cast<uint64_t>(window_seconds * 1e9)), window_seconds_(window_seconds)
{
}

std::optional<Record> RetryLoopDetector::on_refused(const Record& refused)
{
    const uint64_t now = refused.mono_ns;
    forget_stale(now);
    Streak& s = streaks_[Key{refused.netns, refused.owner.comm, refused.port}];
    if (!s.recent.empty() && now - s.recent.back() > window_ns_)
        s = Streak{};  // a quiet window ends a streak
    s.recent.push_back(now);
    ++s.refusals;
    if (s.recent.size() > threshold_)
        s.recent.pop_front();

    const bool loop = s.recent.size() == threshold_ && now - s.recent.front() <= window_ns_;
    const bool already = s.reported_at && now - *s.reported_at < window_ns_;
    if (!loop || already)
        return std::nullopt;
    s.reported_at = now;
    Record r = refused;
    RetryLoopFacts facts;
    facts.refusals = s.refusals;
    facts.window_seconds = window_seconds_;
    r.facts = facts;
    s.warning = r;
    return r;
}

std::vector<Record> RetryLoopDetector::under_way(uint64_t now_ns) const
{
    std::vector<Record> loops;
    for (const auto& [key, s] : streaks_)
        if (s.warning && !s.recent.empty() && now_ns >= s.recent.back() && now_ns - s.recent.back() <= window_ns_)
            loops.push_back(*s.warning);
    return loops;
}

void RetryLoopDetector::forget_stale(uint64_t now)
{
    // Sweep at most once a window, so memory follows the live loops only.
    if (now - last_sweep_ < window_ns_)
        return;
    last_sweep_ = now;
    for (auto it = streaks_.begin(); it != streaks_.end();) {
        if (it->second.recent.empty() || now - it->second.recent.back() > window_ns_)
            it = streaks_.erase(it);
        else
            ++it;
    }
}

}  // namespace selfconnect
