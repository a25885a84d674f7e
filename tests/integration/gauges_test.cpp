// The gauges of the present follow reality: a listener at risk appears and
// goes; a self-connect is held and closed, including one that was there
// before the watcher started. Read the way Prometheus reads them, over HTTP.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <optional>
#include <regex>
#include <thread>

#include "named_netns.h"
#include "self_connect.h"
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

// Polls until the gauge reads `want` (5 s at most); returns the last value.
long wait_gauge(uint16_t metrics_port, const std::string& name, long want)
{
    long v = -1;
    for (int i = 0; i < 50 && (v = gauge(metrics_port, name)) != want; ++i)
        std::this_thread::sleep_for(100ms);
    return v;
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
    EXPECT_EQ(wait_gauge(metrics, "selfconnect_listeners_at_risk", 0), 0);
    {
        BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40100"}));
        std::vector<json> seen;
        ASSERT_TRUE(wait_for_record(watch, "listener_at_risk", 10s, seen));
        EXPECT_EQ(wait_gauge(metrics, "selfconnect_listeners_at_risk", 1), 1);
    }  // the server is stopped here
    EXPECT_EQ(wait_gauge(metrics, "selfconnect_listeners_at_risk", 0), 0);
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
    bool held = false;
    for (int i = 0; i < 1200 && !held; ++i) {
        held = !run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = :40700", "dport = :40700"}))
                    .out.empty();
        if (!held)
            std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(held) << "the client did not meet itself in two minutes";
    const uint16_t metrics = metrics_port_for(1);
    WatchProcess watch({"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                        attach_mode_under_test(), "--metrics", "127.0.0.1:" + std::to_string(metrics)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_EQ(wait_gauge(metrics, "selfconnect_self_connects_open", 1), 1);

    // ... and one made while watching.
    TempDir dir2;
    std::optional<BackgroundProcess> during;
    during.emplace(ns.held_nc(dir2.path(), "127.0.0.1 40702", true));
    std::vector<json> seen;
    auto self = wait_for_record(watch, "self_connect", 120s, seen);
    ASSERT_TRUE(self) << "the client did not meet itself in two minutes";
    EXPECT_EQ(wait_gauge(metrics, "selfconnect_self_connects_open", 2), 2);
    during.reset();  // the loop and its nc end
    ASSERT_TRUE(wait_for_record(watch, "self_connect_closed", 10s, seen));
    EXPECT_EQ(wait_gauge(metrics, "selfconnect_self_connects_open", 1), 1);

    // The one from before closes: seen although it was never seen opening.
    before.reset();
    ASSERT_TRUE(wait_for_record(watch, "self_connect_closed", 10s, seen));
    EXPECT_EQ(wait_gauge(metrics, "selfconnect_self_connects_open", 0), 0);
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0);
}
