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
#include <sstream>

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

// Waits until the gauge reads `want`, 5 s at most.
::testing::AssertionResult wait_gauge(uint16_t metrics_port, const std::string& name, long want)
{
    return wait_for(name + " to read " + std::to_string(want), 5s, [&] {
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
    const auto gauge_reads = [&](long want) {
        return wait_for("selfconnect_listeners_at_risk to read " + std::to_string(want), 30s, [&] {
            const long v = gauge(metrics, "selfconnect_listeners_at_risk");
            return Sighting{v == want, std::to_string(v)};
        });
    };
    ASSERT_TRUE(gauge_reads(300)) << watch.stderr_text();
    server.reset();  // the server exits: its 300 listeners close at once
    ns.reset();      // and its namespace ends
    EXPECT_TRUE(gauge_reads(0)) << watch.stderr_text();
    const long closes_lost =
        counter(metrics, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"listener_closed\"");
    std::printf("listener closes lost: %ld of 300\n", closes_lost);
    // Else the closes came through and this proves nothing of the rescan.
    EXPECT_GT(closes_lost, 0) << "no listener close was lost";
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
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
