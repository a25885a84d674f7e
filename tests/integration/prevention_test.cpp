// Prevention, with real servers and clients in namespaces of the test's own
// (each with range 40000-41999): listeners at risk found at start and as
// they start, watch --protect reserving the port of a retry loop and of a
// listener (and no more than --protect-max), listener_blocked naming the
// socket that keeps a server from its port, audit --fix over two namespaces.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
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

std::vector<std::string> watch_args(const NamedNetns& ns, std::vector<std::string> more = {})
{
    std::vector<std::string> args{"watch", "--json", "--netns", std::to_string(ns.inode()), "--attach-mode",
                                  attach_mode_under_test()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

std::string dump(const std::vector<json>& seen)
{
    std::string all;
    for (const auto& j : seen)
        all += j.dump() + "\n";
    return all;
}

std::vector<json> of_type(const std::vector<json>& seen, const std::string& type)
{
    std::vector<json> out;
    for (const auto& j : seen)
        if (j["type"] == type)
            out.push_back(j);
    return out;
}

// Reads records until `quiet` passes without one.
void read_until_quiet(WatchProcess& watch, std::vector<json>& seen, std::chrono::milliseconds quiet = 1500ms)
{
    for (const std::string& line : watch.lines_until_quiet(quiet))
        seen.push_back(json::parse(line));
}

// The holder named by a listener_blocked record: an nc of this test's.
void expect_holder(const json& h, pid_t pid, const std::string& addr, uint16_t port, bool self_connected)
{
    EXPECT_EQ(h["pid"], pid) << h.dump();
    EXPECT_EQ(h["comm"], "nc") << h.dump();
    EXPECT_EQ(h["addr"], addr) << h.dump();
    EXPECT_EQ(h["port"], port) << h.dump();
    EXPECT_EQ(h["self_connected"], self_connected) << h.dump();
}

void stop(WatchProcess& watch)
{
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(10s), 0) << watch.stderr_text();
}

}  // namespace

TEST(Prevention, ListenersAtRiskAreReportedAtStartAndAsTheyStart)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    BackgroundProcess before(ns.exec({"nc", "-l", "127.0.0.1", "40100"}));
    ASSERT_TRUE(ns.wait_listening(40100));

    WatchProcess watch(watch_args(ns));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    std::vector<json> seen;
    auto first = wait_for_record(watch, "listener_at_risk", 10s, seen);
    ASSERT_TRUE(first) << dump(seen) << watch.stderr_text();
    EXPECT_EQ((*first)["port"], 40100);
    EXPECT_EQ((*first)["pid"], before.pid());
    EXPECT_EQ((*first)["comm"], "nc");
    EXPECT_EQ((*first)["netns"], ns.inode());
    EXPECT_NE((*first)["fix"].get<std::string>().find("40100"), std::string::npos) << first->dump();

    // Outside the range, and reserved: not at risk. Then two that are.
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40300");
    BackgroundProcess outside(ns.exec({"nc", "-l", "127.0.0.1", "30000"}));
    BackgroundProcess reserved(ns.exec({"nc", "-l", "127.0.0.1", "40300"}));
    ASSERT_TRUE(ns.wait_listening(30000) && ns.wait_listening(40300));
    BackgroundProcess live(ns.exec({"nc", "-l", "127.0.0.1", "40200"}));
    BackgroundProcess live6(ns.exec({"nc", "-6", "-l", "::1", "40203"}));
    ASSERT_TRUE(ns.wait_listening(40200) && ns.wait_listening(40203));
    read_until_quiet(watch, seen);
    const auto listeners = of_type(seen, "listener_at_risk");
    ASSERT_EQ(listeners.size(), 3u) << dump(seen);
    for (const json& l : listeners) {
        if (l["port"] == 40100)
            continue;
        const bool v6 = l["port"] == 40203;
        EXPECT_EQ(l["pid"], v6 ? live6.pid() : live.pid()) << l.dump();
        EXPECT_EQ(l["comm"], "nc");
        EXPECT_EQ(l["uid"], 0);
        EXPECT_EQ(l["addr"], v6 ? "::1" : "127.0.0.1");
        EXPECT_EQ(l["family"], v6 ? "ipv6" : "ipv4");
        EXPECT_EQ(l["netns"], ns.inode());
        // 40000 is even: connect() tries even ports first.
        EXPECT_EQ(l["connect_tries_first"], !v6) << l.dump();
        // Without --protect or --kill the watcher keeps no capability to
        // read another namespace's list; the audit merges it instead.
        EXPECT_EQ(l["fix"], "selfconnect audit --fix --netns " + std::to_string(ns.inode())) << l.dump();
    }
    EXPECT_TRUE(of_type(seen, "port_reserved").empty()) << "nothing changes without --protect\n" << dump(seen);
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40300");
    stop(watch);
}

TEST(Prevention, ProtectReservesTheSeedLoopsPortBeforeItMeetsItself)
{
    REQUIRE_ROOT();
    for (int run = 0; run < 3; ++run) {
        NamedNetns ns;
        WatchProcess watch(watch_args(ns, {"--protect"}));
        ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
        // The seed's loop, 3000 tries; without a reservation a loop on a
        // 2000-port range meets itself within a few hundred.
        const RunResult loop = run_command(
            ns.shell("i=0; met=0; while [ $i -lt 3000 ]; do nc -z 127.0.0.1 40500 && met=$((met+1)); i=$((i+1)); "
                     "done; echo $met"),
            300s);
        ASSERT_EQ(loop.status, 0) << loop.err;
        std::vector<json> seen;
        read_until_quiet(watch, seen);
        const auto retry = std::find_if(seen.begin(), seen.end(), [](const json& j) { return j["type"] == "retry_loop"; });
        const auto self = std::find_if(seen.begin(), seen.end(), [](const json& j) { return j["type"] == "self_connect"; });
        if (self < retry)
            continue;  // met itself within its first refusals: a fresh namespace
        ASSERT_NE(retry, seen.end()) << dump(seen);
        const auto reserved =
            std::find_if(seen.begin(), seen.end(), [](const json& j) { return j["type"] == "port_reserved"; });
        ASSERT_NE(reserved, seen.end()) << dump(seen);
        EXPECT_LT(retry, reserved) << dump(seen);
        EXPECT_EQ((*reserved)["port"], 40500);
        EXPECT_EQ((*reserved)["reason"], "retry_loop");
        EXPECT_EQ((*reserved)["netns"], ns.inode());
        EXPECT_EQ((*reserved)["reserved_ports"], "40500");
        EXPECT_FALSE(reserved->contains("error")) << reserved->dump();
        EXPECT_FALSE(reserved->contains("persist")) << "only the host's namespace gets a sysctl.d line";
        EXPECT_EQ(self, seen.end()) << "a self-connect after the port was reserved:\n" << dump(seen);
        EXPECT_EQ(std::stoi(loop.out), 0) << "nc got through";
        EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40500");
        // A reserved port still takes an explicit bind(): the server starts.
        const RunResult server = run_command(ns.exec(
            {"python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 40500)); s.listen()"}));
        EXPECT_EQ(server.status, 0) << server.err;
        stop(watch);
        return;
    }
    FAIL() << "three loops met themselves before the retry_loop warning";
}

TEST(Prevention, ProtectReservesAListenersPort)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40001-40003");
    WatchProcess watch(watch_args(ns, {"--protect"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40600"}));
    std::vector<json> seen;
    ASSERT_TRUE(wait_for_record(watch, "port_reserved", 10s, seen)) << dump(seen) << watch.stderr_text();
    ASSERT_EQ(seen.size(), 2u) << dump(seen);
    EXPECT_EQ(seen[0]["type"], "listener_at_risk");
    EXPECT_EQ(seen[0]["pid"], server.pid());
    EXPECT_EQ(seen[1]["reason"], "listener_at_risk");
    EXPECT_EQ(seen[1]["port"], 40600);
    EXPECT_EQ(seen[1]["reserved_ports"], "40001-40003,40600") << "merged, nothing removed";
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40001-40003,40600");
    stop(watch);
}

// A listener whose port the kernel chose (bind() to port 0; listen()
// without bind()) gets a new port at every start, as containerd's stream
// server does: it is reported at risk, says so, and --protect spends no
// reservation on it, live or found at start; a server on a port of its own
// choosing next to it is reserved as before.
TEST(Prevention, AListenerWhosePortTheKernelChoseIsNotReserved)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    const std::string serve =
        "import socket, sys, time\n"
        "a = socket.socket(); a.bind(('127.0.0.1', 0)); a.listen()\n"
        "b = socket.socket(); b.listen()\n"
        "print(a.getsockname()[1], b.getsockname()[1], flush=True)\n"
        "time.sleep(600)\n";
    auto start_servers = [&](const std::string& ports_file) {
        return std::make_unique<BackgroundProcess>(
            ns.exec({"sh", "-c", "exec python3 -c \"$0\" > " + ports_file, serve}));
    };
    TempDir dir;
    // The two ports the servers print to `file`, once both are there.
    auto chosen_ports = [&](const std::string& file, std::vector<int>& ports) {
        return wait_for("both servers to print their port to " + file, 10s, [&] {
            std::ifstream in(file);
            ports.clear();
            for (int p; in >> p;)
                ports.push_back(p);
            return Sighting{ports.size() >= 2, ::testing::PrintToString(ports)};
        });
    };
    // One pair before the watcher starts (found by its start scan), one after.
    auto before = start_servers(dir.path() + "/before");
    std::vector<int> found_at_start;
    ASSERT_TRUE(chosen_ports(dir.path() + "/before", found_at_start));
    ASSERT_EQ(found_at_start.size(), 2u);
    WatchProcess watch(watch_args(ns, {"--protect"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    auto after = start_servers(dir.path() + "/after");
    std::vector<int> live;
    ASSERT_TRUE(chosen_ports(dir.path() + "/after", live));
    ASSERT_EQ(live.size(), 2u);
    BackgroundProcess configured(ns.exec({"nc", "-l", "127.0.0.1", "40600"}));
    std::vector<json> seen;
    ASSERT_TRUE(wait_for_record(watch, "port_reserved", 10s, seen)) << dump(seen) << watch.stderr_text();
    read_until_quiet(watch, seen);
    std::set<int> kernel_chosen(found_at_start.begin(), found_at_start.end());
    kernel_chosen.insert(live.begin(), live.end());
    for (int port : kernel_chosen) {
        bool reported = false;
        for (const json& j : of_type(seen, "listener_at_risk"))
            if (j["port"] == port) {
                reported = true;
                EXPECT_EQ(j.value("port_chosen_by", ""), "kernel") << j.dump();
                EXPECT_FALSE(j.contains("fix")) << j.dump();
            }
        EXPECT_TRUE(reported) << "no listener_at_risk for port " << port << "\n" << dump(seen);
        for (const json& j : of_type(seen, "port_reserved"))
            EXPECT_NE(j["port"], port) << "a port the kernel chose was reserved:\n" << dump(seen);
    }
    const auto reserved = of_type(seen, "port_reserved");
    ASSERT_EQ(reserved.size(), 1u) << dump(seen);
    EXPECT_EQ(reserved[0]["port"], 40600);
    for (const json& j : of_type(seen, "listener_at_risk"))
        if (j["port"] == 40600)
            EXPECT_EQ(j.value("port_chosen_by", ""), "program") << j.dump();
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40600");
    stop(watch);
}

// A listener in a Kubernetes pod: a real cgroup named as the kubelet names
// a pod's container's (cgroupfs driver), a real server moved into it. Its
// listener_at_risk carries the pod's uid and the pod-spec line that keeps
// the port reserved past the pod's restarts; audit's record does too.
TEST(Prevention, AListenerInAPodGetsThePodSpecLine)
{
    REQUIRE_ROOT();
    const std::string root = cgroup2_mount();
    ASSERT_FALSE(root.empty()) << "no cgroup v2 mount";
    const std::string pod = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
    const std::string id(64, 'c');
    struct PodCgroup {
        std::string top, leaf;
        ~PodCgroup()
        {
            for (std::string d = leaf; d.size() > top.size(); d = d.substr(0, d.rfind('/')))
                rmdir(d.c_str());
            rmdir(top.c_str());
        }
    } cgroup{root + "/kubepods-test-" + std::to_string(getpid()),
             root + "/kubepods-test-" + std::to_string(getpid()) + "/kubepods/besteffort/pod" + pod + "/" + id};
    std::filesystem::create_directories(cgroup.leaf);
    NamedNetns ns;
    ns.write_sysctl("net/ipv4/ip_local_reserved_ports", "40001");
    WatchProcess watch(watch_args(ns));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    {
        // Moved first, then into the namespace with nsenter (ip netns exec
        // would mount a /sys without the cgroup hierarchy), one pid throughout.
        BackgroundProcess server({"sh", "-c",
                                  "echo $$ > " + cgroup.leaf + "/cgroup.procs && exec nsenter --net=/run/netns/" +
                                      ns.name() + " nc -l 127.0.0.1 40600"});
        std::vector<json> seen;
        const auto listener = wait_for_record(watch, "listener_at_risk", 10s, seen);
        ASSERT_TRUE(listener) << dump(seen) << watch.stderr_text();
        EXPECT_EQ((*listener)["pod_uid"], pod) << listener->dump();
        EXPECT_EQ((*listener)["container_id"], id) << listener->dump();
        // watch without --protect may not read the pod's list: the port alone.
        EXPECT_EQ((*listener)["pod_fix"],
                  "securityContext: {sysctls: [{name: net.ipv4.ip_local_reserved_ports, value: \"40600\"}]}")
            << listener->dump();
        const RunResult audit =
            run_command({selfconnect_binary(), "audit", "--json", "--netns", std::to_string(ns.inode())});
        bool found = false;
        std::vector<std::string> lines;
        std::istringstream out(audit.out);
        for (std::string line; std::getline(out, line);)
            lines.push_back(line);
        for (const json& j : records_of_type(lines, "listener_at_risk"))
            if (j["port"] == 40600) {
                found = true;
                EXPECT_EQ(j["pod_fix"],
                          "securityContext: {sysctls: [{name: net.ipv4.ip_local_reserved_ports, value: \"40001,40600\"}]}")
                    << j.dump();
            }
        EXPECT_TRUE(found) << audit.out << audit.err;
    }
    stop(watch);
}

TEST(Prevention, ProtectMaxCapsThePortsReservedInANamespace)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    WatchProcess watch(watch_args(ns, {"--protect", "--protect-max", "3", "--retry-threshold", "2"}));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    // A client probing six closed ports, three times each.
    const RunResult probe = run_command(
        ns.shell("for p in 40700 40702 40704 40706 40708 40710; do for i in 1 2 3; do nc -z 127.0.0.1 $p; done; done; true"),
        60s);
    ASSERT_EQ(probe.status, 0) << probe.err;
    std::vector<json> seen;
    read_until_quiet(watch, seen);
    const auto reservations = of_type(seen, "port_reserved");
    ASSERT_EQ(reservations.size(), 4u) << dump(seen);
    for (size_t i = 0; i < 3; ++i)
        EXPECT_FALSE(reservations[i].contains("error")) << reservations[i].dump();
    ASSERT_TRUE(reservations[3].contains("error")) << reservations[3].dump();
    EXPECT_NE(reservations[3]["error"].get<std::string>().find("--protect-max 3"), std::string::npos);
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40700,40702,40704");
    stop(watch);
}

TEST(Prevention, AHeldSelfConnectBlockingAServerIsNamed)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    TempDir dir;
    WatchProcess watch(watch_args(ns));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    // The seed's client in a loop until it meets itself; its stdin a FIFO
    // kept open, so that it stays connected (to itself).
    std::optional<BackgroundProcess> loop;
    loop.emplace(ns.held_nc(dir.path(), "127.0.0.1 40800", true));
    std::vector<json> seen;
    auto self = wait_for_record(watch, "self_connect", 120s, seen);
    ASSERT_TRUE(self) << dump(seen);
    const pid_t holder = (*self)["pid"].get<pid_t>();
    const RunResult server =
        run_command(ns.exec({"python3", "-m", "http.server", "40800", "--bind", "127.0.0.1"}), 20s);
    EXPECT_NE(server.status, 0) << "the server should not have started";
    auto blocked = wait_for_record(watch, "listener_blocked", 10s, seen);
    loop.reset();  // the loop and its nc end
    ASSERT_TRUE(blocked) << dump(seen) << server.err;
    const json& b = *blocked;
    EXPECT_EQ(b["comm"], "python3");
    EXPECT_EQ(b["port"], 40800);
    EXPECT_EQ(b["addr"], "127.0.0.1");
    EXPECT_EQ(b["netns"], ns.inode());
    expect_holder(b["holder"], holder, "127.0.0.1", 40800, true);
    stop(watch);
}

TEST(Prevention, AnOrdinaryConnectionOnAServersPortIsNamed)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    TempDir dir;
    BackgroundProcess upstream(ns.exec({"nc", "-l", "127.0.0.1", "30000"}));
    ASSERT_TRUE(ns.wait_listening(30000));
    WatchProcess watch(watch_args(ns));
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    // An outgoing connection from port 40900, the port a server wants.
    BackgroundProcess client(ns.held_nc(dir.path(), "-p 40900 127.0.0.1 30000", false));
    ASSERT_TRUE(wait_for("the client's connection from port 40900", 10s, [&] {
        const RunResult ss = run_command(ns.exec({"ss", "-Htn", "sport = :40900"}));
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));
    const RunResult server = run_command(ns.exec({"python3", "-m", "http.server", "40900"}), 20s);
    EXPECT_NE(server.status, 0) << "the server should not have started";
    std::vector<json> seen;
    auto blocked = wait_for_record(watch, "listener_blocked", 10s, seen);
    ASSERT_TRUE(blocked) << dump(seen) << server.err;
    const json& b = *blocked;
    EXPECT_EQ(b["comm"], "python3");
    EXPECT_EQ(b["port"], 40900);
    expect_holder(b["holder"], client.pid(), "127.0.0.1", 30000, false);
    stop(watch);
}

TEST(Prevention, AuditFixReservesInEachNamespaceMergedAndOnlyThere)
{
    REQUIRE_ROOT();
    NamedNetns one;
    NamedNetns two;
    NamedNetns untouched;
    one.write_sysctl("net/ipv4/ip_local_reserved_ports", "40005");
    BackgroundProcess a(one.exec({"nc", "-l", "127.0.0.1", "40110"}));
    BackgroundProcess b(two.exec({"nc", "-l", "127.0.0.1", "40220"}));
    BackgroundProcess c(untouched.exec({"nc", "-l", "127.0.0.1", "40330"}));
    ASSERT_TRUE(one.wait_listening(40110));
    ASSERT_TRUE(two.wait_listening(40220));
    ASSERT_TRUE(untouched.wait_listening(40330));
    const std::vector<std::string> scope{"--netns", std::to_string(one.inode()), "--netns",
                                         std::to_string(two.inode())};
    std::vector<std::string> fix{selfconnect_binary(), "audit", "--json", "--fix"};
    fix.insert(fix.end(), scope.begin(), scope.end());
    const RunResult fixed = run_command(fix);
    EXPECT_EQ(fixed.status, 0) << fixed.out << fixed.err;
    std::vector<json> records;
    size_t at = 0;
    while (at < fixed.out.size()) {
        const size_t end = fixed.out.find('\n', at);
        records.push_back(json::parse(fixed.out.substr(at, end - at)));
        at = end == std::string::npos ? fixed.out.size() : end + 1;
    }
    const auto reserved = of_type(records, "port_reserved");
    ASSERT_EQ(reserved.size(), 2u) << fixed.out;
    for (const json& r : reserved) {
        const bool first = r["netns"] == one.inode();
        EXPECT_EQ(r["port"], first ? 40110 : 40220);
        EXPECT_EQ(r["reason"], "listener_at_risk");
        EXPECT_EQ(r["reserved_ports"], first ? "40005,40110" : "40220") << r.dump();
    }
    EXPECT_EQ(one.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40005,40110");
    EXPECT_EQ(two.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40220");
    EXPECT_EQ(untouched.read_sysctl("net/ipv4/ip_local_reserved_ports"), "") << "outside --netns";

    std::vector<std::string> again{selfconnect_binary(), "audit", "--json"};
    again.insert(again.end(), scope.begin(), scope.end());
    const RunResult second = run_command(again);
    EXPECT_EQ(second.status, 0) << second.out;
    EXPECT_EQ(second.out, "");
}

// Named or not: a namespace made with unshare, reached through its
// listener's /proc/PID/ns/net.
TEST(Prevention, ProtectWorksInANamespaceWithNoName)
{
    REQUIRE_ROOT();
    TempDir dir;
    BackgroundProcess server({"unshare", "-n", "sh", "-c",
                              "ip link set lo up && echo '40000 41999' > /proc/sys/net/ipv4/ip_local_port_range && "
                              "touch " + dir.path() + "/up && exec nc -l 127.0.0.1 40650"});
    std::string ns_link;
    ASSERT_TRUE(wait_for("the server's namespace to be set up", 10s, [&] {
        if (access((dir.path() + "/up").c_str(), F_OK) != 0)
            return Sighting{false, "no " + dir.path() + "/up yet"};
        const RunResult link = run_command({"readlink", "/proc/" + std::to_string(server.pid()) + "/ns/net"});
        ns_link = link.out;
        return Sighting{!ns_link.empty(), "readlink: \"" + link.out + link.err + "\""};
    }));
    const uint32_t inode = static_cast<uint32_t>(std::stoul(ns_link.substr(ns_link.find('[') + 1)));
    const std::string netns_path = "--net=/proc/" + std::to_string(server.pid()) + "/ns/net";
    ASSERT_TRUE(wait_for("the server to listen on 40650", 10s, [&] {
        const RunResult ss = run_command({"nsenter", netns_path, "ss", "-Hltn", "sport = :40650"});
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    }));
    WatchProcess watch({"watch", "--json", "--protect", "--netns", std::to_string(inode), "--attach-mode",
                        attach_mode_under_test()});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    std::vector<json> seen;
    auto reserved = wait_for_record(watch, "port_reserved", 10s, seen);
    ASSERT_TRUE(reserved) << dump(seen) << watch.stderr_text();
    EXPECT_EQ((*reserved)["port"], 40650);
    EXPECT_EQ((*reserved)["netns"], inode);
    EXPECT_FALSE(reserved->contains("error")) << reserved->dump();
    const RunResult list =
        run_command({"nsenter", netns_path, "cat", "/proc/sys/net/ipv4/ip_local_reserved_ports"});
    EXPECT_EQ(list.out, "40650\n");
    stop(watch);
}
