// A root daemon on every host, tried as a hostile user and a busy host
// would: no unprivileged user can keep it busy or blind it, no thread holds
// more than its options need, no innocent is blamed, and no reserved port
// is ever lost, whatever the list's length and whoever writes at once. In
// namespaces of the test's own (range 40000-41999), both attach modes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "named_netns.h"
#include "port_list.h"
#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"
#include "watch_records.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> watch_args(std::vector<std::string> more = {})
{
    std::vector<std::string> args{"watch", "--json", "--attach-mode", attach_mode_under_test()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// 3000 ports, none next to another: the kernel writes the list back as
// 3000 items, over 18 KB, more than a page and more than a stdio buffer.
std::string scattered_ports()
{
    std::string list;
    for (int i = 0; i < 3000; ++i)
        list += (list.empty() ? "" : ",") + std::to_string(10000 + 3 * i);
    return list;
}

// Writes the whole list however long: the first write replaces, later ones
// (at a non-zero offset) add, so the result is the whole list.
void set_reserved_ports(const NamedNetns& ns, const std::string& list)
{
    const RunResult r = run_command(ns.exec(
        {"python3", "-c",
         "import sys; open('/proc/sys/net/ipv4/ip_local_reserved_ports', 'w').write(sys.argv[1] + '\\n')", list}));
    ASSERT_EQ(r.status, 0) << r.err;
}

std::vector<json> parse_lines(const std::string& text)
{
    std::vector<json> out;
    std::stringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty())
            out.push_back(json::parse(line));
    return out;
}

void stop(WatchProcess& watch)
{
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0) << watch.stderr_text();
}

std::string status_field(const std::string& status_path, const std::string& name)
{
    std::ifstream in(status_path);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + ":", 0) == 0)
            return line.substr(line.find_first_not_of(" \t", name.size() + 1));
    return {};
}

bool kernel_before_5_19()
{
    utsname u{};
    unsigned major = 0, minor = 0;
    return uname(&u) != 0 || std::sscanf(u.release, "%u.%u", &major, &minor) != 2 || major < 5 ||
           (major == 5 && minor < 19);
}

}  // namespace

TEST(Hardening, ProtectKeepsEveryPortOfAListLongerThanAPage)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    const std::string before = scattered_ports();
    set_reserved_ports(ns, before);
    ASSERT_EQ(ports_in_list(ns.read_sysctl("net/ipv4/ip_local_reserved_ports")).size(), 3000u);
    WatchProcess watch(watch_args({"--netns", std::to_string(ns.inode()), "--protect"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40800"}));
    std::vector<json> seen;
    const auto reserved = wait_for_record(watch, "port_reserved", 20s, seen);
    ASSERT_TRUE(reserved) << watch.stderr_text();
    EXPECT_FALSE(reserved->contains("error")) << reserved->dump();
    EXPECT_EQ((*reserved)["port"], 40800);
    std::set<int> want = ports_in_list(before);
    want.insert(40800);
    EXPECT_EQ(ports_in_list(ns.read_sysctl("net/ipv4/ip_local_reserved_ports")), want);
    EXPECT_EQ(ports_in_list((*reserved)["reserved_ports"]), want) << "the record's list is the namespace's whole list";
    stop(watch);
}

TEST(Hardening, AuditFixKeepsEveryPortOfAListLongerThanAPage)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    const std::string before = scattered_ports();
    set_reserved_ports(ns, before);
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40810"}));
    ASSERT_TRUE(ns.wait_listening(40810));
    const RunResult fixed =
        run_command({selfconnect_binary(), "audit", "--json", "--fix", "--netns", std::to_string(ns.inode())});
    EXPECT_EQ(fixed.status, 0) << fixed.out << fixed.err;
    std::set<int> want = ports_in_list(before);
    want.insert(40810);
    EXPECT_EQ(ports_in_list(ns.read_sysctl("net/ipv4/ip_local_reserved_ports")), want);
}

// Another writer that reads, merges and writes the whole list, as a script
// around sysctl -w does, adds ports while the watcher reserves others: the
// watcher never writes the whole list, so it removes none of them.
TEST(Hardening, ProtectNeverRemovesAPortAnotherWriterAdded)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchProcess watch(watch_args({"--netns", std::to_string(ns.inode()), "--protect"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    const std::string admin =
        "f=/proc/sys/net/ipv4/ip_local_reserved_ports; p=20000; while [ $p -lt 20300 ]; do "
        "l=$(cat $f); echo \"${l:+$l,}$p\" > $f; p=$((p+1)); done";
    BackgroundProcess writer(ns.shell(admin));
    std::vector<std::unique_ptr<BackgroundProcess>> servers;
    for (int port = 40100; port < 40130; ++port)
        servers.push_back(std::make_unique<BackgroundProcess>(ns.exec({"nc", "-l", "127.0.0.1", std::to_string(port)})));
    std::vector<json> seen;
    for (int i = 0; i < 30; ++i) {
        const auto r = wait_for_record(watch, "port_reserved", 30s, seen);
        ASSERT_TRUE(r) << "only " << i << " ports reserved\n" << watch.stderr_text();
        EXPECT_FALSE(r->contains("error")) << r->dump();
    }
    ASSERT_TRUE(wait_for("the other writer to add its last port, 20299", 30s, [&] {
        const std::string list = ns.read_sysctl("net/ipv4/ip_local_reserved_ports");
        return Sighting{ports_in_list(list).count(20299) == 1, "\"" + list + "\""};
    }));
    const std::set<int> now = ports_in_list(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"));
    for (int p = 20000; p < 20300; ++p)
        EXPECT_TRUE(now.count(p)) << "port " << p << " of the other writer was removed";
    stop(watch);
}

TEST(Hardening, AServerWithAnAcceptedClientOrAUdpPortBlamesNobody)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    TempDir dir;
    WatchProcess watch(watch_args({"--netns", std::to_string(ns.inode())}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    // A server with one accepted client; a second server wants its port.
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40700"}));
    ASSERT_TRUE(ns.wait_listening(40700));
    BackgroundProcess client(ns.held_nc(dir.path(), "127.0.0.1 40700", false));
    ASSERT_TRUE(wait_for("the server's accepted client on 40700", 10s, [&] {
        const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = :40700"}));
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));
    const std::string refused_twice =
        "import socket\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 40701))\n"
        "for kind, port in ((socket.SOCK_STREAM, 40700), (socket.SOCK_DGRAM, 40701)):\n"
        "    s = socket.socket(socket.AF_INET, kind)\n"
        "    try:\n"
        "        s.bind(('127.0.0.1', port)); raise SystemExit('bound %d' % port)\n"
        "    except OSError as e:\n"
        "        assert e.errno == 98, e\n";
    const RunResult second = run_command(ns.exec({"python3", "-c", refused_twice}));
    ASSERT_EQ(second.status, 0) << second.err;
    std::vector<json> seen;
    for (const std::string& line : watch.lines_until_quiet(3s))
        seen.push_back(json::parse(line));
    for (const json& j : seen)
        EXPECT_NE(j["type"], "listener_blocked") << j.dump();
    stop(watch);
}

// As uid 65534, bind() and listen() refused, and listen() and close(), as
// fast as a loop can: UDP and TCP, many ports, the port of a listener with
// an accepted client, ports of the range. The watcher stays
// under a tenth of a core and reports every self-connect made meanwhile
// within a second.
TEST(Hardening, AnUnprivilegedFloodOfBindsAndListensCannotBusyOrBlindTheWatcher)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchProcess watch(watch_args());
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    // Refused bind()s on 200 TCP and 200 UDP ports, one of them a listener
    // with an accepted client, refused listen()s on 200 more (two
    // SO_REUSEADDR sockets bound to a port, the second listen() refused),
    // and listeners that start and stop on 200 ports of the range.
    const std::string flood =
        "import socket, time\n"
        "held = []\n"
        "for port in range(30000, 30200):\n"
        "    s = socket.socket(); s.bind(('127.0.0.1', port)); s.listen(); held.append(s)\n"
        "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', port)); held.append(u)\n"
        // Its client's port named: one the kernel handed out could be a port
        // the test self-connects on below.
        "c = socket.socket(); c.bind(('127.0.0.1', 32000)); c.connect(('127.0.0.1', 30000))\n"
        "a, _ = held[0].accept(); held += [c, a]\n"
        "def refused_listen(port):\n"
        "    a = socket.socket(); b = socket.socket()\n"
        "    try:\n"
        "        for s in (a, b): s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', port))\n"
        "        a.listen(); b.listen()\n"
        "    except OSError: pass\n"
        "    a.close(); b.close()\n"
        "end = time.time() + 60\n"  // outlasts the test on a loaded machine; ended by its pid
        "while time.time() < end:\n"
        "    for port in range(30000, 30200):\n"
        "        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):\n"
        "            s = socket.socket(socket.AF_INET, kind)\n"
        "            try: s.bind(('127.0.0.1', port))\n"
        "            except OSError: pass\n"
        "            s.close()\n"
        "        refused_listen(port + 1000)\n"
        "        s = socket.socket()\n"
        "        try: s.bind(('127.0.0.1', port + 10000)); s.listen()\n"
        "        except OSError: pass\n"
        "        s.close()\n";
    // Debian's python3 by its path: another one on root's PATH may not be
    // reachable for uid 65534.
    BackgroundProcess flooder(ns.exec({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                                       flood}));
    // Its last step before the loop: the client it accepted on 30000.
    ASSERT_TRUE(wait_for("the flood to start (its accepted client on 30000)", 10s, [&] {
        const RunResult ss = run_command(ns.exec({"ss", "-Htn", "state", "established", "sport = :30000"}));
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));
    const double cpu_before = cpu_seconds_of(watch.pid());
    const auto wall_before = std::chrono::steady_clock::now();
    const std::string make_one =
        "import socket, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.connect(('127.0.0.1', int(sys.argv[1])))\n";
    for (int i = 0; i < 10; ++i) {
        const int port = 40200 + 2 * i;
        const RunResult maker = run_command(ns.exec({"python3", "-c", make_one, std::to_string(port)}));
        ASSERT_EQ(maker.status, 0) << "the self-connect on " << port << " was not made: " << maker.err
                                   << run_command(ns.exec({"ss", "-Hatn", "sport = :" + std::to_string(port)})).out;
        const auto made = std::chrono::steady_clock::now();
        std::vector<json> seen;
        const auto self = wait_for_record(watch, "self_connect", 1s, seen);
        ASSERT_TRUE(self) << "self-connect " << i << " on " << port << " not reported within a second\n"
                          << seen.size() << " other records meanwhile, the first: "
                          << json(std::vector<json>(seen.begin(), seen.begin() + std::min<size_t>(seen.size(), 20))).dump()
                          << "\n" << watch.stderr_text();
        EXPECT_EQ((*self)["port"], port);
        std::printf("self-connect %d reported %.0f ms after its maker ended\n", i,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - made).count());
        // Deliberately a time, not a wait: the ten self-connects are spread
        // over seconds of the flood, over which the watcher's cost is measured.
        std::this_thread::sleep_for(300ms);
    }
    int flood_status = 0;
    ASSERT_EQ(waitpid(flooder.pid(), &flood_status, WNOHANG), 0) << "the flood ended early: it proves nothing";
    const double cpu = cpu_seconds_of(watch.pid()) - cpu_before;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    std::printf("the watcher used %.3f s of CPU in %.3f s of flood\n", cpu, wall);
    EXPECT_LT(cpu / wall, 0.10) << "the watcher used " << cpu << " s of CPU in " << wall << " s";
    stop(watch);
    const std::string summary = watch.stderr_text();
    EXPECT_NE(summary.find("(0 self-connects,"), std::string::npos) << "self-connects lost:\n" << summary;
}

TEST(Hardening, EveryThreadHoldsOnlyTheCapabilitiesItsOptionsNeed)
{
    REQUIRE_ROOT();
    // CAP_BPF (39) stays where bpf() needs it after the drop (before 5.19).
    const unsigned long long bpf = kernel_before_5_19() ? 1ULL << 39 : 0;
    const unsigned long long kill = (1ULL << 12) | (1ULL << 19) | (1ULL << 21);  // NET_ADMIN, SYS_PTRACE, SYS_ADMIN
    for (const bool with_kill : {false, true}) {
        const uint16_t metrics_port = unique_port(with_kill ? 71 : 70);
        std::vector<std::string> args{"--metrics", "127.0.0.1:" + std::to_string(metrics_port)};
        if (with_kill)
            args.push_back("--kill");
        WatchProcess watch(watch_args(args));
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        const std::string tasks = "/proc/" + std::to_string(watch.pid()) + "/task";
        size_t threads = 0;
        for (const auto& task : std::filesystem::directory_iterator(tasks)) {
            const bool main_thread = task.path().filename() == std::to_string(watch.pid());
            const unsigned long long eff = std::stoull(status_field(task.path() / "status", "CapEff"), nullptr, 16);
            const unsigned long long want = main_thread ? (with_kill ? kill : 0) | bpf : 0;
            // The holder-lookup worker reads the iterator: CAP_BPF where bpf() needs it.
            const unsigned long long allowed = main_thread ? want : bpf;
            EXPECT_TRUE(eff == want || eff == allowed)
                << "thread " << task.path().filename() << " (" << status_field(task.path() / "status", "Name")
                << ") holds CapEff " << std::hex << eff << (with_kill ? " with --kill" : "");
            ++threads;
        }
        EXPECT_GE(threads, 2u) << "the metrics thread is not there";
        stop(watch);
    }
}

// The kernel hands a dead namespace's inode to the next one made: --protect
// must take it for the new namespace it is, not for one already protected.
TEST(Hardening, ProtectTakesANamespaceWithAReusedInodeForANewOne)
{
    REQUIRE_ROOT();
    std::optional<NamedNetns> first(std::in_place);
    const uint32_t inode = first->inode();
    WatchProcess watch(watch_args({"--netns", std::to_string(inode), "--protect", "--protect-max", "1"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    std::vector<json> seen;
    {
        BackgroundProcess server(first->exec({"nc", "-l", "127.0.0.1", "40800"}));
        const auto reserved = wait_for_record(watch, "port_reserved", 20s, seen);
        ASSERT_TRUE(reserved) << watch.stderr_text();
        EXPECT_FALSE(reserved->contains("error")) << reserved->dump();
    }
    first.reset();
    std::optional<NamedNetns> second;
    for (int i = 0; i < 50 && (!second || second->inode() != inode); ++i) {
        second.reset();
        std::this_thread::sleep_for(100ms);  // the old namespace is freed in the background
        second.emplace();
    }
    if (second->inode() != inode)
        GTEST_SKIP() << "this kernel did not hand inode " << inode << " out again";
    BackgroundProcess server(second->exec({"nc", "-l", "127.0.0.1", "40800"}));
    const auto reserved = wait_for_record(watch, "port_reserved", 20s, seen);
    ASSERT_TRUE(reserved) << "the new namespace was taken for the old one\n" << watch.stderr_text();
    EXPECT_FALSE(reserved->contains("error")) << reserved->dump();
    EXPECT_EQ(second->read_sysctl("net/ipv4/ip_local_reserved_ports"), "40800");
    stop(watch);
}

// A listener set listening through io_uring passes no listen() syscall
// hook: the state hook reports it at once, rather than keeping it for a
// syscall return that never comes.
TEST(Hardening, AListenerMadeThroughIoUringIsReported)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchProcess watch(watch_args({"--netns", std::to_string(ns.inode())}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    BackgroundProcess listener(ns.exec({SC_URING_LISTEN, "40820"}));
    if (!ns.wait_listening(40820)) {
        int status = 0;
        if (waitpid(listener.pid(), &status, WNOHANG) == listener.pid() && WIFEXITED(status) &&
            WEXITSTATUS(status) == 3)
            GTEST_SKIP() << "this kernel has no IORING_OP_LISTEN (Linux 6.11)";
        FAIL() << "the io_uring listener is not listening";
    }
    std::vector<json> seen;
    const auto listening = wait_for_record(watch, "listener_at_risk", 10s, seen);
    ASSERT_TRUE(listening) << "a listener made through io_uring was not reported\n" << watch.stderr_text();
    EXPECT_EQ((*listening)["port"], 40820);
    EXPECT_EQ((*listening)["comm"], "sc-uring-listen");
    stop(watch);
}
