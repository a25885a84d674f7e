#include <gtest/gtest.h>

#include "watch/listener_tracker.h"

using namespace selfconnect;

namespace {

Record listener(uint32_t netns, uint16_t port, const char* addr = "127.0.0.1")
{
    Record r;
    r.facts = ListenerAtRiskFacts{};
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

namespace {

Record socket_listening(uint32_t netns, uint16_t port, uint32_t inode, const char* addr = "127.0.0.1")
{
    Record r = listener(netns, port, addr);
    r.socket_inode = inode;
    return r;
}

TEST(ListenerTracker, ASocketSeenByTheStartScanAndAsItStartsCountsOnce)
{
    ListenerTracker t;
    EXPECT_TRUE(t.add(socket_listening(1, 40800, 777)));   // the start scan
    EXPECT_FALSE(t.add(socket_listening(1, 40800, 777)));  // its listen(), seen live too
    EXPECT_FALSE(t.add(socket_listening(1, 40800, 778)));  // a second SO_REUSEPORT socket
    t.closed(socket_listening(1, 40800, 777));
    EXPECT_EQ(t.at_risk(), 1u);
    t.closed(socket_listening(1, 40800, 777));  // a close seen twice changes nothing more
    EXPECT_EQ(t.at_risk(), 1u);
    t.closed(socket_listening(1, 40800, 778));
    EXPECT_EQ(t.at_risk(), 0u);
}

TEST(ListenerTracker, AResyncForgetsListenersWhoseCloseWasLostAndNamesThoseWhoseStartWas)
{
    ListenerTracker t;
    t.add(socket_listening(1, 40800, 10));
    t.add(socket_listening(1, 40802, 11));  // its close is lost
    t.add(socket_listening(2, 40900, 12));  // in a namespace the scan could not read
    const auto unknown = t.resync({socket_listening(1, 40800, 10), socket_listening(1, 40804, 13)}, {1});
    ASSERT_EQ(unknown.size(), 1u);
    EXPECT_EQ(unknown[0].port, 40804);
    EXPECT_EQ(t.at_risk(), 3u);  // 40800, 40804, and namespace 2's as it was
    t.closed(socket_listening(1, 40804, 13));
    t.closed(socket_listening(2, 40900, 12));
    t.closed(socket_listening(1, 40800, 10));
    EXPECT_EQ(t.at_risk(), 0u);
}

// A namespace that ended while its listeners' closes were lost: the scan
// did not read it (it is gone), and it is forgotten; one the scan could not
// read but that did not end stays as it was.
TEST(ListenerTracker, AResyncForgetsTheListenersOfANamespaceThatEnded)
{
    ListenerTracker t;
    t.add(socket_listening(1, 40800, 10));
    t.add(socket_listening(2, 40900, 12));  // namespace 2 ends, its closes lost
    t.add(socket_listening(3, 40950, 14));  // namespace 3 cannot be read, and lives
    EXPECT_TRUE(t.resync({socket_listening(1, 40800, 10)}, {1}, [](uint32_t netns) { return netns == 2; }).empty());
    EXPECT_EQ(t.at_risk(), 2u);
    std::vector<uint32_t> left;
    t.each([&](const Record& r, bool) { left.push_back(r.netns); });
    EXPECT_EQ(left, (std::vector<uint32_t>{1, 3}));
}

}  // namespace

namespace {

Record owned(uint16_t port, uint32_t inode, uint32_t pid, const char* comm, bool reserved = false)
{
    Record r = listener(1, port);
    r.socket_inode = inode;
    r.owner.known = true;
    r.owner.pid = pid;
    r.owner.comm = comm;
    r.reserved = reserved;
    return r;
}

std::vector<std::pair<uint32_t, bool>> owners_of(const ListenerTracker& t)
{
    std::vector<std::pair<uint32_t, bool>> seen;
    t.each([&](const Record& r, bool reserved) { seen.emplace_back(r.owner.pid, reserved); });
    return seen;
}

}  // namespace

TEST(ListenerTracker, ASocketHandedOverWithReuseportNamesTheNewOwnerOnceTheOldCloses)
{
    // nginx's binary upgrade, envoy's hot restart: the new process listens
    // beside the old one, which then closes.
    ListenerTracker t;
    EXPECT_TRUE(t.add(owned(40800, 10, 100, "nginx")));
    EXPECT_FALSE(t.add(owned(40800, 11, 200, "nginx")));
    t.closed(owned(40800, 10, 100, "nginx"));
    EXPECT_EQ(owners_of(t), (std::vector<std::pair<uint32_t, bool>>{{200, false}}));
    EXPECT_EQ(t.at_risk(), 1u);
}

TEST(ListenerTracker, EachSocketSaysWhetherThePortIsReservedNow)
{
    ListenerTracker t;
    EXPECT_TRUE(t.add(owned(40800, 10, 100, "srv")));
    EXPECT_FALSE(t.add(owned(40800, 11, 100, "srv", true)));  // reserved since
    EXPECT_EQ(t.at_risk(), 0u);
    EXPECT_EQ(owners_of(t), (std::vector<std::pair<uint32_t, bool>>{{100, true}}));
    EXPECT_TRUE(t.add(owned(40800, 12, 100, "srv"))) << "the reservation taken away: at risk again, and new";
    EXPECT_EQ(t.at_risk(), 1u);
}

TEST(ListenerTracker, ARescanThatCannotReadOwnersKeepsThoseKnown)
{
    ListenerTracker t;
    t.add(owned(40800, 10, 100, "srv"));
    Record unread = listener(1, 40800);  // capabilities dropped: no owner
    unread.socket_inode = 10;
    unread.reserved = true;
    EXPECT_TRUE(t.resync({unread}, {1}).empty());
    EXPECT_EQ(owners_of(t), (std::vector<std::pair<uint32_t, bool>>{{100, true}}));
    EXPECT_EQ(t.at_risk(), 0u);
}
