// How a test waits: for a condition, never for a time. A sleep long enough
// on an idle machine is too short on a loaded one, and a loop that gives
// up quietly lets the test go on as if the condition held. wait_for polls
// the condition and, if it never holds, fails with what was awaited and
// what was seen last, so that a timeout says why.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

namespace selfconnect::testing {

// One look at the awaited condition: whether it holds, and what was seen,
// for the message if it never does.
struct Sighting {
    bool holds = false;
    std::string saw;
};

// The pause between two looks starts short, so that a condition about to
// hold costs the test little, and doubles up to a tenth of a second, so
// that a long wait whose probe runs a command (ss, curl) does not take the
// CPU from what it waits for: this machine is shared.
inline constexpr std::chrono::milliseconds kFirstPause{10};
inline constexpr std::chrono::milliseconds kLongestPause{100};

// Looks at once, then again after each pause, until `probe` says the
// condition holds, for `limit` at most. `probe` returns a Sighting, or a
// bool when there is nothing worth saying about what it saw. On timeout the
// result fails with "waited N ms for WHAT; last seen: ...": ASSERT or
// EXPECT it.
template <class Probe>
[[nodiscard]] ::testing::AssertionResult wait_for(std::string_view what, std::chrono::milliseconds limit,
                                                  Probe&& probe)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (auto pause = kFirstPause;; pause = std::min(2 * pause, kLongestPause)) {
        Sighting seen;
        if constexpr (std::is_same_v<std::invoke_result_t<Probe&>, bool>)
            seen = {probe(), "not yet"};
        else
            seen = probe();
        if (seen.holds)
            return ::testing::AssertionSuccess();
        if (std::chrono::steady_clock::now() >= deadline)
            return ::testing::AssertionFailure() << "waited " << limit.count() << " ms for " << what
                                                 << "; last seen: " << seen.saw;
        std::this_thread::sleep_for(pause);
    }
}

}  // namespace selfconnect::testing
