// `watch` during an incident: removing a stuck self-connect as it happens,
// and telling a client that retried from one that is stuck.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <thread>

#include "named_netns.h"
#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

std::optional<json> next_record(WatchProcess& w, const std::string& type)
{
    while (auto line = w.next_line(5s)) {
        json j = json::parse(*line);
        if (j["type"] == type)
            return j;
    }
    return std::nullopt;
}

}  // namespace

// The close runs in the watcher itself (SOCK_DESTROY takes the socket's
// lock): it is named by its self-connect's record all the same, before
// --comm looks at it.
TEST(WatchIncident, KillDestroysTheSelfConnectAndItsOwnersReceiveFails)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(50);
    WatchProcess watch({"watch", "--json", "--kill", "--port", std::to_string(port), "--comm", "sc-stuck"});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    StuckClient child = start_stuck_client(port, "sc-stuck");  // waits on itself in recv()

    const auto rec = next_record(watch, "self_connect");
    ASSERT_TRUE(rec);
    EXPECT_EQ((*rec)["pid"], child.pid);
    EXPECT_EQ((*rec)["killed"], true) << rec->dump();
    EXPECT_EQ(wait_recv_error(child), ECONNABORTED);
    const auto closed = next_record(watch, "self_connect_closed");
    ASSERT_TRUE(closed) << "the close was named by whoever closed it, and filtered out";
    EXPECT_EQ((*closed)["pid"], child.pid) << closed->dump();
    EXPECT_EQ((*closed)["comm"], "sc-stuck") << closed->dump();
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}

// A self-connect through a socket bound to a device (SO_BINDTODEVICE) is
// found by the kernel only when asked with that device: watch --kill (as
// it happens) and audit --kill (one held) destroy it, and its owner's
// recv() fails. The build before asked without it: "No such file or
// directory", and the socket stayed.
TEST(WatchIncident, KillDestroysASelfConnectBoundToADevice)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    ASSERT_TRUE(ns.add_twin_devices("sc-k1", "sc-k2", "10.77.0.2"));
    std::vector<std::string> client{"timeout", "30"};
    for (const std::string& arg : ns.bound_self_connect("sc-k1", "10.77.0.2", 40820))
        client.push_back(arg);
    {
        WatchProcess watch({"watch", "--json", "--kill", "--netns", std::to_string(ns.inode())});
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        EXPECT_EQ(run_command(client).status, 0) << "the client's recv() did not fail with ECONNABORTED (124: not killed)";
        const auto rec = next_record(watch, "self_connect");
        ASSERT_TRUE(rec);
        EXPECT_EQ((*rec)["killed"], true) << rec->dump();
        EXPECT_GT((*rec).value("bound_ifindex", 0u), 0u) << rec->dump();
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(), 0);
    }
    client[client.size() - 1] = "40822";  // a port of its own: the first one's may still be closing
    auto held = std::async(std::launch::async, [&] { return run_command(client).status; });
    ASSERT_TRUE(wait_for("the client to meet itself on 40822", 10s, [&] {
        const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = :40822"}));
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));
    const RunResult audit =
        run_command({selfconnect_binary(), "audit", "--json", "--kill", "--netns", std::to_string(ns.inode())});
    EXPECT_NE(audit.out.find("\"killed\":true"), std::string::npos) << audit.out << audit.err;
    EXPECT_EQ(held.get(), 0) << "the held client's recv() did not fail with ECONNABORTED (124: not killed)";
}

// --kill keeps a sock_diag socket for the namespaces it killed in lately,
// and each one kept holds its namespace alive. Self-connects in forty
// namespaces, each gone once its client is: the watcher keeps sockets for
// a few of them, not forty (it kept every one, so a loop any user could run
// spent the watcher's descriptors and pinned dead namespaces).
TEST(WatchIncident, KillKeepsNoSocketForEveryNamespaceItKilledIn)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(52);
    WatchProcess watch({"watch", "--json", "--kill", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    const size_t at_start = open_descriptors(watch.pid());
    constexpr int kNamespaces = 40;
    for (int i = 0; i < kNamespaces; ++i) {
        SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
        plan.comm = "sc-netns-" + std::to_string(i);
        plan.fresh_netns = true;
        plan.hold = true;  // open until killed: each kill opens its namespace's socket
        const SelfConnectChild child = start_self_connects(plan);
        const auto rec = next_record(watch, "self_connect");
        ASSERT_TRUE(rec) << "namespace " << i << "\n" << watch.stderr_text();
        EXPECT_EQ((*rec)["killed"], true) << rec->dump();
        kill(child.pid, SIGTERM);  // its namespace goes with it
        wait_child(child.pid);
    }
    const size_t at_end = open_descriptors(watch.pid());
    EXPECT_LE(at_end, at_start + 8 + 2) << "descriptors at ready: " << at_start;
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0) << watch.stderr_text();
}

TEST(WatchIncident, AClosedSelfConnectSaysHowLongItLived)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(51);
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = "sc-lingers";
    plan.hold = true;  // keeps it open until SIGTERM
    const SelfConnectChild child = start_self_connects(plan);
    const auto opened = next_record(watch, "self_connect");
    ASSERT_TRUE(opened);
    // Deliberately a time, not a wait: the lifetime the close must report.
    std::this_thread::sleep_for(400ms);
    kill(child.pid, SIGTERM);
    wait_child(child.pid);

    const auto closed = next_record(watch, "self_connect_closed");
    ASSERT_TRUE(closed);
    EXPECT_EQ((*closed)["port"], port);
    EXPECT_EQ((*closed)["pid"], child.pid);
    const double lived = (*closed)["lifetime_seconds"].get<double>();
    EXPECT_GE(lived, 0.4);
    EXPECT_LT(lived, 30.0);
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}
