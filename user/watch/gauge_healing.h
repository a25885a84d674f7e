// A record lost to a full ring (or to a budget) leaves a gauge of the
// present wrong: the sockets are read again from the kernel, at most every
// ten seconds, for as long as such losses grow. This decides when; the
// watch reads them and hands them to the dispatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

namespace selfconnect {

class GaugeHealing {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    static constexpr auto kEvery = std::chrono::seconds(10);

    explicit GaugeHealing(Clock clock = [] { return std::chrono::steady_clock::now(); })
        : clock_(std::move(clock))
    {
    }
    // `events_lost`: the records lost that the gauges are made of, in all.
    // True when they grew since the last reading and that was long enough
    // ago: the caller reads the sockets again now.
    bool due(uint64_t events_lost);

private:
    Clock clock_;
    uint64_t healed_up_to_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace selfconnect
