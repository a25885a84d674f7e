// When the listeners are read again after listen()s or closes were lost:
// once per growth of the losses, at most every ten seconds.
#include <gtest/gtest.h>

#include "watch/gauge_healing.h"

using namespace selfconnect;

namespace {
struct FakeClock {
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    GaugeHealing::Clock clock()
    {
        return [this] { return now; };
    }
};
}  // namespace

TEST(GaugeHealing, NothingLostNothingRead)
{
    FakeClock t;
    GaugeHealing healing(t.clock());
    EXPECT_FALSE(healing.due(0));
    t.now += std::chrono::minutes(5);
    EXPECT_FALSE(healing.due(0));
}

TEST(GaugeHealing, TheFirstLossIsHealedAtOnceAndOnlyOnce)
{
    FakeClock t;
    GaugeHealing healing(t.clock());
    EXPECT_TRUE(healing.due(3));
    t.now += std::chrono::minutes(5);
    EXPECT_FALSE(healing.due(3)) << "nothing more was lost";
}

TEST(GaugeHealing, GrowingLossesAreHealedAtMostEveryTenSeconds)
{
    FakeClock t;
    GaugeHealing healing(t.clock());
    ASSERT_TRUE(healing.due(1));
    t.now += std::chrono::seconds(9);
    EXPECT_FALSE(healing.due(2)) << "a loop of lost listens cannot make a scan each poll";
    t.now += std::chrono::seconds(1);
    EXPECT_TRUE(healing.due(2));
    t.now += std::chrono::seconds(10);
    EXPECT_TRUE(healing.due(7));
    EXPECT_FALSE(healing.due(8));
}
