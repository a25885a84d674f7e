// A listen() or a listener's close lost to a full ring leaves the
// listeners-at-risk gauge wrong: the listeners are read again from the
// kernel, at most every ten seconds, for as long as such losses grow. This
// decides when; the watch reads them and hands them to the dispatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace selfconnect {

class ListenerHealing {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    static constexpr auto kEvery = std::chrono::seconds(10);

    explicit ListenerHealing(Clock clock = [] { return std::chrono::steady_clock::now(); })
        : clock_(std::move(clock))
    {
    }
    // `listener_events_lost`: listen()s and listeners' closes lost, in all.
    // True when they grew since the last reading and that was long enough
    // ago: the caller reads the listeners again now.
    bool due(uint64_t listener_events_lost);

private:
    Clock clock_;
    uint64_t healed_up_to_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace selfconnect
