// How `selfconnect` behaves as a command: exit codes, stopping conditions,
// signals, a reader that goes away, the service manager handshake.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/prctl.h>

#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

int count_lines(const std::string& s)
{
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

void make_self_connects(uint16_t port, int n, const char* comm = "sc-cli")
{
    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = comm;
    plan.repeat = n;
    ASSERT_EQ(wait_child(start_self_connects(plan).pid), 0);
}

}  // namespace

TEST(WatchCli, EveryBadArgumentGetsOneLineAndExitStatusTwo)
{
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"nonsense"},
        {"watch", "--bogus"},
        {"watch", "--count", "-1"},
        {"watch", "--count", "0"},
        {"watch", "--count", "abc"},
        {"watch", "--count", "99999999999999999999999"},
        {"watch", "--count"},
        {"watch", "--duration", "0"},
        {"watch", "--duration", "-5"},
        {"watch", "--duration", "nan"},
        {"watch", "--duration", "1e999"},
        {"watch", "--duration", "2x"},
        {"watch", "--port", "0"},
        {"watch", "--port", "65536"},
        {"watch", "--port", "http"},
        {"watch", "--pid", "0"},
        {"watch", "--pid", "-3"},
        {"watch", "--netns", "0"},
        {"watch", "--netns", "4294967296"},
        {"watch", "--comm", ""},
        {"watch", "--comm", "a-name-longer-than-15"},
        {"watch", "--attach-mode", "kprobe"},
        {"watch", "--ring-buffer-size", "1000"},
        {"watch", "--ring-buffer-size", "2G"},
        {"watch", "--retry-threshold", "1"},
        {"audit", "--frobnicate"},
    };
    for (const auto& args : bad) {
        std::vector<std::string> argv{selfconnect_binary()};
        argv.insert(argv.end(), args.begin(), args.end());
        const RunResult r = run_command(argv);
        std::string shown;
        for (const auto& a : args)
            shown += a + " ";
        EXPECT_EQ(r.status, 2) << shown;
        EXPECT_EQ(count_lines(r.err), 1) << shown << ": " << r.err;
        EXPECT_TRUE(r.err.starts_with("selfconnect: ")) << shown << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << shown;
    }
}

TEST(WatchCli, HelpAndVersionExitZero)
{
    const RunResult help = run_command({selfconnect_binary(), "watch", "--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("--json"), std::string::npos);
    const RunResult version = run_command({selfconnect_binary(), "--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_TRUE(version.out.starts_with("selfconnect ")) << version.out;
}

TEST(WatchCli, AnUnprivilegedUserIsToldWhichCapabilityIsMissing)
{
    REQUIRE_ROOT();
    const RunResult r = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     "--inh-caps=-all", "--bounding-set=-all", selfconnect_binary(), "watch"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("CAP_BPF"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("CAP_PERFMON"), std::string::npos) << r.err;
}

TEST(WatchCli, ABpfCallRefusedByASeccompFilterIsBlamedOnTheFilterNotTheKernel)
{
    REQUIRE_ROOT();
    // Root with every capability, but a filter that refuses bpf() with EPERM.
    const RunResult r = run_command({SC_DENY_SYSCALL, "bpf", selfconnect_binary(), "watch"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("seccomp"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("Linux 5.8"), std::string::npos) << r.err;
}

TEST(WatchCli, ReadinessIsSentToTheServiceManagerAndSaidOnStderr)
{
    REQUIRE_ROOT();
    WatchProcess watch({"watch", "--port", std::to_string(unique_port(20))});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_TRUE(wait_for("\"ready\" on stderr", 10s, [&] {
        const std::string err = watch.stderr_text();
        return Sighting{err.find("ready") != std::string::npos, "\"" + err + "\""};
    }));
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}

TEST(WatchCli, CountStopsAfterThatManyDetections)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(21);
    WatchProcess watch({"watch", "--json", "--count", "2", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    make_self_connects(port, 5);
    EXPECT_EQ(watch.wait_exit(10s), 0) << watch.stderr_text();
    const auto lines = watch.lines_until_quiet(200ms);
    int detections = 0;
    for (const auto& l : lines)
        detections += json::parse(l)["type"] == "self_connect";
    EXPECT_EQ(detections, 2);
}

TEST(WatchCli, DurationStopsAfterThatManySeconds)
{
    REQUIRE_ROOT();
    const auto start = std::chrono::steady_clock::now();
    WatchProcess watch({"watch", "--duration", "1", "--port", std::to_string(unique_port(22))});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_EQ(watch.wait_exit(15s), 0) << watch.stderr_text();
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_NE(watch.stderr_text().find("0 self-connects detected"), std::string::npos);
}

TEST(WatchCli, SigintAndSigtermEndWithASummaryAndStatusZero)
{
    REQUIRE_ROOT();
    for (int sig : {SIGINT, SIGTERM}) {
        const uint16_t port = unique_port(23);
        WatchProcess watch({"watch", "--port", std::to_string(port)});
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        make_self_connects(port, 3);
        // Signalled once it has written them all: 3 self-connects, 3 closes, in text.
        std::vector<std::string> lines;
        EXPECT_TRUE(wait_for("the 3 self-connects and their closes written", 10s, [&] {
            while (auto line = watch.next_line(0ms))
                lines.push_back(*line);
            return Sighting{lines.size() >= 6, std::to_string(lines.size()) + " lines"};
        }));
        watch.signal(sig);
        EXPECT_EQ(watch.wait_exit(5s), 0);
        const std::string err = watch.stderr_text();
        EXPECT_NE(err.find("3 self-connects detected"), std::string::npos) << err;
        EXPECT_NE(err.find("0 events lost"), std::string::npos) << err;
        for (auto& line : watch.lines_until_quiet(200ms))
            lines.push_back(std::move(line));
        EXPECT_EQ(lines.size(), 6u);
        if (!lines.empty())
            EXPECT_NE(lines[0].find("SELF-CONNECT 127.0.0.1:" + std::to_string(port)), std::string::npos) << lines[0];
    }
}

TEST(WatchCli, AReaderThatGoesAwayEndsItQuietly)
{
    REQUIRE_ROOT();
    // `selfconnect watch --json | head -1`
    const uint16_t port = unique_port(24);
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    make_self_connects(port, 1);
    ASSERT_TRUE(watch.next_line(5s).has_value());
    watch.close_stdout();
    make_self_connects(port, 3);
    EXPECT_EQ(watch.wait_exit(10s), 0);
    const std::string err = watch.stderr_text();
    EXPECT_EQ(err.find("error"), std::string::npos) << err;
    EXPECT_EQ(err.find("Broken pipe"), std::string::npos) << err;
    EXPECT_EQ(count_lines(err), 1) << err;  // only the ready line
}

namespace {

std::string status_field(pid_t pid, const std::string& name)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + ":", 0) == 0)
            return line.substr(line.find_first_not_of(" \t", name.size() + 1));
    return {};
}

}  // namespace

TEST(WatchCli, OnceAttachedItKeepsNoCapabilityItDoesNotNeed)
{
    REQUIRE_ROOT();
    {
        WatchProcess watch({"watch", "--port", std::to_string(unique_port(25))});
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
            EXPECT_EQ(status_field(watch.pid(), set), "0000000000000000") << set;
        EXPECT_EQ(status_field(watch.pid(), "NoNewPrivs"), "1");
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(), 0);
    }
    {
        // --kill keeps CAP_NET_ADMIN (12), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21).
        WatchProcess watch({"watch", "--kill", "--port", std::to_string(unique_port(26))});
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        EXPECT_EQ(status_field(watch.pid(), "CapEff"), "0000000000281000");
        EXPECT_EQ(status_field(watch.pid(), "CapPrm"), "0000000000281000");
        EXPECT_EQ(status_field(watch.pid(), "CapBnd"), "0000000000281000");
        EXPECT_EQ(status_field(watch.pid(), "NoNewPrivs"), "1");
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(), 0);
    }
}
