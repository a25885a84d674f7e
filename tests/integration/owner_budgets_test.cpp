// A flood costs the flooder its own events, not the host's: the kernel's
// once-a-second and per-second limits are kept per owner (the process an
// event names, the user whose budget it spends), so one user looping as
// fast as a loop runs hides nobody else's refusal, and one fast retry loop
// leaves another loop its early warning. In namespaces of the test's own,
// both attach modes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <netinet/in.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "named_netns.h"
#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"
#include "watch_records.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

// Python as a process of its own name (records name processes by comm),
// on CPU 0: the budgets are per CPU, and a refused bind() or connect() over
// loopback is seen on the caller's CPU, so flooders and victims share one
// whatever the number of CPUs.
std::vector<std::string> python_named(const NamedNetns& ns, const std::string& comm, const std::string& script,
                                      bool unprivileged = false)
{
    const std::string named = "import os\nos.sched_setaffinity(0, {0})\n"
                              "open('/proc/self/comm', 'w').write('" + comm + "')\n" + script;
    std::vector<std::string> argv{"/usr/bin/python3", "-c", named};
    if (unprivileged)
        argv.insert(argv.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    return ns.exec(argv);
}

// A socket connected to itself on `port`, held: it keeps a server off the
// port, so a refused bind() there names it (listener_blocked). Without
// SO_REUSEADDR, so that a server that sets it (nc does) is refused too.
const char* kHeldSelfConnect =
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.connect(('127.0.0.1', int(sys.argv[1])))\n"
    "time.sleep(60)\n";

// A server that tries to bind `port` three times, 300 ms apart.
const char* kServerTries =
    "import socket, sys, time\n"
    "for _ in range(3):\n"
    "    s = socket.socket()\n"
    "    try: s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "    except OSError: pass\n"
    "    s.close(); time.sleep(0.3)\n";

std::optional<json> blocked_record_of(WatchProcess& watch, const std::string& comm, std::chrono::seconds patience,
                                      std::vector<json>& seen)
{
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = wait_for_record(watch, "listener_blocked", 500ms, seen);
        if (r && (*r)["comm"] == comm)
            return r;
    }
    return std::nullopt;
}

// A watcher of `ns`, and a socket connected to itself on `port` there,
// held: a server refused that port is then named (listener_blocked).
struct WatchedHeldPort {
    WatchedHeldPort(const NamedNetns& ns, uint16_t port)
        : watch({"watch", "--json", "--attach-mode", attach_mode_under_test(), "--netns", std::to_string(ns.inode())}),
          ready(watch.wait_ready()), holder(with_port(python_named(ns, "sc-holder", kHeldSelfConnect), port)),
          held(ready && wait_for_record(watch, "self_connect", 10s, seen))
    {
    }
    static std::vector<std::string> with_port(std::vector<std::string> argv, uint16_t port)
    {
        argv.push_back(std::to_string(port));
        return argv;
    }
    WatchProcess watch;
    bool ready;
    BackgroundProcess holder;
    std::vector<json> seen;
    bool held;
};

// Every flood here lasts a minute and is ended by its pid when its test
// ends: one that ended by itself before its victim acted proved nothing.
bool still_running(const BackgroundProcess& p)
{
    int status = 0;
    return waitpid(p.pid(), &status, WNOHANG) == 0;
}

std::string dump(const std::vector<json>& seen)
{
    std::string out;
    for (const json& r : seen)
        out += r.dump() + "\n";
    return out;
}

// uid 65534 is refused bind() on port P as fast as a loop runs; a root
// server refused the same port within the same seconds is named all the
// same (a refusal was reported once a second per namespace and port,
// whoever made it: the flooder's hid the server's, and the one record named
// the flooder).
TEST(OwnerBudgets, ARefusalRepeatedByOneProcessHidesNobodyElsesOnThatPort)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchedHeldPort w(ns, 40300);
    ASSERT_TRUE(w.ready) << w.watch.stderr_text();
    ASSERT_TRUE(w.held) << dump(w.seen);
    WatchProcess& watch = w.watch;
    std::vector<json>& seen = w.seen;
    std::vector<std::string> flood = python_named(ns, "sc-flooder",
                                                  "import socket, sys, time\n"
                                                  "end = time.time() + 60\n"
                                                  "while time.time() < end:\n"
                                                  "    s = socket.socket()\n"
                                                  "    try: s.bind(('127.0.0.1', int(sys.argv[1])))\n"
                                                  "    except OSError: pass\n"
                                                  "    s.close()\n",
                                                  true);
    flood.push_back("40300");
    BackgroundProcess flooder(flood);
    ASSERT_TRUE(blocked_record_of(watch, "sc-flooder", 5s, seen)) << "the flood was never seen\n" << dump(seen);
    std::vector<std::string> server = python_named(ns, "sc-victim", kServerTries);
    server.push_back("40300");
    ASSERT_EQ(run_command(server).status, 0);
    ASSERT_TRUE(still_running(flooder)) << "the flood ended early: it proves nothing";
    const auto victim = blocked_record_of(watch, "sc-victim", 3s, seen);
    EXPECT_TRUE(victim) << "the server's refusal was hidden by the flooder's\n" << dump(seen);
    if (victim)
        EXPECT_EQ((*victim)["holder"]["comm"], "sc-holder") << *victim;
}

// A root shell loop runs a new `nc -l` on a held port as fast as it can
// fork, on the server's CPU: every try is a new process. A root server
// refused the same port then is named all the same (the once-a-second gate
// was kept per process: each nc was new, each was reported, and the loop
// spent root's whole budget on one port, so the server's refusal was
// counted lost).
TEST(OwnerBudgets, ALoopOfNewProcessesIsOneCommandAndHidesNoOtherOfItsUser)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchedHeldPort w(ns, 40500);
    ASSERT_TRUE(w.ready) << w.watch.stderr_text();
    ASSERT_TRUE(w.held) << dump(w.seen);
    WatchProcess& watch = w.watch;
    std::vector<json>& seen = w.seen;
    BackgroundProcess flooder(ns.exec({"taskset", "-c", "0", "bash", "-c",
                                       "end=$((SECONDS + 60)); while [ $SECONDS -lt $end ]; do "
                                       "nc -l 127.0.0.1 40500 2>/dev/null; done"}));
    ASSERT_TRUE(blocked_record_of(watch, "nc", 5s, seen)) << "the loop was never seen\n" << dump(seen);
    std::this_thread::sleep_for(1s);  // the loop is on
    std::vector<std::string> server = python_named(ns, "sc-victim", kServerTries);
    server.push_back("40500");
    ASSERT_EQ(run_command(server).status, 0);
    ASSERT_TRUE(still_running(flooder)) << "the loop ended early: it proves nothing";
    const auto victim = blocked_record_of(watch, "sc-victim", 3s, seen);
    EXPECT_TRUE(victim) << "the server's refusal was lost to the loop's budget\n" << dump(seen) << watch.stderr_text();
    int loop_records = 0;
    for (const json& r : seen)
        loop_records += r["type"] == "listener_blocked" && r["comm"] == "nc";
    EXPECT_LE(loop_records, 12) << "a loop of new processes on one port is one command\n" << dump(seen);
}

// uid 65534 is refused bind() on 200 ports of its own, as fast as a loop
// runs: far past the kernel's budget. A root server refused a port then is
// named all the same (the budget was one for all users: the flooder spent
// it, and the server's refusal was counted lost).
TEST(OwnerBudgets, AUserPastItsBudgetSpendsOnlyItsOwn)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchedHeldPort w(ns, 40400);
    ASSERT_TRUE(w.ready) << w.watch.stderr_text();
    ASSERT_TRUE(w.held) << dump(w.seen);
    WatchProcess& watch = w.watch;
    std::vector<json>& seen = w.seen;
    // Two flooders, on the victim's CPU.
    const std::string flood =
        "import socket, sys, time\n"
        "first = int(sys.argv[1]); held = []\n"
        "for port in range(first, first + 100):\n"
        "    s = socket.socket(); s.bind(('127.0.0.1', port)); s.listen(); held.append(s)\n"
        "end = time.time() + 60\n"
        "while time.time() < end:\n"
        "    for port in range(first, first + 100):\n"
        "        s = socket.socket()\n"
        "        try: s.bind(('127.0.0.1', port))\n"
        "        except OSError: pass\n"
        "        s.close()\n";
    std::vector<std::string> one = python_named(ns, "sc-flooder", flood, true);
    std::vector<std::string> two = one;
    one.push_back("30000");
    two.push_back("30100");
    BackgroundProcess flooder_one(one), flooder_two(two);
    ASSERT_TRUE(ns.wait_listening(30199)) << "the flood did not start";
    std::this_thread::sleep_for(1s);  // the flood is on
    std::vector<std::string> server = python_named(ns, "sc-victim", kServerTries);
    server.push_back("40400");
    ASSERT_EQ(run_command(server).status, 0);
    ASSERT_TRUE(still_running(flooder_one) && still_running(flooder_two)) << "the flood ended early: it proves nothing";
    const auto victim = blocked_record_of(watch, "sc-victim", 3s, seen);
    EXPECT_TRUE(victim) << "the server's refusal was lost to the flooder's budget\n" << dump(seen);
}

// Two root loops refused as fast as they run, in a namespace of their own,
// and a slow retry loop in another: the slow loop gets its retry_loop
// warning (one budget for every loop: the fast ones spent it within the
// first milliseconds of each second, and the slow loop's refusals were
// dropped, so a loop on a busy host met itself unwarned).
TEST(OwnerBudgets, AFastRetryLoopLeavesAnotherLoopItsEarlyWarning)
{
    REQUIRE_ROOT();
    NamedNetns fast("40000 40199");
    NamedNetns slow("40000 40199");
    WatchProcess watch({"watch", "--json", "--attach-mode", attach_mode_under_test()});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    const std::string fast_loop =
        "import socket, sys, time\n"
        "end = time.time() + 60\n"
        "while time.time() < end:\n"
        "    s = socket.socket()\n"
        "    try: s.connect(('127.0.0.1', int(sys.argv[1])))\n"
        "    except OSError: pass\n"
        "    s.close()\n";
    std::vector<std::string> a = python_named(fast, "sc-fast-a", fast_loop);
    a.push_back("40100");
    std::vector<std::string> b = python_named(fast, "sc-fast-b", fast_loop);
    b.push_back("40102");
    BackgroundProcess fast_a(a), fast_b(b);
    std::this_thread::sleep_for(1s);  // both fast loops are on, on the slow loop's CPU
    std::vector<std::string> slow_loop = python_named(slow, "sc-slow",
                                                      "import socket, sys, time\n"
                                                      "for _ in range(10):\n"
                                                      "    s = socket.socket()\n"
                                                      "    try: s.connect(('127.0.0.1', int(sys.argv[1])))\n"
                                                      "    except OSError: pass\n"
                                                      "    s.close(); time.sleep(0.1)\n");
    slow_loop.push_back("40150");
    ASSERT_EQ(run_command(slow_loop).status, 0);
    ASSERT_TRUE(still_running(fast_a) && still_running(fast_b)) << "the fast loops ended early: it proves nothing";
    std::vector<json> seen;
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    std::optional<json> warned;
    while (!warned && std::chrono::steady_clock::now() < deadline) {
        auto r = wait_for_record(watch, "retry_loop", 500ms, seen);
        if (r && (*r)["port"] == 40150 && (*r)["netns"] == slow.inode())
            warned = r;
    }
    EXPECT_TRUE(warned) << "the slow loop's refusals were lost to the fast loops'\n" << dump(seen)
                        << watch.stderr_text();
    if (warned)
        EXPECT_EQ((*warned)["comm"], "sc-slow") << *warned;
}

// uid 65534 binds 127.0.0.1:P and connects to it, at least 30,000 times
// and as fast as it can (a deliberate self-connect, no privilege needed),
// and a root process meets itself three times on another port meanwhile.
// The flood runs until the victim is done and 30,000 are made, however
// fast the machine makes them. It is folded: a few records a second, and the rest written
// together as self_connect_repeats (how many, over how long), its closes
// with them; every self-connect is accounted for (written, folded or
// lost), and the victim's are each named (every self-connect was written:
// 30,000 records and as many closes, megabytes, and the watcher's CPU with
// them).
TEST(OwnerBudgets, ASelfConnectFloodIsFoldedAndEveryOneCounted)
{
    REQUIRE_ROOT();
    constexpr long kAtLeast = 30000;
    const uint16_t flood_port = unique_port(71), victim_port = unique_port(72);
    TempDir dir;
    const std::string file = dir.path() + "/records.ndjson";
    WatchProcess watch({"watch", "--json", "--attach-mode", attach_mode_under_test(), "--output", file});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    SelfConnectPlan flood_plan{AF_INET, "127.0.0.1", flood_port, "sc-flood"};
    flood_plan.uid = 65534;
    SelfConnectPlan victim{AF_INET, "127.0.0.1", victim_port, "sc-victim"};
    victim.repeat = 3;
    const auto began = std::chrono::steady_clock::now();
    SelfConnectFlood flood(flood_plan);
    ASSERT_TRUE(wait_for("the flood's first self-connects", 10s, [&] {
        return Sighting{flood.made() > 100, std::to_string(flood.made()) + " made"};
    }));
    ASSERT_EQ(wait_child(start_self_connects(victim).pid), 0);
    ASSERT_TRUE(wait_for("30,000 self-connects of the flood", 60s, [&] {
        return Sighting{flood.made() >= kAtLeast, std::to_string(flood.made()) + " made"};
    }));
    ASSERT_EQ(flood.stop(), 0) << "the flood failed after " << flood.made() << " self-connects";
    const auto made = static_cast<uint64_t>(flood.made());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    std::this_thread::sleep_for(500ms);
    watch.signal(SIGINT);
    ASSERT_EQ(watch.wait_exit(30s), 0) << watch.stderr_text();
    const std::string summary = watch.stderr_text();

    uint64_t written = 0, folded = 0, closes = 0, victims = 0, repeats_records = 0;
    for (const std::string& line : read_lines(file)) {
        const json r = json::parse(line);
        if (r["port"] == victim_port && r["type"] == "self_connect")
            victims += r["comm"] == "sc-victim";
        if (r["port"] != flood_port)
            continue;
        if (r["type"] == "self_connect") {
            ++written;
        } else if (r["type"] == "self_connect_closed") {
            ++closes;
        } else if (r["type"] == "self_connect_repeats") {
            ++repeats_records;
            folded += r["repeats"].get<uint64_t>();
            EXPECT_EQ(r["comm"], "sc-flood") << r;
            EXPECT_EQ(r["uid"], 65534) << r;
            EXPECT_GE(r["span_seconds"].get<double>(), 0.0) << r;
            EXPECT_TRUE(r.contains("since")) << r;
        }
    }
    std::smatch m;
    uint64_t lost = 0;
    if (std::regex_search(summary, m, std::regex(R"(events lost \((\d+) self-connects)")))
        lost = std::stoull(m[1]);
    EXPECT_EQ(victims, 3u) << "the victim's self-connects were not each named\n" << summary;
    EXPECT_EQ(written + folded + lost, made)
        << written << " written, " << folded << " folded, " << lost << " lost\n" << summary;
    EXPECT_GE(repeats_records, 1u);
    // At most 16 a second per CPU the flood ran on, and their closes.
    const auto cpus = static_cast<uint64_t>(std::thread::hardware_concurrency());
    EXPECT_LE(written, 16 * cpus * static_cast<uint64_t>(seconds + 2)) << seconds << " s";
    EXPECT_LE(closes, written) << "a folded self-connect's close was written";
    EXPECT_LT(std::filesystem::file_size(file), 5u << 20);
}

// uid 65534 keeps two thousand self-connects open (each on an address of
// its own, 127.0.x.y, one port), closing the oldest as it makes each new
// one: past its first few a second they are folded, and a folded one's
// close is not written either; a close that cannot tell whether its
// self-connect was written (its count was not kept) is written only within
// the socket's user's budget (each was written, one record per
// self-connect, the flood's whole cost back through closes).
TEST(OwnerBudgets, ClosesOfFoldedSelfConnectsHeldOpenStayWithinTheirUsersBudget)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    TempDir dir;
    const std::string file = dir.path() + "/records.ndjson";
    WatchProcess watch({"watch", "--json", "--attach-mode", attach_mode_under_test(), "--netns",
                        std::to_string(ns.inode()), "--output", file});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    const auto began = std::chrono::steady_clock::now();
    const RunResult flood = run_command(
        python_named(ns, "sc-holder-flood",
                     "import collections, socket, time\n"
                     "held = collections.deque(); made = 0; end = time.time() + 5\n"
                     "while time.time() < end:\n"
                     "    a = '127.0.%d.%d' % (1 + made // 250 % 250, 1 + made % 250)\n"
                     "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                     "    s.bind((a, 5000)); s.connect((a, 5000)); held.append(s); made += 1\n"
                     "    if len(held) > 2000: held.popleft().close()\n"
                     "print(made)\n",
                     true),
        60s);
    ASSERT_EQ(flood.status, 0) << flood.err;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    const uint64_t made = std::stoull(flood.out);
    std::this_thread::sleep_for(500ms);
    watch.signal(SIGINT);
    ASSERT_EQ(watch.wait_exit(30s), 0) << watch.stderr_text();
    uint64_t written = 0, closes = 0;
    for (const std::string& line : read_lines(file)) {
        const json r = json::parse(line);
        written += r["type"] == "self_connect";
        closes += r["type"] == "self_connect_closed";
    }
    ASSERT_GT(made, 20000u) << "the flood was too slow to prove anything";
    // On CPU 0: 16 a second written per key, 256 closes a second past them.
    const auto bound = static_cast<uint64_t>((256 + 16) * (seconds + 2));
    EXPECT_LE(closes, bound) << made << " made, " << written << " written, " << closes << " closes written";
    EXPECT_LE(written, static_cast<uint64_t>(16 * (seconds + 2)));
}

}  // namespace
