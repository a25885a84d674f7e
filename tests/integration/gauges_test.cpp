// The gauges of the present follow reality: a listener at risk appears and
// goes; a self-connect is held and closed, including one that was there
// before the watcher started. Read the way Prometheus reads them, over HTTP.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "named_netns.h"
#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"
#include "watch_records.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

// The gauge's value, or -1 if the scrape failed or lacks it.
long gauge(uint16_t metrics_port, const std::string& name)
{
    httplib::Client client("127.0.0.1", metrics_port);
    client.set_connection_timeout(2);
    auto res = client.Get("/metrics");
    std::smatch m;
    if (!res || res->status != 200 || !std::regex_search(res->body, m, std::regex("\n" + name + " (\\d+)\n")))
        return -1;
    return std::stol(m[1]);
}

// Waits until the gauge reads `want`, `patience` at most.
::testing::AssertionResult wait_gauge(uint16_t metrics_port, const std::string& name, long want,
                                      std::chrono::milliseconds patience = 5s)
{
    return wait_for(name + " to read " + std::to_string(want), patience, [&] {
        const long v = gauge(metrics_port, name);
        return Sighting{v == want, v < 0 ? "no such gauge, or no scrape" : std::to_string(v)};
    });
}

// Outside the ephemeral range, as unique_port() is: a port inside it may be
// any client's at the moment the watcher binds it (a scraper's, say).
uint16_t metrics_port_for(int index)
{
    return unique_port(80 + index);
}

}  // namespace

TEST(Gauges, ListenersAtRiskFollowAListenerThatAppearsAndGoes)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    const uint16_t metrics = metrics_port_for(0);
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--metrics", "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_listeners_at_risk", 0));
    {
        BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40100"}));
        std::vector<json> seen;
        ASSERT_TRUE(wait_for_record(watch, "listener_at_risk", 10s, seen));
        EXPECT_TRUE(wait_gauge(metrics, "selfconnect_listeners_at_risk", 1));
    }  // the server is stopped here
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_listeners_at_risk", 0));
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

// A counter's value (the sample with `labels`), or -1.
long counter(uint16_t metrics_port, const std::string& name, const std::string& labels)
{
    httplib::Client client("127.0.0.1", metrics_port);
    client.set_connection_timeout(2);
    auto res = client.Get("/metrics");
    if (!res || res->status != 200)
        return -1;
    const std::string want = "\n" + name + "{" + labels + "} ";
    const auto at = res->body.find(want);
    return at == std::string::npos ? -1 : std::stol(res->body.substr(at + want.size()));
}

// A namespace ends while the closes of its 300 listeners are lost (a ring
// of 4 KiB, every socket closed at once as the server exits): the gauge
// and the risk map come back to the truth at the next healing rescan, the
// namespace known to have ended (the census holds no socket of it), in the
// default mode, where the rescan cannot enter other namespaces. The build
// before kept them until a restart.
TEST(Gauges, TheListenersOfANamespaceThatEndedWithTheirClosesLostAreForgotten)
{
    REQUIRE_ROOT();
    std::optional<NamedNetns> ns(std::in_place);
    const uint16_t metrics = metrics_port_for(6);
    // Listening before the watcher starts: its start scan finds them.
    std::optional<BackgroundProcess> server(std::in_place, ns->exec(
        {"python3", "-c",
         "import socket, time\n"
         "held = []\n"
         "for port in range(40000, 40300):\n"
         "    s = socket.socket(); s.bind(('127.0.0.1', port)); s.listen(); held.append(s)\n"
         "time.sleep(600)\n"}));
    ASSERT_TRUE(ns->wait_listening(40299));
    // Its 300 records to a file: the test reads none of them.
    TempDir records;
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns->inode()), "--attach-mode",
                        attach_mode_under_test(), "--ring-buffer-size", "4096", "--output",
                        records.path() + "/records.ndjson", "--metrics", "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    ASSERT_TRUE(wait_gauge(metrics, "selfconnect_listeners_at_risk", 300, 30s)) << watch.stderr_text();
    server.reset();  // the server exits: its 300 listeners close at once
    ns.reset();      // and its namespace ends
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_listeners_at_risk", 0, 30s)) << watch.stderr_text();
    const long closes_lost =
        counter(metrics, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"listener_closed\"");
    std::printf("listener closes lost: %ld of 300\n", closes_lost);
    // Else the closes came through and this proves nothing of the rescan.
    EXPECT_GT(closes_lost, 0) << "no listener close was lost";
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

// 300 self-connects held in a namespace close at once, most of their
// closes not written (past the closes' budget, and a ring of 4 KiB), and 50
// are made again on the same ports at once: the open gauge still follows,
// by the closes the kernel keeps for it instead (a kept close leaves a
// self-connect made after it), and three self-connects that stay open
// (IPv4, IPv6, v4-mapped) stay in it. The namespace lives on, with a listener held in it, and the watcher
// cannot enter it (the default mode keeps no capability to). The build
// before kept the 300 until a restart.
TEST(Gauges, SelfConnectsWhoseClosesWereNotWrittenLeaveTheOpenGauge)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    BackgroundProcess keeper(ns.exec({"nc", "-l", "127.0.0.1", "8080"}));
    ASSERT_TRUE(ns.wait_listening(8080));
    const auto python_holding = [&](const std::string& make) {
        return ns.exec({"python3", "-c",
                        "import socket, time\n"
                        "held = []\n"
                        "def meet(family, address, port):\n"
                        "    s = socket.socket(family); s.bind((address, port)); s.connect((address, port)); held.append(s)\n" +
                            make + "time.sleep(600)\n"});
    };
    BackgroundProcess staying(python_holding("meet(socket.AF_INET, '127.0.0.1', 40400)\n"
                                             "meet(socket.AF_INET6, '::1', 40402)\n"
                                             "meet(socket.AF_INET6, '::ffff:127.0.0.1', 40404)\n"));
    // On SIGUSR1 it closes its 300 at once and makes the last 50 again
    // (the closes past the budget are the last): their records come after
    // the closes the kernel kept.
    BackgroundProcess closing(python_holding(
        "import signal\n"
        "import struct\n"
        "def again(signum, frame):\n"
        "    for s in held:  # with a reset: no TIME_WAIT keeps the port from the new ones\n"
        "        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()\n"
        "    held.clear()\n"
        "    time.sleep(0.05)  # the ring read, the kept closes not yet taken\n"
        "    for port in range(40250, 40300): meet(socket.AF_INET, '127.0.0.1', port)\n"
        "signal.signal(signal.SIGUSR1, again)\n"
        "for port in range(40000, 40300):\n"
        "    meet(socket.AF_INET, '127.0.0.1', port)\n"));
    ASSERT_TRUE(wait_for("303 self-connects", 30s, [&] {
        const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established"}));
        const auto n = std::count(ss.out.begin(), ss.out.end(), '\n');
        return Sighting{n == 303, std::to_string(n) + " established"};
    }));
    const uint16_t metrics = metrics_port_for(7);
    TempDir records;
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--ring-buffer-size", "4096", "--output",
                        records.path() + "/records.ndjson", "--metrics", "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    ASSERT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 303, 30s)) << watch.stderr_text();
    kill(closing.pid(), SIGUSR1);  // the 300 close at once, and 50 are made again
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 53, 30s)) << watch.stderr_text();
    const long closes_lost =
        counter(metrics, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"self_connect_closed\"");
    std::printf("self-connect closes not written: %ld of 300\n", closes_lost);
    // Else the closes came through and this proves nothing of the kept ones.
    EXPECT_GT(closes_lost, 0) << "every self-connect close was written";
    // And it stays so: nothing else takes the 53 out later.
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(gauge(metrics, "selfconnect_self_connects_open"), 53);
    const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established"}));
    EXPECT_EQ(std::count(ss.out.begin(), ss.out.end(), '\n'), 53) << "the truth, as ss reads it";
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

// The self-connects the namespace holds: established, the two ends one.
long self_connects_in(const NamedNetns& ns)
{
    const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established"}));
    std::istringstream lines(ss.out);
    long n = 0;
    for (std::string local, peer, line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string recv_q, send_q;
        fields >> recv_q >> send_q >> local >> peer;
        n += !local.empty() && local == peer;
    }
    return n;
}

// Waits until the namespace holds `want` self-connects, as ss reads them.
::testing::AssertionResult wait_self_connects(const NamedNetns& ns, long want, std::chrono::milliseconds patience)
{
    return wait_for(std::to_string(want) + " self-connects", patience, [&] {
        const long n = self_connects_in(ns);
        return Sighting{n == want, std::to_string(n) + " established"};
    });
}

// The watcher of `ns` with a ring of 4 KiB, so that records are lost, its
// records to `records_file` (the test reads none unless it says so).
std::vector<std::string> small_ring_watch(const NamedNetns& ns, uint16_t metrics_port, const std::string& records_file)
{
    return {"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode", attach_mode_under_test(),
            "--ring-buffer-size", "4096", "--output", records_file, "--metrics",
            "127.0.0.1:" + std::to_string(metrics_port)};
}

// 600 self-connects made at once while watching, many of them not written
// (past their user's budget, and a ring of 4 KiB), stay in the open gauge
// while 3000 connects to closed ports of the range take over the owner
// slots (1024 for the host) the self-connects were made through; and leave
// it when they close. The build before took a self-connect that was not
// written out of the gauge when its slot was taken, although still open.
TEST(Gauges, SelfConnectsNotWrittenStayInTheOpenGaugeWhileOtherConnectsTakeTheirOwnerSlots)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    const uint16_t metrics = metrics_port_for(9);
    TempDir records;
    WatchProcess watch(small_ring_watch(ns, metrics, records.path() + "/records.ndjson"));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    std::optional<BackgroundProcess> holding(std::in_place, ns.exec(
        {"python3", "-c",
         "import socket, time\n"
         "held = []\n"
         "for port in range(40000, 40600):\n"
         "    s = socket.socket(); s.bind(('127.0.0.1', port)); s.connect(('127.0.0.1', port)); held.append(s)\n"
         "time.sleep(600)\n"}));
    ASSERT_TRUE(wait_self_connects(ns, 600, 30s));
    ASSERT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 600, 30s)) << watch.stderr_text();
    const long not_written =
        counter(metrics, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"self_connect\"");
    std::printf("self-connects not written: %ld of 600\n", not_written);
    // Else every one was written, and this proves nothing of the others.
    EXPECT_GT(not_written, 0) << "every self-connect was written";

    // Connects that could meet themselves: one of them may, and close at
    // once.
    const RunResult refused = run_command(ns.exec(
        {"python3", "-c",
         "import socket\n"
         "for port in range(41000, 44000):\n"
         "    s = socket.socket()\n"
         "    try: s.connect(('127.0.0.1', port))\n"
         "    except OSError: pass\n"
         "    s.close()\n"}));
    ASSERT_EQ(refused.status, 0) << refused.err;
    const long open = self_connects_in(ns);
    EXPECT_EQ(open, 600) << "the truth, as ss reads it";
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", open, 5s)) << watch.stderr_text();
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(gauge(metrics, "selfconnect_self_connects_open"), open);

    holding.reset();  // the 600 close
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 0, 30s)) << watch.stderr_text();
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

// 10000 self-connects held since before the watcher started close at once
// with resets, in a namespace that lives on and that the watcher cannot
// enter: their closes are past the closes' budget, and more than the
// kernel's map keeps for the watcher between two of its reads. Nothing is
// lost silently: the gauge is off by exactly the closes the map could not
// keep, as selfconnect_events_lost_total{where="open_count"} and an
// events_lost record say. Rounds are repeated until one overflows the map
// (the closes must come faster than the watcher's quarter second).
TEST(Gauges, ClosesMoreThanTheKernelKeepsAreCountedLostAndTheGaugeIsOffByThatMany)
{
    REQUIRE_ROOT();
    NamedNetns ns("30000 59999");
    BackgroundProcess keeper(ns.exec({"nc", "-l", "127.0.0.1", "8080"}));
    ASSERT_TRUE(ns.wait_listening(8080));
    const uint16_t metrics = metrics_port_for(10);
    TempDir records;
    const std::string records_file = records.path() + "/records.ndjson";
    long unkept = 0;
    for (int round = 0; round < 4 && unkept == 0; ++round) {
        // Made before the watcher starts: its start scan counts them, and
        // their closes are judged by the closes' budget alone.
        BackgroundProcess holding(ns.exec(
            {"python3", "-c",
             "import resource, signal, socket, struct, time\n"
             "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
             "resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n"
             "held = []\n"
             "for port in range(40000, 50000):\n"
             "    s = socket.socket(); s.bind(('127.0.0.1', port)); s.connect(('127.0.0.1', port))\n"
             "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); held.append(s)\n"
             "def close_all(signum, frame):\n"
             "    for s in held: s.close()\n"
             "    held.clear()\n"
             "signal.signal(signal.SIGUSR1, close_all)\n"
             "time.sleep(600)\n"}));
        ASSERT_TRUE(wait_self_connects(ns, 10000, 60s));
        WatchProcess watch(small_ring_watch(ns, metrics, records_file));
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        ASSERT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 10000, 30s)) << watch.stderr_text();
        kill(holding.pid(), SIGUSR1);
        ASSERT_TRUE(wait_self_connects(ns, 0, 30s)) << "the 10000 did not close";
        // Every close taken or told lost: the gauge stops moving.
        std::this_thread::sleep_for(1s);
        unkept = counter(metrics, "selfconnect_events_lost_total", "where=\"open_count\",kind=\"self_connect_closed\"");
        const long open = gauge(metrics, "selfconnect_self_connects_open");
        std::printf("round %d: closes the kernel could not keep: %ld; the gauge reads %ld\n", round, unkept, open);
        EXPECT_EQ(open, unkept) << "the gauge is off by other than the closes told lost";
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(10s), 0);
        if (unkept > 0) {
            std::ifstream in(records_file);
            long told = 0;
            for (std::string line; std::getline(in, line);) {
                const json r = json::parse(line);
                if (r["type"] == "events_lost" && r["where"] == "open_count")
                    told = r["self_connect_closes"].get<long>();
            }
            EXPECT_EQ(told, unkept) << "the last open_count record's closes in all";
        }
    }
    EXPECT_GT(unkept, 0) << "in four rounds, the closes never came faster than the kernel's map keeps them";
}

TEST(Gauges, OpenSelfConnectsFollowOneHeldAndClosedEvenIfItCameFirst)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    TempDir dir;
    // One held before the watcher starts ...
    std::optional<BackgroundProcess> before;
    before.emplace(ns.held_nc(dir.path(), "127.0.0.1 40700", true));
    ASSERT_TRUE(wait_for("the client to meet itself on 40700", 120s, [&] {
        const RunResult ss =
            run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = :40700", "dport = :40700"}));
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));
    const uint16_t metrics = metrics_port_for(1);
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--metrics", "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 1));

    // ... and one made while watching.
    TempDir dir2;
    std::optional<BackgroundProcess> during;
    during.emplace(ns.held_nc(dir2.path(), "127.0.0.1 40702", true));
    std::vector<json> seen;
    auto self = wait_for_record(watch, "self_connect", 120s, seen);
    ASSERT_TRUE(self) << "the client did not meet itself in two minutes";
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 2));
    during.reset();  // the loop and its nc end
    ASSERT_TRUE(wait_for_record(watch, "self_connect_closed", 10s, seen));
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 1));

    // The one from before closes: seen although it was never seen opening.
    before.reset();
    ASSERT_TRUE(wait_for_record(watch, "self_connect_closed", 10s, seen));
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 0));
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

namespace {

// Waits until `want` sockets of the namespace are established on `port`.
::testing::AssertionResult wait_established_on(const NamedNetns& ns, uint16_t port, long want)
{
    return wait_for(std::to_string(want) + " established on " + std::to_string(port), 10s, [&] {
        const std::string p = ":" + std::to_string(port);
        const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = " + p, "dport = " + p}));
        const long n = std::count(ss.out.begin(), ss.out.end(), '\n');
        return Sighting{n == want, "ss: \"" + ss.out + ss.err + "\""};
    });
}

}  // namespace

// The address 10.77.0.1 on both ends of a veth pair, and a self-connect
// on one port through a socket bound to each end: the kernel holds two
// (sockets bound to different devices do not conflict), and so does the
// open gauge, for two held before the watcher started (found by the start
// scan) and two made while watching; each close takes out its own. The
// build before keyed an open self-connect by namespace, address and port
// alone: it counted the two as one, and a close took out both.
TEST(Gauges, SelfConnectsOnOneAddressBoundToTwoDevicesAreTwoOpen)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    ASSERT_TRUE(ns.add_twin_devices("sc-v1", "sc-v2", "10.77.0.1"));
    std::optional<BackgroundProcess> before_1, before_2, during_1, during_2;
    before_1.emplace(ns.bound_self_connect("sc-v1", "10.77.0.1", 40800));
    before_2.emplace(ns.bound_self_connect("sc-v2", "10.77.0.1", 40800));
    ASSERT_TRUE(wait_established_on(ns, 40800, 2));
    const uint16_t metrics = metrics_port_for(11);
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--metrics", "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 2)) << "the two found at start";
    // The risk map shows each, told apart by its device.
    EXPECT_TRUE(wait_for("two series of the risk map on 40800, each with its device", 5s, [&] {
        httplib::Client client("127.0.0.1", metrics);
        const auto res = client.Get("/metrics");
        std::set<std::string> series;
        std::istringstream lines(res ? res->body : "");
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("selfconnect_self_connect_open_info{", 0) == 0 && line.find("port=\"40800\"") != std::string::npos &&
                line.find("bound_ifindex=\"") != std::string::npos)
                series.insert(line);
        return Sighting{series.size() == 2, std::to_string(series.size()) + " such series"};
    }));

    during_1.emplace(ns.bound_self_connect("sc-v1", "10.77.0.1", 40802));
    during_2.emplace(ns.bound_self_connect("sc-v2", "10.77.0.1", 40802));
    std::vector<json> seen;
    std::set<uint32_t> devices;
    for (int i = 0; i < 2; ++i) {
        const auto self = wait_for_record(watch, "self_connect", 10s, seen);
        ASSERT_TRUE(self) << "self-connect " << i << " on 40802 not reported";
        EXPECT_EQ((*self)["port"], 40802) << *self;
        devices.insert((*self).value("bound_ifindex", 0u));
    }
    EXPECT_EQ(devices.size(), 2u) << "each says the device it is bound to";
    EXPECT_FALSE(devices.count(0)) << "each is bound to one";
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 4));

    during_1.reset();
    ASSERT_TRUE(wait_for_record(watch, "self_connect_closed", 10s, seen));
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 3)) << "the one on sc-v2 is open";
    before_1.reset();
    ASSERT_TRUE(wait_for_record(watch, "self_connect_closed", 10s, seen));
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 2)) << "found at start, and closed";
    before_2.reset();
    during_2.reset();
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 0));
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

// Any user can bind a connected socket to a device (from unbound to bound
// SO_BINDTODEVICE needs no privilege): uid 65534 makes, on each of 50
// ports, a self-connect bound to one end of a veth pair and one unbound
// beside it, binds the second to the other end, and closes both. Each
// close carries a device its record did not, and the gauge still comes
// back to 0 (a first cut keyed by device kept one for each port, 50 in
// all, with nothing counted lost and no socket left).
TEST(Gauges, ASelfConnectBoundToADeviceAfterItsRecordStillLeavesTheGauge)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    ASSERT_TRUE(ns.add_twin_devices("sc-v1", "sc-v2", "10.77.0.1"));
    const uint16_t metrics = metrics_port_for(12);
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--metrics", "127.0.0.1:" + std::to_string(metrics), "--output",
                        "/dev/null"});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    const std::string rebind =
        "import socket, time\n"
        "def self_connect(port, device=None):\n"
        "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    if device: s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device)\n"
        "    s.bind(('10.77.0.1', port)); s.connect(('10.77.0.1', port)); return s\n"
        "pairs = [(self_connect(p, b'sc-v1'), self_connect(p)) for p in range(40900, 40950)]\n"
        "time.sleep(1)\n"
        "for bound, unbound in pairs:\n"
        "    unbound.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'sc-v2')\n"
        "    unbound.close(); bound.close()\n";
    const RunResult made = run_command(ns.exec({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                "/usr/bin/python3", "-c", rebind}));
    ASSERT_EQ(made.status, 0) << made.err;
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 0));
    EXPECT_EQ(counter(metrics, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"self_connect_closed\""), 0)
        << "every close was written";
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

// The start scan walks a namespace's whole socket table only where the
// census of the host's descriptors cannot rule a self-connect out: one
// that no descriptor holds (in flight in a unix socket) is invisible to the
// census, and must be counted all the same. Two namespaces are watched:
// the census is taken only for more than one.
TEST(Gauges, ASelfConnectNoDescriptorHoldsIsCountedAtStart)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    NamedNetns other;
    const pid_t child = start_self_connect_in_flight(40100, "/run/netns/" + ns.name());
    ASSERT_GT(child, 0) << "the self-connect could not be made and sent";
    const uint16_t metrics = metrics_port_for(5);
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--netns",
                        std::to_string(other.inode()), "--attach-mode", attach_mode_under_test(), "--metrics",
                        "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_TRUE(wait_gauge(metrics, "selfconnect_self_connects_open", 1));
    kill(child, SIGTERM);
    wait_child(child);
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}

namespace {

// Waits, scraping from inside `ns` (where the watcher serves its metrics),
// until selfconnect_listeners_at_risk reads `want` (15 s at most: sysctls
// are read every two seconds).
::testing::AssertionResult wait_gauge_in(const NamedNetns& ns, uint16_t metrics_port, long want)
{
    return wait_for("selfconnect_listeners_at_risk to read " + std::to_string(want), 15s, [&] {
        const RunResult scrape =
            run_command(ns.exec({"curl", "-s", "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics"}));
        std::smatch m;
        const bool read = std::regex_search(scrape.out, m, std::regex("\nselfconnect_listeners_at_risk (\\d+)\n"));
        return Sighting{read && std::stol(m[1]) == want, read ? m[1].str() : "no such gauge: \"" + scrape.out + "\""};
    });
}

// Records until one of `type` on `port` arrives; nothing after `patience`.
std::optional<json> record_on_port(WatchProcess& watch, const std::string& type, uint16_t port,
                                   std::chrono::seconds patience, std::vector<json>& seen)
{
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = wait_for_record(watch, type, 500ms, seen);
        if (r && (*r)["port"] == port)
            return r;
    }
    return std::nullopt;
}

}  // namespace

// The range widened under a listener that was outside it (the usual
// tuning, often done during an incident): within seconds it is reported at
// risk and counted; narrowed back, it leaves the gauge (listeners were
// judged only when they started). The watcher runs in the listener's
// namespace and keeps no capability to enter another.
TEST(Gauges, AListenerTheRangeWasWidenedOverIsJudgedAgain)
{
    REQUIRE_ROOT();
    NamedNetns ns("40000 40999");
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "45000"}));
    ASSERT_TRUE(ns.wait_listening(45000));
    const uint16_t metrics = metrics_port_for(4);
    // In the listener's namespace, as a host's watcher is in the host's:
    // its own namespace's sysctls it reads with no capability at all.
    // Scoped to it: a listener of the host's is none of this test's.
    std::vector<std::string> inside = ns.exec({});
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--metrics", "127.0.0.1:" + std::to_string(metrics)},
                       {}, inside);
    ASSERT_TRUE(watch.wait_said_ready()) << watch.stderr_text();
    EXPECT_TRUE(wait_gauge_in(ns, metrics, 0));
    ns.write_sysctl("net/ipv4/ip_local_port_range", "32768 60999");
    std::vector<json> seen;
    const auto r = record_on_port(watch, "listener_at_risk", 45000, 15s, seen);
    ASSERT_TRUE(r) << "the widened range was not noticed";
    EXPECT_EQ((*r)["ephemeral_range"], json::array({32768, 60999})) << *r;
    EXPECT_EQ((*r)["port_chosen_by"], "program") << *r;
    EXPECT_TRUE(r->contains("fix")) << *r;
    EXPECT_TRUE(wait_gauge_in(ns, metrics, 1));
    ns.write_sysctl("net/ipv4/ip_local_port_range", "40000 40999");
    EXPECT_TRUE(wait_gauge_in(ns, metrics, 0));
}

// A reservation taken away under a listener: reported at risk within
// seconds, and --protect reserves its port again.
TEST(Gauges, AListenerWhoseReservationWasTakenAwayIsProtectedAgain)
{
    REQUIRE_ROOT();
    NamedNetns ns("40000 40999");
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40010");
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40010"}));
    ASSERT_TRUE(ns.wait_listening(40010));
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--protect"});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "");
    std::vector<json> seen;
    EXPECT_TRUE(record_on_port(watch, "listener_at_risk", 40010, 15s, seen)) << "the change was not noticed";
    EXPECT_TRUE(record_on_port(watch, "port_reserved", 40010, 5s, seen)) << "--protect did not protect it again";
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40010");
    // Taken away again: protected again (what --protect reserved and was
    // taken out is not taken for done), once the namespace may be scanned
    // again (at most every ten seconds).
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "");
    EXPECT_TRUE(record_on_port(watch, "port_reserved", 40010, 30s, seen)) << "not protected a second time";
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40010");
}

namespace {

// What a Prometheus server in `ns` answers to `query`: each series' labels.
std::vector<json> prometheus_series(const NamedNetns& ns, uint16_t prometheus_port, const std::string& query)
{
    const RunResult r = run_command(ns.exec({"curl", "-s", "-G", "--data-urlencode", "query=" + query,
                                             "http://127.0.0.1:" + std::to_string(prometheus_port) + "/api/v1/query"}));
    const json j = json::parse(r.out, nullptr, false);
    std::vector<json> series;
    if (!j.is_discarded() && j.value("status", "") == "success")
        for (const json& s : j["data"]["result"])
            series.push_back(s["metric"]);
    return series;
}

// Waits until Prometheus answers `query` with exactly one series, whose
// labels include every one of `want`.
::testing::AssertionResult wait_series(const NamedNetns& ns, uint16_t prometheus_port, const std::string& query,
                                       const json& want)
{
    return wait_for("Prometheus to answer " + query + " with " + want.dump(), 30s, [&] {
        const std::vector<json> series = prometheus_series(ns, prometheus_port, query);
        bool matches = series.size() == 1;
        for (const auto& [label, value] : want.items())
            matches = matches && series[0].value(label, "") == value;
        return Sighting{matches, json(series).dump()};
    });
}

// The series of `family` the watcher serves now.
std::vector<std::string> served_series(const NamedNetns& ns, uint16_t metrics_port, const std::string& family)
{
    const RunResult scrape =
        run_command(ns.exec({"curl", "-s", "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics"}));
    std::vector<std::string> lines;
    std::istringstream in(scrape.out);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(family + "{", 0) == 0)
            lines.push_back(line);
    return lines;
}

}  // namespace

// The risk map, as an operator asks it of Prometheus: a real server scrapes
// a watcher while a server listens at risk, another on a reserved port, a
// client holds a self-connect and another loops on a refused port; each is
// answered with its namespace, port and process. Then the host changes:
// the port at risk is reserved (fixed), the reservation is taken away (at
// risk again), and all of them end: the series follow, and go.
TEST(Gauges, TheRiskMapTellsPrometheusWhichServicesCanBeHitAndWhichAreFixed)
{
    REQUIRE_ROOT();
    NamedNetns ns("40000 40999");
    const std::string netns = std::to_string(ns.inode());
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40102");
    std::optional<BackgroundProcess> at_risk, fixed, held;
    at_risk.emplace(ns.exec({"nc", "-l", "127.0.0.1", "40100"}));
    fixed.emplace(ns.exec({"nc", "-l", "127.0.0.1", "40102"}));
    ASSERT_TRUE(ns.wait_listening(40100));
    ASSERT_TRUE(ns.wait_listening(40102));
    TempDir dir;
    held.emplace(ns.held_nc(dir.path(), "127.0.0.1 40700", true));
    ASSERT_TRUE(wait_for("the client to meet itself on 40700", 120s, [&] {
        const RunResult ss =
            run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = :40700", "dport = :40700"}));
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));

    // The watcher and Prometheus in the namespace, as on a node: the
    // watcher reads its own namespace's sysctls with no capability.
    const uint16_t metrics = metrics_port_for(5);
    const uint16_t prometheus = unique_port(88);
    WatchProcess watch({"watch", "--json", "--netns", netns, "--attach-mode", attach_mode_under_test(), "--metrics",
                        "127.0.0.1:" + std::to_string(metrics)},
                       {}, ns.exec({}));
    ASSERT_TRUE(watch.wait_said_ready()) << watch.stderr_text();
    std::ofstream(dir.path() + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n"
        << "scrape_configs:\n  - job_name: selfconnect\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << metrics << "']\n";
    BackgroundProcess server(ns.exec({"prometheus", "--config.file=" + dir.path() + "/prometheus.yml",
                                      "--storage.tsdb.path=" + dir.path() + "/data",
                                      "--web.listen-address=127.0.0.1:" + std::to_string(prometheus)}));
    // A bash loop on a refused port of the range (odd: connect() hands out
    // even ports while there are, so it never meets itself), under way
    // until it is stopped.
    std::optional<BackgroundProcess> loop;
    loop.emplace(ns.exec({"bash", "-c", "while :; do (exec 3<>/dev/tcp/127.0.0.1/40601) 2>/dev/null; sleep 0.2; done"}));

    EXPECT_TRUE(wait_series(ns, prometheus, "selfconnect_listener_in_range_info{reserved=\"false\"}",
                            {{"netns", netns}, {"address", "127.0.0.1"}, {"port", "40100"}, {"comm", "nc"},
                             {"port_chosen_by", "program"}}));
    EXPECT_TRUE(wait_series(ns, prometheus, "selfconnect_listener_in_range_info{reserved=\"true\"}",
                            {{"netns", netns}, {"port", "40102"}, {"comm", "nc"}, {"port_chosen_by", "program"}}));
    EXPECT_TRUE(wait_series(ns, prometheus, "selfconnect_self_connect_open_info",
                            {{"netns", netns}, {"port", "40700"}, {"comm", "nc"}}));
    EXPECT_TRUE(wait_series(ns, prometheus, "selfconnect_retry_loop_info",
                            {{"netns", netns}, {"port", "40601"}, {"comm", "bash"}}));
    // Which services on which nodes can be hit: one query, by process.
    EXPECT_TRUE(wait_series(ns, prometheus,
                            "count by (comm, port) (selfconnect_listener_in_range_info{reserved=\"false\"})",
                            {{"comm", "nc"}, {"port", "40100"}}));

    // The administrator reserves the port at risk: fixed. Then takes the
    // reservation away: at risk again.
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40100,40102");
    EXPECT_TRUE(wait_for("40100 to show fixed", 15s, [&] {
        const auto lines = served_series(ns, metrics, "selfconnect_listener_in_range_info");
        const bool fixed_now = lines.size() == 2 && std::ranges::all_of(lines, [](const std::string& l) {
                                   return l.find("reserved=\"true\"") != std::string::npos;
                               });
        return Sighting{fixed_now, testing::PrintToString(lines)};
    }));
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40102");
    EXPECT_TRUE(wait_for("40100 to show at risk again", 15s, [&] {
        const auto lines = served_series(ns, metrics, "selfconnect_listener_in_range_info");
        const bool again = std::ranges::any_of(lines, [](const std::string& l) {
            return l.find("port=\"40100\"") != std::string::npos && l.find("reserved=\"false\"") != std::string::npos;
        });
        return Sighting{again, testing::PrintToString(lines)};
    }));

    // All of them end; the loop is over once quiet for a window (10 s).
    at_risk.reset();
    fixed.reset();
    held.reset();
    loop.reset();
    EXPECT_TRUE(wait_for("the risk map to empty", 20s, [&] {
        std::vector<std::string> left;
        for (const char* family : {"selfconnect_listener_in_range_info", "selfconnect_self_connect_open_info",
                                   "selfconnect_retry_loop_info"})
            for (std::string& line : served_series(ns, metrics, family))
                left.push_back(std::move(line));
        return Sighting{left.empty(), testing::PrintToString(left)};
    }));
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}
