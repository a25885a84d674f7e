// Running it as a daemon: metrics a Prometheus server can scrape, and
// output that survives log rotation.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"
#include "watch_records.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

void make_self_connects(int family, const char* addr, uint16_t port, int n)
{
    SelfConnectPlan plan{family, addr, port};
    plan.comm = "sc-ops";
    plan.repeat = n;
    ASSERT_EQ(wait_child(start_self_connects(plan).pid), 0);
}

std::string fetch(uint16_t port, const std::string& path)
{
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2);
    auto res = client.Get(path.c_str());
    return res && res->status == 200 ? res->body : std::string();
}

}  // namespace

TEST(Operations, MetricsCountWhatHappenedAndPassPromtool)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(60);
    const uint16_t metrics_port = unique_port(61);
    WatchProcess watch({"watch", "--port", std::to_string(port), "--metrics",
                        "127.0.0.1:" + std::to_string(metrics_port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    make_self_connects(AF_INET, "127.0.0.1", port, 2);
    make_self_connects(AF_INET6, "::1", port, 1);

    const std::vector<std::string> counted{"selfconnect_self_connects_total{family=\"ipv4\"} 2\n",
                                           "selfconnect_self_connects_total{family=\"ipv6\"} 1\n",
                                           "selfconnect_self_connects_closed_total 3\n"};
    std::string text;
    ASSERT_TRUE(wait_for("the metrics to count two IPv4 self-connects, one IPv6, three closed", 10s, [&] {
        text = fetch(metrics_port, "/metrics");
        const auto in_text = [&](const std::string& line) { return text.find(line) != std::string::npos; };
        return Sighting{std::ranges::all_of(counted, in_text), text};
    }));
    EXPECT_NE(text.find("selfconnect_attach_mode{mode=\"tp_btf\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("selfconnect_build_info{version="), std::string::npos) << text;

    TempDir dir;
    const std::string file = dir.path() + "/metrics.txt";
    std::ofstream(file) << text;
    const RunResult check = run_command({"sh", "-c", "promtool check metrics < " + file});
    EXPECT_EQ(check.status, 0) << check.out << check.err;
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}

TEST(Operations, ARealPrometheusServerScrapesIt)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(62);
    const uint16_t metrics_port = unique_port(63);
    const uint16_t prometheus_port = unique_port(64);
    WatchProcess watch({"watch", "--port", std::to_string(port), "--metrics",
                        "127.0.0.1:" + std::to_string(metrics_port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    make_self_connects(AF_INET, "127.0.0.1", port, 3);

    TempDir dir;
    std::ofstream(dir.path() + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n"
        << "scrape_configs:\n  - job_name: selfconnect\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";
    BackgroundProcess prometheus({"prometheus", "--config.file=" + dir.path() + "/prometheus.yml",
                                  "--storage.tsdb.path=" + dir.path() + "/data",
                                  "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)});
    const std::string query = "/api/v1/query?query=selfconnect_self_connects_total%7Bfamily%3D%22ipv4%22%7D";
    std::string value;
    EXPECT_TRUE(wait_for("Prometheus to scrape the detector", 30s, [&] {
        const std::string body = fetch(prometheus_port, query);
        const json j = json::parse(body, nullptr, false);
        if (!j.is_discarded() && j["status"] == "success" && !j["data"]["result"].empty())
            value = j["data"]["result"][0]["value"][1];
        return Sighting{!value.empty(), body.empty() ? "no answer from Prometheus" : body};
    }));
    EXPECT_EQ(value, "3");
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}

TEST(Operations, OutputSurvivesRotationUnderLoadWithoutLosingALine)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(65);
    TempDir dir;
    const std::string file = dir.path() + "/events.ndjson";
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port), "--output", file});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    // Five bursts; each rotation waits for the burst's first line in the
    // current file, so it comes while the watcher writes, however fast this
    // machine makes the bursts, and each renamed file holds lines.
    constexpr int kRotations = 5;
    constexpr int kMade = 3000;
    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = "sc-rotate";
    plan.repeat = kMade / kRotations;
    for (int i = 1; i <= kRotations; ++i) {
        const std::string burst = "burst " + std::to_string(i);
        const pid_t load = start_self_connects(plan).pid;
        ASSERT_TRUE(wait_for(burst + "'s first line in " + file, 10s, [&] { return !read_lines(file).empty(); }));
        // As logrotate does: rename, then SIGHUP (its postrotate).
        std::filesystem::rename(file, file + "." + std::to_string(i));
        watch.signal(SIGHUP);
        ASSERT_TRUE(wait_for("a new " + file + " after the SIGHUP of " + burst, 10s,
                             [&] { return std::filesystem::exists(file); }));
        ASSERT_EQ(wait_child(load), 0);
    }
    // No pause before the stop: at SIGINT the watcher reads what is left in
    // its ring and writes its folds before it exits (watch_command.cpp), so
    // the files and the summary are whole once it has exited.
    watch.signal(SIGINT);
    ASSERT_EQ(watch.wait_exit(), 0);
    const std::string summary = watch.stderr_text();

    // Each self-connect is a self_connect record, or one of a
    // self_connect_repeats record's (the bursts are one command on one port).
    size_t self_connects = 0, folded = 0, files_with_lines = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        const auto lines = read_lines(entry.path());
        files_with_lines += !lines.empty();
        for (const auto& l : lines) {
            ASSERT_TRUE(json::accept(l)) << "a split line in " << entry.path() << ": " << l;
            const json r = json::parse(l);
            self_connects += r["type"] == "self_connect";
            if (r["type"] == "self_connect_repeats")
                folded += r["repeats"].get<size_t>();
        }
    }
    EXPECT_GE(files_with_lines, static_cast<size_t>(kRotations)) << "a rotation lost its file's lines";
    std::smatch m;
    ASSERT_TRUE(std::regex_search(summary, m, std::regex(R"(events lost \((\d+) self-connects)"))) << summary;
    EXPECT_EQ(self_connects + folded + std::stoull(m[1]), static_cast<size_t>(kMade)) << summary;
    EXPECT_NE(summary.find(std::to_string(self_connects) + " self-connects detected"), std::string::npos) << summary;
}
