// Under load and under attack: hostile process names, floods into a tiny
// ring buffer, a reader that stalls, a watcher killed outright.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <bpf/bpf.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

// Four children, each on its own loopback address and the same port, so the
// watcher can filter on that port and nothing else can add to the count.
// Each self-connect under a name of its own (`comms`), so that the kernel
// folds none of them with another: each is written, or lost.
std::vector<pid_t> start_flood(uint16_t port, int per_child, int comms = 1000)
{
    std::vector<pid_t> pids;
    for (int i = 1; i <= 4; ++i) {
        SelfConnectPlan plan{AF_INET, "127.0.0." + std::to_string(i), port};
        plan.comm = "sc-flood";
        plan.repeat = per_child;
        plan.comms = comms;
        pids.push_back(start_self_connects(plan).pid);
    }
    return pids;
}

// Self-connects the records account for: each self_connect, and the
// repeats of each self_connect_repeats.
uint64_t accounted(const std::vector<std::string>& lines)
{
    uint64_t n = 0;
    for (const auto& l : lines) {
        const json r = json::parse(l);
        if (r["type"] == "self_connect")
            ++n;
        else if (r["type"] == "self_connect_repeats")
            n += r["repeats"].get<uint64_t>();
    }
    return n;
}

// The summary's "(N self-connects, ..." figure: self-connects lost in the kernel.
uint64_t lost_self_connects(const std::string& summary)
{
    std::smatch m;
    const std::regex re(R"(events lost \((\d+) self-connects)");
    if (!std::regex_search(summary, m, re))
        return UINT64_MAX;
    return std::stoull(m[1]);
}

uint64_t detected_in_summary(const std::string& summary)
{
    std::smatch m;
    if (!std::regex_search(summary, m, std::regex(R"((\d+) self-connects detected)")))
        return UINT64_MAX;
    return std::stoull(m[1]);
}

size_t count_type(const std::vector<std::string>& lines, const std::string& type)
{
    size_t n = 0;
    for (const auto& l : lines)
        n += json::parse(l)["type"] == type;
    return n;
}

std::set<uint32_t> ids(int (*next)(uint32_t, uint32_t*))
{
    std::set<uint32_t> out;
    uint32_t id = 0;
    while (next(id, &id) == 0)
        out.insert(id);
    return out;
}

uint64_t rss_kib(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stoull(line.substr(6));
    return 0;
}

}  // namespace

TEST(Robustness, HostileProcessNamesAreEscapedInTextAndKeepJsonValid)
{
    REQUIRE_ROOT();
    const std::vector<std::string> names = {"\x1b[31mred\x1b[0m", "two\nlines", "\"},{\"pid\":1",
                                            "bad\xff\xfeutf8", "tab\tback\\"};
    for (const bool as_json : {false, true}) {
        const uint16_t port = unique_port(as_json ? 40 : 41);
        std::vector<std::string> args{"watch", "--port", std::to_string(port)};
        if (as_json)
            args.push_back("--json");
        WatchProcess watch(args);
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        for (const auto& name : names) {
            SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
            plan.comm = name;
            ASSERT_EQ(wait_child(start_self_connects(plan).pid), 0);
        }
        const auto lines = watch.lines_until_quiet(700ms);
        ASSERT_EQ(lines.size(), 2 * names.size());  // a self_connect and a close each
        for (const auto& l : lines) {
            EXPECT_EQ(l.find('\x1b'), std::string::npos) << l;
            if (as_json)
                EXPECT_TRUE(json::accept(l)) << l;
        }
        if (as_json) {
            const json first = json::parse(lines[0]);
            EXPECT_EQ(first["comm"], names[0]);  // JSON escapes it losslessly
            bool saw_hex = false;
            for (const auto& l : lines)
                saw_hex |= json::parse(l).contains("comm_hex");
            EXPECT_TRUE(saw_hex);
        } else {
            EXPECT_NE(lines[0].find("comm=\\x1b[31mred\\x1b[0m"), std::string::npos) << lines[0];
            EXPECT_NE(lines[2].find("comm=two\\nlines"), std::string::npos) << lines[2];
            EXPECT_NE(lines[6].find("comm=bad\\xff\\xfeutf8"), std::string::npos) << lines[6];
        }
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(), 0);
    }
}

TEST(Robustness, AFloodIntoATinyRingBufferLosesNothingUncounted)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(42);
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port), "--ring-buffer-size", "4096"});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    constexpr int kPerChild = 5000;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> lines;
    std::thread reader([&] { lines = watch.lines_until_quiet(2s); });
    for (pid_t pid : start_flood(port, kPerChild))
        ASSERT_EQ(wait_child(pid), 0);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    watch.signal(SIGINT);  // what was folded is written at stop
    reader.join();
    ASSERT_EQ(watch.wait_exit(), 0);
    const std::string summary = watch.stderr_text();

    const uint64_t made = 4 * kPerChild;
    const uint64_t detected = count_type(lines, "self_connect");
    const uint64_t lost = lost_self_connects(summary);
    EXPECT_EQ(accounted(lines) + lost, made) << summary;
    EXPECT_EQ(detected_in_summary(summary), detected) << summary;
    EXPECT_GT(lost, 0u) << "the ring never filled: the flood proved nothing";
    std::printf("flood: %llu self-connects in %.2f s (%.0f/s), %llu reported, %llu counted lost\n",
                static_cast<unsigned long long>(made), seconds, made / seconds,
                static_cast<unsigned long long>(detected), static_cast<unsigned long long>(lost));
}

TEST(Robustness, AStalledReaderKeepsMemoryBoundedAndLossesCounted)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(43);
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    const uint64_t rss_before = rss_kib(watch.pid());
    // Nobody reads stdout while 20000 self-connects happen.
    constexpr int kPerChild = 5000;
    for (pid_t pid : start_flood(port, kPerChild))
        ASSERT_EQ(wait_child(pid), 0);
    const uint64_t rss_stalled = rss_kib(watch.pid());
    EXPECT_LT(rss_stalled, rss_before + 8 * 1024) << "memory grew while the reader stalled";

    auto lines = watch.lines_until_quiet(2s);  // the reader comes back
    watch.signal(SIGINT);
    for (auto& l : watch.lines_until_quiet(2s))  // and what was folded, written at stop
        lines.push_back(std::move(l));
    ASSERT_EQ(watch.wait_exit(), 0);
    const std::string summary = watch.stderr_text();
    const uint64_t lost = lost_self_connects(summary);
    EXPECT_GT(lost, 0u) << summary;
    EXPECT_EQ(accounted(lines) + lost, 4u * kPerChild) << summary;
    EXPECT_GE(count_type(lines, "events_lost"), 1u);
}

TEST(Robustness, AWatcherKilledOutrightLeavesNoProgramOrLinkBehind)
{
    REQUIRE_ROOT();
    const auto progs_before = ids(bpf_prog_get_next_id);
    const auto links_before = ids(bpf_link_get_next_id);
    WatchProcess watch({"watch", "--port", std::to_string(unique_port(44))});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    std::set<uint32_t> ours;
    for (uint32_t id : ids(bpf_prog_get_next_id))
        if (!progs_before.count(id))
            ours.insert(id);
    std::set<uint32_t> our_links;
    for (uint32_t id : ids(bpf_link_get_next_id))
        if (!links_before.count(id))
            our_links.insert(id);
    ASSERT_FALSE(ours.empty());
    ASSERT_FALSE(our_links.empty());

    watch.signal(SIGKILL);
    EXPECT_EQ(watch.wait_exit(), 128 + SIGKILL);
    // The kernel frees them once the last reference is gone (RCU), a little later.
    EXPECT_TRUE(wait_for("the killed watcher's programs and links to be freed", 5s, [&] {
        std::string left;
        for (uint32_t id : ids(bpf_prog_get_next_id))
            if (ours.count(id))
                left += " program " + std::to_string(id);
        for (uint32_t id : ids(bpf_link_get_next_id))
            if (our_links.count(id))
                left += " link " + std::to_string(id);
        return Sighting{left.empty(), "still loaded:" + left};
    }));
}

TEST(Robustness, SigintDuringAFloodEndsAtOnceWithACorrectSummary)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(45);
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port), "--ring-buffer-size", "16K"});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    std::vector<std::string> lines;
    std::atomic<size_t> read{0};  // lines the reader has, for the wait below
    std::thread reader([&] {
        while (auto line = watch.next_line(3s)) {
            lines.push_back(std::move(*line));
            ++read;
        }
    });
    // A flood that outlasts the test: the watcher must end while it still
    // runs, not once it has drained a stream that never ends. (Whether it
    // ends, not how fast: this machine is shared, and a wall-clock bound of
    // a second failed once on a loaded run.)
    const auto flood = start_flood(port, 1000000);
    EXPECT_TRUE(wait_for("the watcher to report the flood", 10s, [&] {
        return Sighting{read > 0, std::to_string(read) + " lines"};
    }));
    const auto signalled = std::chrono::steady_clock::now();
    watch.signal(SIGINT);
    const auto status = watch.wait_exit(10s);
    const auto took = std::chrono::steady_clock::now() - signalled;
    int flooding = 0;
    for (pid_t pid : flood)
        flooding += waitpid(pid, nullptr, WNOHANG) == 0;
    for (pid_t pid : flood) {
        kill(pid, SIGKILL);
        wait_child(pid);
    }
    reader.join();
    ASSERT_EQ(status, 0) << "did not end within 10 s of SIGINT";
    std::printf("ended %.3f s after SIGINT\n", std::chrono::duration<double>(took).count());
    EXPECT_EQ(flooding, static_cast<int>(flood.size())) << "the flood ended before the watcher did";
    const std::string summary = watch.stderr_text();
    EXPECT_EQ(detected_in_summary(summary), count_type(lines, "self_connect")) << summary;
    EXPECT_NE(lost_self_connects(summary), UINT64_MAX) << summary;
}
