// The one owner of ip_local_reserved_ports: what it reads, how it tells a
// person to reserve ports, and the record it makes. Nothing here writes
// the host's sysctls.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "host/netns.h"
#include "prevent/reserved_ports.h"

using namespace selfconnect;

namespace {

PortSet ports(std::initializer_list<uint16_t> list)
{
    PortSet s;
    for (uint16_t p : list)
        s.set(p);
    return s;
}

constexpr uint32_t kOtherNetns = 1;  // no namespace has inode 1

TEST(ReservedPorts, TheFixCommandTakesTheFormOfHowTheNamespaceIsReached)
{
    const PortSet list = ports({8080, 40500, 40501});
    EXPECT_EQ(fix_command(list, current_netns_inode(), "/proc/1/ns/net"),
              "sysctl -w net.ipv4.ip_local_reserved_ports=8080,40500-40501");
    EXPECT_EQ(fix_command(list, kOtherNetns, "/run/netns/blue"),
              "ip netns exec blue sysctl -w net.ipv4.ip_local_reserved_ports=8080,40500-40501");
    EXPECT_EQ(fix_command(list, kOtherNetns, "/proc/812/ns/net"),
              "nsenter --net=/proc/812/ns/net sysctl -w net.ipv4.ip_local_reserved_ports=8080,40500-40501");
}

TEST(ReservedPorts, TheListOfOurOwnNamespaceIsReadWhole)
{
    std::ifstream in("/proc/sys/net/ipv4/ip_local_reserved_ports");
    std::string text;
    std::getline(in, text);
    EXPECT_EQ(format_port_list(read_reserved_ports_here()), format_port_list(*parse_port_list(text)));
    const auto through_fd = read_reserved_ports(-1);
    ASSERT_TRUE(through_fd);
    EXPECT_EQ(*through_fd, read_reserved_ports_here());
}

TEST(ReservedPorts, ALiveFixMergesOurNamespacesListOrSendsToTheAuditThatCan)
{
    Record listener;
    listener.netns = current_netns_inode();
    listener.owner.pid = static_cast<uint32_t>(getpid());
    listener.port = 40800;
    PortSet expected = read_reserved_ports_here();
    expected.set(40800);
    EXPECT_EQ(live_fix_command(listener), "sysctl -w net.ipv4.ip_local_reserved_ports=" + format_port_list(expected));

    listener.netns = kOtherNetns;  // cannot be reached: its list is never guessed
    EXPECT_EQ(live_fix_command(listener), "selfconnect audit --fix --netns 1");
}

TEST(ReservedPorts, ThePortReservedRecordCarriesTheListAndOnlyHereAPersistLine)
{
    ReserveResult ok;
    ok.changed = true;
    ok.list = "8080,40500";
    const Record here = port_reserved_record(current_netns_inode(), 40500, ReserveReason::ListenerAtRisk, ok);
    EXPECT_EQ(here.type(), RecordType::PortReserved);
    EXPECT_EQ(here.port, 40500);
    EXPECT_EQ(here.as<PortReservedFacts>().reason, ReserveReason::ListenerAtRisk);
    EXPECT_EQ(here.as<PortReservedFacts>().reserved_ports, "8080,40500");
    EXPECT_FALSE(here.as<PortReservedFacts>().error);
    EXPECT_EQ(here.as<PortReservedFacts>().persist, "net.ipv4.ip_local_reserved_ports = 8080,40500");
    EXPECT_EQ(persistent_sysctl_line("8080"), "net.ipv4.ip_local_reserved_ports = 8080");

    const Record elsewhere = port_reserved_record(kOtherNetns, 40500, ReserveReason::RetryLoop, ok);
    EXPECT_FALSE(elsewhere.as<PortReservedFacts>().persist);

    ReserveResult failed;
    failed.error = "cannot write /proc/sys/net/ipv4/ip_local_reserved_ports: Permission denied";
    const Record refused = port_reserved_record(current_netns_inode(), 40500, ReserveReason::SelfConnect, failed);
    EXPECT_EQ(refused.as<PortReservedFacts>().error, failed.error);
    EXPECT_FALSE(refused.as<PortReservedFacts>().persist);

    const Record bare = port_reserved_record(kOtherNetns, 40500, ReserveReason::RetryLoop);
    EXPECT_FALSE(bare.as<PortReservedFacts>().reserved_ports);
    EXPECT_FALSE(bare.as<PortReservedFacts>().error);
}

TEST(ReservedPorts, ReasonsHaveTheNamesRecordsPrint)
{
    EXPECT_STREQ(reserve_reason_name(ReserveReason::ListenerAtRisk), "listener_at_risk");
    EXPECT_STREQ(reserve_reason_name(ReserveReason::RetryLoop), "retry_loop");
    EXPECT_STREQ(reserve_reason_name(ReserveReason::SelfConnect), "self_connect");
}

}  // namespace

// For a listener in a pod: the pod-spec line, with the namespace's list and
// the listener's port merged, or the port alone when the list is unknown.
TEST(ReservedPorts, ThePodSpecLineCarriesTheWholeList)
{
    Record listener;
    listener.port = 40600;
    EXPECT_EQ(pod_spec_sysctl(with_listener_port(listener, ports({40001, 40002, 40003}))),
              "securityContext: {sysctls: [{name: net.ipv4.ip_local_reserved_ports, value: \"40001-40003,40600\"}]}");
    EXPECT_EQ(pod_spec_sysctl(with_listener_port(listener, std::nullopt)),
              "securityContext: {sysctls: [{name: net.ipv4.ip_local_reserved_ports, value: \"40600\"}]}");
}
