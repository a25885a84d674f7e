// Which socket listener_blocked names: the holder lookup's filtering.
#include <gtest/gtest.h>

#include "host/tcp_states.h"
#include "prevent/port_holders.h"

using namespace selfconnect;

namespace {

HeldSocket held(uint8_t state, const std::string& local, uint32_t pid, bool self_connected = false)
{
    HeldSocket s;
    s.owner.pid = pid;
    s.state = state;
    s.local_addr = local;
    s.self_connected = self_connected;
    return s;
}

TEST(BlockingHolder, ListenersAndClosedSocketsAreNeverNamed)
{
    EXPECT_FALSE(blocking_holder({held(kTcpListen, "0.0.0.0", 1), held(kTcpClose, "127.0.0.1", 2)}, "127.0.0.1"));
    EXPECT_FALSE(blocking_holder({}, "127.0.0.1"));
}

TEST(BlockingHolder, AConnectedSocketOnTheSameAddressIsNamed)
{
    const auto h = blocking_holder({held(kTcpListen, "127.0.0.2", 1), held(kTcpEstablished, "127.0.0.1", 2)},
                                   "127.0.0.1");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->owner.pid, 2u);
}

TEST(BlockingHolder, AServerWithAnAcceptedClientIsTheOrdinaryCaseNotACulprit)
{
    // The accepted socket has the listener's port as its own.
    EXPECT_FALSE(blocking_holder({held(kTcpListen, "0.0.0.0", 1), held(kTcpEstablished, "127.0.0.1", 1)},
                                 "127.0.0.1"));
    EXPECT_FALSE(blocking_holder({held(kTcpEstablished, "127.0.0.1", 1), held(kTcpListen, "::", 1)}, "0.0.0.0"));
    // A SO_REUSEPORT group: several listeners, none a culprit.
    EXPECT_FALSE(blocking_holder({held(kTcpListen, "127.0.0.1", 1), held(kTcpListen, "127.0.0.1", 2)}, "127.0.0.1"));
}

TEST(BlockingHolder, AddressesMustOverlapWildcardsOverlapEverythingAndV4MappedIsIpv4)
{
    EXPECT_FALSE(blocking_holder({held(kTcpEstablished, "127.0.0.2", 1)}, "127.0.0.1"));
    EXPECT_TRUE(blocking_holder({held(kTcpEstablished, "127.0.0.2", 1)}, "0.0.0.0"));
    EXPECT_TRUE(blocking_holder({held(kTcpEstablished, "127.0.0.2", 1)}, "::"));
    EXPECT_TRUE(blocking_holder({held(kTcpEstablished, "0.0.0.0", 1)}, "127.0.0.1"));
    EXPECT_TRUE(blocking_holder({held(kTcpEstablished, "::ffff:127.0.0.1", 1)}, "127.0.0.1"));
    EXPECT_TRUE(blocking_holder({held(kTcpEstablished, "127.0.0.1", 1)}, "::ffff:127.0.0.1"));
    EXPECT_FALSE(blocking_holder({held(kTcpEstablished, "::1", 1)}, "127.0.0.1"));
}

TEST(BlockingHolder, ASelfConnectedSocketIsNamedBeforeAnOrdinaryOne)
{
    const auto h = blocking_holder({held(kTcpEstablished, "127.0.0.1", 1), held(kTcpCloseWait, "127.0.0.1", 2, true),
                                    held(kTcpEstablished, "127.0.0.1", 3)},
                                   "127.0.0.1");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->owner.pid, 2u);
}

}  // namespace
