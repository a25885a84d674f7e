#include <gtest/gtest.h>

#include "watch/listener_tracker.h"

using namespace selfconnect;

namespace {

Record listener(uint32_t netns, uint16_t port, const char* addr = "127.0.0.1")
{
    Record r;
    r.type = RecordType::ListenerAtRisk;
    r.netns = netns;
    r.port = port;
    r.addr = addr;
    return r;
}

TEST(ListenerTracker, AListenerIsNewOnceAndGoneWhenItsLastSocketCloses)
{
    ListenerTracker t;
    EXPECT_TRUE(t.add(listener(1, 40800)));
    EXPECT_FALSE(t.add(listener(1, 40800)));  // a second SO_REUSEPORT socket, or the start scan's twin
    EXPECT_EQ(t.at_risk(), 1u);
    t.closed(listener(1, 40800));
    EXPECT_EQ(t.at_risk(), 1u);  // one socket still listens there
    t.closed(listener(1, 40800));
    EXPECT_EQ(t.at_risk(), 0u);
    t.closed(listener(1, 40800));  // a close never seen open is harmless
    EXPECT_EQ(t.at_risk(), 0u);
}

TEST(ListenerTracker, NamespaceAddressAndPortEachMakeADifferentListener)
{
    ListenerTracker t;
    EXPECT_TRUE(t.add(listener(1, 40800)));
    EXPECT_TRUE(t.add(listener(2, 40800)));
    EXPECT_TRUE(t.add(listener(1, 40800, "::1")));
    EXPECT_TRUE(t.add(listener(1, 40802)));
    EXPECT_EQ(t.at_risk(), 4u);
}

TEST(ListenerTracker, AReservedPortMakesEveryListenerOnItInThatNamespaceSafe)
{
    ListenerTracker t;
    t.add(listener(1, 40800));
    t.add(listener(1, 40800, "::1"));
    t.add(listener(2, 40800));
    t.add(listener(1, 40802));
    t.reserved(1, 40800);
    EXPECT_EQ(t.at_risk(), 2u);
    EXPECT_TRUE(t.add(listener(2, 40802)));
    EXPECT_FALSE(t.add(listener(2, 40800)));  // the other namespace's is still there
}

}  // namespace
