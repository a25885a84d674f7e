// "Was a record for this key written within the window?": a server in a
// crash loop, or a user looping on one call, makes one record a window,
// not one a loop. Times are the kernel's monotonic nanoseconds.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>

namespace selfconnect {

template <typename Key>
class RecordWindow {
public:
    explicit RecordWindow(uint64_t window_ns) : window_ns_(window_ns) {}

    // True if `key` was written less than the window before `now`;
    // otherwise remembers `now` as its last write and returns false.
    bool written_lately(const Key& key, uint64_t now)
    {
        if (written_.size() > kSweepAbove)
            std::erase_if(written_, [&](const auto& e) { return now - e.second >= window_ns_; });
        auto [it, first] = written_.try_emplace(key, now);
        if (!first && now - it->second < window_ns_)
            return true;
        it->second = now;
        return false;
    }

private:
    static constexpr size_t kSweepAbove = 4096;
    uint64_t window_ns_;
    std::map<Key, uint64_t> written_;
};

}  // namespace selfconnect
