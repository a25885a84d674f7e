// Real clients meet themselves: programs that never bind their port before
// connect() (the seed's nc, bash's /dev/tcp, Go's net.Dial), each looping on
// an unused port of a narrowed ephemeral range in a namespace of its own.
// For each: a retry_loop warning first, then the self_connect with the right
// pid, comm and netns, then its self_connect_closed with a lifetime.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <fstream>
#include <functional>
#include <string>

#include "self_connect.h"
#include "watch_process.h"
#include "watch_records.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

// The watcher's default; a loop that met itself sooner cannot be warned of.
constexpr int kRetryThreshold = 5;

// Narrows the range so that the loop is handed its port within seconds, and
// leaves the namespace's inode in DIR/netns.
std::string namespace_setup(const TempDir& dir)
{
    return "ip link set lo up && echo '40000 41999' > /proc/sys/net/ipv4/ip_local_port_range && "
           "readlink /proc/self/ns/net > " + dir.path() + "/netns && ";
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

uint32_t netns_written_to(const TempDir& dir)
{
    const std::string link = read_file(dir.path() + "/netns");  // net:[4026532177]
    const auto open = link.find('[');
    return open == std::string::npos ? 0 : static_cast<uint32_t>(std::stoul(link.substr(open + 1)));
}

struct ClientLoop {
    int attempts = 0;  // refused tries before the one that got through
    pid_t pid = -1;    // the process that made the last try
    uint32_t netns = 0;
};

// Runs `shell -c SCRIPT` in a new network namespace until the loop gets
// through (meets itself: nobody listens). The script writes the pid of each
// try to DIR/pid and prints the number of refused tries.
ClientLoop run_until_connected(const std::string& shell, const std::string& loop, const TempDir& dir)
{
    const RunResult r = run_command({"unshare", "-n", shell, "-c", namespace_setup(dir) + loop}, 120s);
    EXPECT_EQ(r.status, 0) << r.err;
    ClientLoop c;
    c.attempts = r.status == 0 ? std::stoi(r.out) : 0;
    c.pid = std::stoi("0" + read_file(dir.path() + "/pid"));
    c.netns = netns_written_to(dir);
    return c;
}

// retry_loop, then self_connect by this client, then its close, in order.
void expect_warned_detected_and_closed(const std::vector<json>& seen, pid_t pid, const std::string& comm,
                                       uint32_t netns, uint16_t port, const std::string& addr = "127.0.0.1")
{
    std::string all;
    for (const auto& j : seen)
        all += j.dump() + "\n";
    size_t retry = seen.size(), self = seen.size(), closed = seen.size();
    for (size_t i = 0; i < seen.size(); ++i) {
        const auto& t = seen[i]["type"];
        if (t == "retry_loop" && retry == seen.size())
            retry = i;
        else if (t == "self_connect" && self == seen.size())
            self = i;
        else if (t == "self_connect_closed" && closed == seen.size() && self < i)
            closed = i;
    }
    ASSERT_LT(self, seen.size()) << "no self_connect:\n" << all;
    ASSERT_LT(retry, self) << "the retry_loop warning must come first:\n" << all;
    ASSERT_LT(closed, seen.size()) << "no self_connect_closed after the self_connect:\n" << all;

    EXPECT_EQ(seen[retry]["comm"], comm);
    EXPECT_EQ(seen[retry]["netns"], netns);
    EXPECT_GE(seen[retry]["refusals"].get<int>(), kRetryThreshold);

    const json& s = seen[self];
    EXPECT_EQ(s["pid"], pid) << s.dump();
    EXPECT_EQ(s["comm"], comm) << s.dump();
    EXPECT_EQ(s["netns"], netns);
    EXPECT_EQ(s["port"], port);
    EXPECT_EQ(s["addr"], addr);
    EXPECT_EQ(s["in_ephemeral_range"], true);

    const json& c = seen[closed];
    EXPECT_EQ(c["netns"], netns);
    EXPECT_EQ(c["port"], port);
    ASSERT_TRUE(c.contains("lifetime_seconds")) << c.dump();
    EXPECT_GE(c["lifetime_seconds"].get<double>(), 0.0);
    EXPECT_LT(c["lifetime_seconds"].get<double>(), 30.0);
    if (!c["pid"].is_null())  // the owner may have exited before its socket closed
        EXPECT_EQ(c["pid"], pid) << c.dump();
}

// The loop body shared by the shell cases: count refusals, give up after 20000.
std::string until_loop(const std::string& try_once)
{
    return "i=0; until " + try_once + "; do i=$((i+1)); [ $i -gt 20000 ] && exit 1; done; echo $i";
}

// One try of a shell loop, given the folder its pid goes to.
using TryOnce = std::function<std::string(const std::string& dir)>;

// A shell loop meets itself; retried (in a fresh namespace) only when it met
// itself before the warning could fire, which a random start of the kernel's
// port walk allows a few times in a thousand.
void shell_loop_case(const std::string& shell, const std::string& comm, uint16_t port, const TryOnce& try_once)
{
    for (int run = 0; run < 3; ++run) {
        WatchProcess watch({"watch", "--json", "--port", std::to_string(port), "--attach-mode", attach_mode_under_test()});
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        TempDir dir;
        const ClientLoop client = run_until_connected(shell, until_loop(try_once(dir.path())), dir);
        if (::testing::Test::HasFailure())
            return;
        if (client.attempts < kRetryThreshold)
            continue;
        std::vector<json> seen;
        wait_for_record(watch, "self_connect_closed", 15s, seen);
        expect_warned_detected_and_closed(seen, client.pid, comm, client.netns, port);
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(10s), 0) << watch.stderr_text();
        return;
    }
    FAIL() << "three loops met themselves before " << kRetryThreshold << " refusals";
}

}  // namespace

TEST(RealClients, TheSeedsNcLoopIsWarnedOfDetectedAndItsCloseSeen)
{
    REQUIRE_ROOT();
    const std::string port = "40500";
    // `exec` keeps the pid the try wrote: each try is one nc process.
    shell_loop_case("sh", "nc", 40500, [&](const std::string& dir) {
        return "sh -c 'echo $$ > " + dir + "/pid; exec nc -z 127.0.0.1 " + port + "'";
    });
}

TEST(RealClients, ABashDevTcpWaitLoopIsWarnedOfDetectedAndItsCloseSeen)
{
    REQUIRE_ROOT();
    const std::string port = "40502";
    // The wait-for-it pattern: a subshell opens /dev/tcp/HOST/PORT.
    shell_loop_case("bash", "bash", 40502, [&](const std::string& dir) {
        return "(echo $BASHPID > " + dir + "/pid; echo -n > /dev/tcp/127.0.0.1/" + port + ") 2>/dev/null";
    });
}

class GoDialer : public ::testing::TestWithParam<uint16_t> {};

// One run of the Go dialer in a namespace of its own, until its first
// self-connect's close is seen (Go closes it at once and dials again, so the
// program itself never gets through) or two minutes pass.
struct GoRun {
    std::vector<json> seen;
    pid_t pid = -1;
    uint32_t netns = 0;
};
GoRun run_go_dialer(WatchProcess& watch, const std::string& target, uint16_t port)
{
    TempDir dir;
    GoRun run;
    BackgroundProcess dialer({"unshare", "-n", "sh", "-c",
                              namespace_setup(dir) + "exec " SC_GO_DIALER " " + target + ":" + std::to_string(port) +
                                  " 120"});
    run.pid = dialer.pid();
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto closed = wait_for_record(watch, "self_connect_closed", 120s, run.seen);
        if (!closed || (*closed)["pid"] == run.pid || (*closed)["pid"].is_null())
            break;
    }
    run.netns = netns_written_to(dir);
    return run;
}

// Did it meet itself before it could have been refused kRetryThreshold
// times? The kernel's port walk starts at random: a few runs in a thousand.
bool met_itself_too_soon(const std::vector<json>& seen)
{
    for (const auto& j : seen) {
        if (j["type"] == "retry_loop")
            return false;
        if (j["type"] == "self_connect")
            return true;
    }
    return false;
}

TEST_P(GoDialer, ANetDialLoopIsWarnedOfDetectedAndItsCloseSeen)
{
    REQUIRE_ROOT();
    const uint16_t port = GetParam();
    const std::string addr = port == 40504 ? "127.0.0.1" : "::1";
    const std::string target = port == 40504 ? addr : "[" + addr + "]";
    for (int attempt = 0; attempt < 3; ++attempt) {
        WatchProcess watch(
            {"watch", "--json", "--port", std::to_string(port), "--attach-mode", attach_mode_under_test()});
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        const GoRun run = run_go_dialer(watch, target, port);
        watch.signal(SIGINT);
        EXPECT_EQ(watch.wait_exit(10s), 0) << watch.stderr_text();
        if (met_itself_too_soon(run.seen))
            continue;  // in a fresh namespace and watcher
        expect_warned_detected_and_closed(run.seen, run.pid, "sc-go-dialer", run.netns, port, addr);
        return;
    }
    FAIL() << "three Go dialers met themselves before " << kRetryThreshold << " refusals";
}

INSTANTIATE_TEST_SUITE_P(RealClients, GoDialer, ::testing::Values(40504, 40506),
                         [](const auto& info) { return info.param == 40504 ? "IPv4" : "IPv6"; });
