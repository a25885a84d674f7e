#include <gtest/gtest.h>

#include "watch/retry_loop_detector.h"
#include "watch/self_connect_lifetimes.h"

using namespace selfconnect;

namespace {

Record refusal(uint64_t at_ms, const std::string& comm = "nc", uint16_t port = 44600, uint32_t pid = 1)
{
    Record r;
    r.facts = ConnectRefusedFacts{};
    r.mono_ns = at_ms * 1'000'000ULL;
    r.owner.known = true;
    r.owner.comm = comm;
    r.owner.pid = pid;
    r.netns = 1;
    r.port = port;
    return r;
}

}  // namespace

TEST(RetryLoops, AClientRefusedOftenEnoughWithinTheWindowIsReportedOnce)
{
    RetryLoopDetector d(3, 10.0);
    EXPECT_FALSE(d.on_refused(refusal(0, "nc", 44600, 100)));
    EXPECT_FALSE(d.on_refused(refusal(10, "nc", 44600, 101)));  // a new nc each time
    auto loop = d.on_refused(refusal(20, "nc", 44600, 102));
    ASSERT_TRUE(loop);
    EXPECT_EQ(loop->type(), RecordType::RetryLoop);
    EXPECT_EQ(loop->as<RetryLoopFacts>().refusals, 3u);
    EXPECT_EQ(loop->owner.pid, 102u);
    uint64_t t = 20;
    uint64_t seen = 3;
    while ((t += 100) < 10'020) {  // the loop goes on: at most once per window
        EXPECT_FALSE(d.on_refused(refusal(t, "nc")));
        ++seen;
    }
    auto again = d.on_refused(refusal(t, "nc"));
    ASSERT_TRUE(again);  // the next window
    EXPECT_EQ(again->as<RetryLoopFacts>().refusals, seen + 1);
}

TEST(RetryLoops, SlowOrScatteredRefusalsAreNotALoop)
{
    RetryLoopDetector d(3, 1.0);
    EXPECT_FALSE(d.on_refused(refusal(0)));
    EXPECT_FALSE(d.on_refused(refusal(1500)));
    EXPECT_FALSE(d.on_refused(refusal(3000)));
    // different ports or processes do not add up
    EXPECT_FALSE(d.on_refused(refusal(3001, "nc", 1)));
    EXPECT_FALSE(d.on_refused(refusal(3002, "curl")));
}

TEST(SelfConnectLifetime, IsTheTimeFromEstablishedToClosed)
{
    SelfConnectLifetimes l;
    Record up = refusal(1000);
    up.addr = "127.0.0.1";
    l.on_established(up);
    Record down = up;
    down.mono_ns += 2'500'000'000ULL;
    EXPECT_DOUBLE_EQ(*l.on_closed(down), 2.5);
    EXPECT_FALSE(l.on_closed(down));  // forgotten once closed
}

// In the kernel a close runs in whoever closes the socket: the watcher
// itself for --kill, or whatever task a softirq ran on.
TEST(SelfConnectLifetime, TheCloseNamesTheOwnerItsSelfConnectWasReportedWith)
{
    SelfConnectLifetimes l;
    Record up = refusal(1000, "nc", 44600, 42);
    up.addr = "127.0.0.1";
    l.on_established(up);
    Record down = refusal(2000, "selfconnect", 44600, 7);
    down.addr = "127.0.0.1";
    l.name_close(down);
    EXPECT_EQ(down.owner.pid, 42u);
    EXPECT_EQ(down.owner.comm, "nc");

    Record unseen = refusal(3000, "closer", 44601, 9);  // no self-connect of its own seen
    unseen.addr = "127.0.0.1";
    l.name_close(unseen);
    EXPECT_EQ(unseen.owner.pid, 9u);
}
