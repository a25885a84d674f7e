// `selfconnect watch` against real self-connects: the real BPF program,
// real sockets, the real binary. Each test filters on ports of its own.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "self_connect.h"
#include "watch_process.h"
#include "watch_records.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> watch_args(uint16_t port, std::vector<std::string> more = {})
{
    std::vector<std::string> args{"watch", "--json", "--port", std::to_string(port), "--attach-mode",
                                  attach_mode_under_test()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

void expect_clean_exit(WatchProcess& w)
{
    w.signal(SIGINT);
    EXPECT_EQ(w.wait_exit(10s), 0) << w.stderr_text();
}

struct FamilyCase {
    const char* name;
    int family;
    const char* addr;
    const char* family_text;
    bool v4_mapped;
};

class SelfConnectByFamily : public ::testing::TestWithParam<FamilyCase> {};

}  // namespace

TEST_P(SelfConnectByFamily, ASocketBoundAndConnectedToItsOwnAddressIsReportedOnce)
{
    REQUIRE_ROOT();
    const FamilyCase& c = GetParam();
    const uint16_t port = unique_port(c.family == AF_INET ? 1 : (c.v4_mapped ? 3 : 2));
    WatchProcess watch(watch_args(port));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    SelfConnectPlan plan{c.family, c.addr, port};
    plan.comm = "sc-family-test";
    const SelfConnectChild child = start_self_connects(plan);
    ASSERT_EQ(wait_child(child.pid), 0) << "the child's socket did not meet itself";

    const auto lines = watch.lines_until_quiet(700ms);
    const auto found = records_of_type(lines, "self_connect");
    ASSERT_EQ(found.size(), 1u) << lines.size() << " lines";
    const json& r = found[0];
    EXPECT_EQ(r["pid"], child.pid);
    EXPECT_EQ(r["comm"], "sc-family-test");
    EXPECT_EQ(r["netns"], child.netns);
    EXPECT_EQ(r["family"], c.family_text);
    EXPECT_EQ(r["addr"], c.addr);
    EXPECT_EQ(r["port"], port);
    EXPECT_EQ(r["v4_mapped"], c.v4_mapped);
    EXPECT_EQ(r["uid"], 0);
    EXPECT_EQ(r["owner_known"], true);
    EXPECT_EQ(r["in_ephemeral_range"], false);  // test ports lie below the range
    EXPECT_EQ(r["reserved"], false);
    EXPECT_TRUE(r["time"].get<std::string>().ends_with("Z"));
    expect_clean_exit(watch);
}

INSTANTIATE_TEST_SUITE_P(
    Families, SelfConnectByFamily,
    ::testing::Values(FamilyCase{"ipv4", AF_INET, "127.0.0.1", "ipv4", false},
                      FamilyCase{"ipv6", AF_INET6, "::1", "ipv6", false},
                      FamilyCase{"v4_mapped", AF_INET6, "::ffff:127.0.0.1", "ipv6", true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(WatchDetection, ASelfConnectInsideAFreshNetworkNamespaceCarriesThatNamespace)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(4);
    WatchProcess watch(watch_args(port));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = "sc-in-netns";
    plan.fresh_netns = true;
    const SelfConnectChild child = start_self_connects(plan);
    ASSERT_EQ(wait_child(child.pid), 0);
    ASSERT_NE(child.netns, netns_inode_of_self());

    const auto found = records_of_type(watch.lines_until_quiet(700ms), "self_connect");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0]["netns"], child.netns);
    EXPECT_EQ(found[0]["pid"], child.pid);
    EXPECT_EQ(found[0]["comm"], "sc-in-netns");
    expect_clean_exit(watch);
}

TEST(WatchDetection, SamePortOnDifferentAddressesIsNotASelfConnect)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(5);
    WatchProcess watch(watch_args(port));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    // 127.0.0.1:P -> 127.0.0.2:P, a real established connection.
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    const int client = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(client, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in server{AF_INET, htons(port), {}, {}}, local{AF_INET, htons(port), {}, {}};
    inet_pton(AF_INET, "127.0.0.2", &server.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&server), sizeof(server)), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    ASSERT_EQ(bind(client, reinterpret_cast<sockaddr*>(&local), sizeof(local)), 0);
    ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&server), sizeof(server)), 0);
    const int accepted = accept(listener, nullptr, nullptr);
    ASSERT_GE(accepted, 0);
    close(accepted);
    close(client);
    close(listener);

    const auto lines = watch.lines_until_quiet(700ms);
    EXPECT_TRUE(records_of_type(lines, "self_connect").empty());
    expect_clean_exit(watch);
}

TEST(WatchDetection, ThousandsOfOrdinaryLoopbackConnectionsReportNothing)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(6);
    WatchProcess watch(watch_args(port));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{AF_INET, htons(port), {htonl(INADDR_LOOPBACK)}, {}};
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener, 512), 0);
    constexpr int kConnections = 3000;
    std::thread acceptor([&] {
        for (int i = 0; i < kConnections; ++i) {
            const int c = accept(listener, nullptr, nullptr);
            if (c >= 0)
                close(c);
        }
    });
    int connected = 0;
    for (int i = 0; i < kConnections; ++i) {
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        const linger hard{1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        connected += connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
        close(c);
    }
    acceptor.join();
    close(listener);
    EXPECT_EQ(connected, kConnections);

    const auto lines = watch.lines_until_quiet(700ms);
    EXPECT_TRUE(lines.empty()) << lines.front();
    expect_clean_exit(watch);
}

// One process meets itself a thousand times on one port, as fast as it can:
// its first self-connects are written one by one and the rest folded into
// self_connect_repeats records that say how many, all naming it; together
// exactly a thousand, none lost.
TEST(WatchDetection, ABurstOfAThousandSelfConnectsIsCountedExactlyAndItsRepeatsFolded)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(7);
    WatchProcess watch(watch_args(port));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = "sc-burst";
    plan.repeat = 1000;
    const SelfConnectChild child = start_self_connects(plan);
    ASSERT_EQ(wait_child(child.pid), 0);

    auto lines = watch.lines_until_quiet(1500ms);
    watch.signal(SIGINT);
    for (auto& l : watch.lines_until_quiet(1500ms))  // what was folded is written at stop, at the latest
        lines.push_back(std::move(l));
    EXPECT_EQ(watch.wait_exit(10s), 0);
    const auto found = records_of_type(lines, "self_connect");
    const auto repeats = records_of_type(lines, "self_connect_repeats");
    uint64_t folded = 0;
    for (const auto& r : repeats) {
        folded += r["repeats"].get<uint64_t>();
        EXPECT_EQ(r["pid"], child.pid) << r;
        EXPECT_EQ(r["comm"], "sc-burst") << r;
    }
    EXPECT_GE(found.size(), 16u) << "the first sixteen a second are written one by one";
    EXPECT_LT(found.size(), 1000u) << "nothing was folded";
    EXPECT_EQ(found.size() + folded, 1000u);
    for (const auto& r : found)
        ASSERT_EQ(r["pid"], child.pid);
    EXPECT_TRUE(records_of_type(lines, "events_lost").empty());
    EXPECT_NE(watch.stderr_text().find(std::to_string(found.size()) + " self-connects detected"), std::string::npos)
        << watch.stderr_text();
}

namespace {

// The child's first SYN is lost, so it is sent again from the retransmit
// timer while the child waits its program's way: the ESTABLISHED transition
// runs in softirq, on whatever task the CPU happened to run (the idle task,
// as a rule), and no task holds the socket. The one self_connect record
// names the child all the same, or, where nothing on the socket names a
// task, no one (`named` false).
void expect_softirq_handshake_names_the_waiter(const char* comm, SelfConnectPlan::Wait wait, bool named = true,
                                               uid_t uid_after_socket = 0)
{
    const uint16_t port = unique_port(8);
    WatchProcess watch(watch_args(port));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = comm;
    plan.fresh_netns = true;
    plan.first_syn_lost = true;
    plan.wait = wait;
    plan.uid_after_socket = uid_after_socket;
    const auto started = std::chrono::steady_clock::now();
    const SelfConnectChild child = start_self_connects(plan);
    ASSERT_EQ(wait_child(child.pid), 0)
        << "5, 6: the filter that loses the SYN; 7: no SYN sent again; 9: no change of uid; 3, 4: no self-connect";
    // The connect really waited for the retransmission (after a second).
    EXPECT_GT(std::chrono::steady_clock::now() - started, 900ms);

    const auto lines = watch.lines_until_quiet(1s);
    const auto found = records_of_type(lines, "self_connect");
    expect_clean_exit(watch);
    std::string all;
    for (const auto& l : lines)
        all += l + "\n";
    ASSERT_EQ(found.size(), 1u) << "every line:\n" << all << "stderr:\n" << watch.stderr_text();
    EXPECT_EQ(found[0]["netns"], child.netns) << found[0];
    EXPECT_EQ(found[0]["owner_known"], named) << found[0];
    if (!named) {
        EXPECT_TRUE(found[0]["pid"].is_null()) << found[0];
        return;
    }
    EXPECT_EQ(found[0]["pid"], child.pid) << found[0];
    EXPECT_EQ(found[0]["comm"], comm) << found[0];
}

}  // namespace

TEST(WatchDetection, AHandshakeCompletedInSoftirqIsStillAttributedToTheProcessThatConnected)
{
    REQUIRE_ROOT();
    expect_softirq_handshake_names_the_waiter("sc-slow-connect", SelfConnectPlan::Wait::InConnect);
}

// curl's way: a non-blocking connect(), then poll().
TEST(WatchDetection, AHandshakeCompletedInSoftirqIsAttributedToTheProcessPollingForIt)
{
    REQUIRE_ROOT();
    expect_softirq_handshake_names_the_waiter("sc-slow-poll", SelfConnectPlan::Wait::InPoll);
}

// Go's way: a non-blocking connect(), then epoll_wait().
TEST(WatchDetection, AHandshakeCompletedInSoftirqIsAttributedToTheProcessInEpollWait)
{
    REQUIRE_ROOT();
    expect_softirq_handshake_names_the_waiter("sc-slow-epoll", SelfConnectPlan::Wait::InEpoll);
}

// A socket of root's waited on by another user's process (one it was
// handed): that process is not named, and root's budget is spent.
TEST(WatchDetection, AHandshakeCompletedInSoftirqNamesNoWaiterOfAnotherUser)
{
    REQUIRE_ROOT();
    expect_softirq_handshake_names_the_waiter("sc-slow-handed", SelfConnectPlan::Wait::InConnect, false, 65534);
}

// An io_uring poll of the socket names an io_uring request where a waiter
// would name a task, and the child waits on its ring, not on the socket:
// nobody is named, and nothing read from the request is taken for a task.
TEST(WatchDetection, AHandshakeCompletedInSoftirqForAnIoUringPollNamesNoOne)
{
    REQUIRE_ROOT();
    expect_softirq_handshake_names_the_waiter("sc-slow-uring", SelfConnectPlan::Wait::InIoUring, false);
}

TEST(WatchDetection, ANcLoopAgainstAnUnusedEvenPortMeetsItselfAndIsSeenAsNc)
{
    REQUIRE_ROOT();
    // The seed article's loop, in a namespace whose ephemeral range is
    // narrowed so that the kernel hands nc the port within seconds.
    const uint16_t port = 40500;
    WatchProcess watch(watch_args(port, {"--retry-threshold", "3"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    const std::string script =
        "ip link set lo up && echo '40000 41999' > /proc/sys/net/ipv4/ip_local_port_range && "
        "i=0; until nc -z 127.0.0.1 " + std::to_string(port) + "; do i=$((i+1)); "
        "[ $i -gt 20000 ] && exit 1; done; echo $i";
    const RunResult loop = run_command({"unshare", "-n", "sh", "-c", script}, 120s);
    ASSERT_EQ(loop.status, 0) << loop.err;

    const auto lines = watch.lines_until_quiet(1s);
    size_t first_retry = lines.size(), first_self = lines.size();
    for (size_t i = 0; i < lines.size(); ++i) {
        const json j = json::parse(lines[i]);
        if (j["type"] == "retry_loop" && first_retry == lines.size())
            first_retry = i;
        if (j["type"] == "self_connect" && first_self == lines.size()) {
            first_self = i;
            EXPECT_EQ(j["comm"], "nc");
            EXPECT_EQ(j["port"], port);
            EXPECT_EQ(j["in_ephemeral_range"], true);
            EXPECT_EQ(j["ephemeral_range"], json::array({40000, 41999}));
        }
    }
    ASSERT_LT(first_self, lines.size()) << "no self_connect after " << loop.out << " attempts";
    // The early warning comes before the self-connect it warns of.
    std::string all;
    for (const auto& l : lines)
        all += l + "\n";
    ASSERT_LT(first_retry, first_self) << all;
    const json retry = json::parse(lines[first_retry]);
    EXPECT_EQ(retry["comm"], "nc");
    EXPECT_GE(retry["refusals"].get<int>(), 3);
    expect_clean_exit(watch);
}
