// The tests' one way to wait: it returns as soon as the condition holds,
// and a condition that never holds fails, saying what was awaited and what
// was seen last, instead of passing in silence.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "wait_for.h"

using namespace selfconnect::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(WaitFor, AConditionThatAlreadyHoldsIsLookedAtOnceAndNotWaitedFor)
{
    int looks = 0;
    const auto began = Clock::now();
    const ::testing::AssertionResult r = wait_for("the test's own condition", 10s, [&] {
        ++looks;
        return Sighting{true, "it"};
    });
    EXPECT_TRUE(r) << r.message();
    EXPECT_EQ(looks, 1);
    EXPECT_LT(Clock::now() - began, kFirstPause);
}

TEST(WaitFor, AConditionThatComesTrueEndsTheWaitThere)
{
    int looks = 0;
    EXPECT_TRUE(wait_for("the third look", 10s, [&] { return ++looks == 3; }));
    EXPECT_EQ(looks, 3);
}

TEST(WaitFor, AConditionThatNeverHoldsFailsWithWhatWasAwaitedAndTheLastSighting)
{
    int looks = 0;
    const auto began = Clock::now();
    const ::testing::AssertionResult r = wait_for("the counter to reach a million", 100ms, [&] {
        ++looks;
        return Sighting{false, "the counter at " + std::to_string(looks)};
    });
    EXPECT_FALSE(r);
    EXPECT_GE(Clock::now() - began, 100ms);
    EXPECT_GT(looks, 1) << "it looked only once";
    const std::string message = r.message();
    EXPECT_NE(message.find("the counter to reach a million"), std::string::npos) << message;
    EXPECT_NE(message.find("waited 100 ms"), std::string::npos) << message;
    // The last look's, not the first's.
    EXPECT_NE(message.find("last seen: the counter at " + std::to_string(looks)), std::string::npos) << message;
}

// A probe may run a command: a long wait must not run it a hundred times a
// second. Pauses of 10, 20, 40, 80, then 100 ms: about nine looks in 500 ms.
TEST(WaitFor, ALongWaitLooksLessOftenAsItGoesOn)
{
    int looks = 0;
    EXPECT_FALSE(wait_for("never", 500ms, [&] {
        ++looks;
        return false;
    }));
    EXPECT_GE(looks, 4);
    EXPECT_LE(looks, 12);
}

TEST(WaitFor, ABoolProbeThatNeverHoldsStillNamesWhatWasAwaited)
{
    const ::testing::AssertionResult r = wait_for("nothing", 30ms, [] { return false; });
    EXPECT_FALSE(r);
    EXPECT_NE(std::string(r.message()).find("waited 30 ms for nothing; last seen: not yet"), std::string::npos)
        << r.message();
}

// The failure reaches gtest as one when ASSERTed, as the tests do.
TEST(WaitFor, ATimeoutAssertedIsATestFailure)
{
    EXPECT_FATAL_FAILURE(
        {
            ASSERT_TRUE(::selfconnect::testing::wait_for("a file that never appears", 20ms, [] {
                return ::selfconnect::testing::Sighting{false, "no file"};
            }));
        },
        "waited 20 ms for a file that never appears; last seen: no file");
}
