// `selfconnect audit`: sockets that are already broken, listeners that are
// exposed, and the fix, across network namespaces.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/netns.h"
#include "kernel/socket_census.h"
#include "named_netns.h"
#include "prevent/namespace_scans.h"
#include "self_connect.h"
#include "wait_for.h"
#include "watch_process.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

std::vector<json> audit_records(const RunResult& r)
{
    std::vector<json> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
        out.push_back(json::parse(line));
    return out;
}

const json* find_record(const std::vector<json>& rs, const std::string& type, uint16_t port, uint32_t netns)
{
    for (const auto& r : rs)
        if (r["type"] == type && r["port"] == port && r["netns"] == netns)
            return &r;
    return nullptr;
}

// Waits until a socket connected to itself on 127.0.0.1:port is open in
// this namespace: what the audit is to find.
::testing::AssertionResult self_connected_socket_open(uint16_t port)
{
    const std::string p = std::to_string(port);
    return wait_for("a socket connected to itself on port " + p, 10s, [&] {
        const RunResult ss = run_command({"ss", "-Htn", "state", "established", "sport = :" + p, "dport = :" + p});
        return Sighting{!ss.out.empty(), "ss: \"" + ss.out + ss.err + "\""};
    });
}

}  // namespace

TEST(Audit, ASelfConnectedSocketHeldOpenBeforeTheAuditIsFoundWithItsOwner)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(30);
    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = "sc-holder";
    plan.hold = true;
    const SelfConnectChild child = start_self_connects(plan);
    ASSERT_TRUE(self_connected_socket_open(port));

    const RunResult r = run_command({selfconnect_binary(), "audit", "--json"});
    EXPECT_EQ(r.status, 1) << r.err;
    const auto records = audit_records(r);
    const json* found = find_record(records, "self_connect", port, child.netns);
    ASSERT_NE(found, nullptr) << r.out;
    EXPECT_EQ((*found)["pid"], child.pid);
    EXPECT_EQ((*found)["comm"], "sc-holder");
    EXPECT_EQ((*found)["addr"], "127.0.0.1");
    kill(child.pid, SIGTERM);
    wait_child(child.pid);
}

TEST(Audit, KillMakesTheOwnersBlockedReceiveFailAndASecondAuditFindsNothing)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(31);
    // A child that self-connects and then blocks in recv().
    StuckClient child = start_stuck_client(port, "sc-blocked");
    ASSERT_TRUE(self_connected_socket_open(port));

    const RunResult killed = run_command({selfconnect_binary(), "audit", "--json", "--kill"});
    EXPECT_EQ(killed.status, 1) << killed.err;
    const auto killed_records = audit_records(killed);
    const json* rec = find_record(killed_records, "self_connect", port, netns_inode_of_self());
    ASSERT_NE(rec, nullptr) << killed.out;
    EXPECT_EQ((*rec)["killed"], true);

    EXPECT_EQ(wait_recv_error(child), ECONNABORTED);

    const RunResult again = run_command({selfconnect_binary(), "audit", "--json"});
    const auto again_records = audit_records(again);
    EXPECT_EQ(find_record(again_records, "self_connect", port, netns_inode_of_self()), nullptr);
}

namespace {

int listen_on(uint16_t port)
{
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{AF_INET, htons(port), {htonl(INADDR_LOOPBACK)}, {}};
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(s, 4) != 0) {
        close(s);
        return -1;
    }
    return s;
}

bool write_sysctl(const char* path, const char* value)
{
    FILE* f = fopen(path, "w");
    if (!f)
        return false;
    const bool ok = fputs(value, f) >= 0;
    return fclose(f) == 0 && ok;
}

}  // namespace

// The audit walks each namespace's whole socket table only where a census
// of the host's descriptors cannot rule a self-connect out. One that no
// descriptor holds (here in flight in a unix socket, as a kernel socket or
// an io_uring direct descriptor would be) is invisible to the census, in a
// namespace of the test's own where nothing else is: the kernel's count
// of its sockets differs from the census, and the audit must find it
// anyway. An audit that trusted the census alone would miss it.
TEST(Audit, ASelfConnectNoDescriptorHoldsIsFoundAllTheSame)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    const uint16_t port = 40100;  // inside the namespace's range, 40000-41999
    const pid_t child = start_self_connect_in_flight(port, "/run/netns/" + ns.name());
    ASSERT_GT(child, 0) << "the self-connect could not be made and sent";
    // Every namespace: the census is taken only for more than one.
    const RunResult r = run_command({selfconnect_binary(), "audit", "--json"});
    kill(child, SIGTERM);
    wait_child(child);
    EXPECT_EQ(r.status, 1) << r.err;
    const auto records = audit_records(r);
    const json* found = find_record(records, "self_connect", port, ns.inode());
    ASSERT_NE(found, nullptr) << r.out << r.err;
    EXPECT_EQ((*found)["addr"], "127.0.0.1");
}

namespace {

// The scans of `namespaces` (by inode) with the real census, except that
// its first taking counts `extra` held sockets more in `lied_about`: as if
// one had closed between the census and the namespace's count. Whether
// the self-connect on `port` there was found, and how often the census
// was taken.
std::pair<bool, int> scan_with_census_off_by(uint32_t lied_about, uint64_t extra, bool lie_again,
                                             const std::vector<uint32_t>& namespaces, uint16_t port)
{
    int taken = 0;
    const selfconnect::CensusSource census = [&]() -> std::optional<selfconnect::TcpCensusByNetns> {
        std::optional<selfconnect::TcpCensusByNetns> real = selfconnect::take_tcp_census().census;
        if (real && (taken == 0 || lie_again))
            (*real)[lied_about].held += extra;
        ++taken;
        return real;
    };
    const selfconnect::RiskScanner scanner;
    bool found = false;
    for (const selfconnect::NamespaceScan& scan :
         selfconnect::scan_namespaces(scanner, selfconnect::list_network_namespaces(), namespaces, census))
        if (scan.inode == lied_about && scan.risks)
            for (const selfconnect::Finding& f : scan.risks->findings)
                found |= f.record.type() == selfconnect::RecordType::SelfConnect && f.record.port == port;
    return {found, taken};
}

}  // namespace

// The census is taken again after the counts: a namespace read for its
// listeners alone whose census changed in between (a socket closed, say,
// which had made the counts agree over one no descriptor holds) is read
// whole. The census is made to say one socket more the first time, as a
// close between it and the count would: the second census finds the
// self-connect in flight; a census that says the same both times (the
// control) hides it, which is what a single census would do.
TEST(Audit, ANamespaceWhoseCensusChangedWhileItWasReadIsReadWhole)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    NamedNetns other;
    const pid_t child = start_self_connect_in_flight(40100, "/run/netns/" + ns.name());
    ASSERT_GT(child, 0) << "the self-connect could not be made and sent";
    ASSERT_TRUE(selfconnect::take_tcp_census().census) << "no census on this kernel";
    const std::vector<uint32_t> both{ns.inode(), other.inode()};
    const auto [found_after_change, taken] = scan_with_census_off_by(ns.inode(), 1, false, both, 40100);
    const auto [found_if_same, taken_control] = scan_with_census_off_by(ns.inode(), 1, true, both, 40100);
    kill(child, SIGTERM);
    wait_child(child);
    EXPECT_EQ(taken, 2);
    EXPECT_TRUE(found_after_change) << "a census that changed did not make the namespace read whole";
    EXPECT_EQ(taken_control, 2);
    EXPECT_FALSE(found_if_same) << "the control: a census that agrees both times reads listeners only";
}

// Audit holds a descriptor for each network namespace at once. Under a
// soft limit of open files lower than the namespaces there are (1024, the
// usual, on a node of a thousand pods), it raises the soft limit to the
// hard one and reads them all: here 48 namespaces of the test's own and a
// soft limit of 24, which before read as many as the limit let it open
// and said nothing of the rest.
TEST(Audit, MoreNamespacesThanTheSoftDescriptorLimitAreAllRead)
{
    REQUIRE_ROOT();
    const std::string prefix = "sc-nofile-" + std::to_string(getpid()) + "-";
    std::string add, del;
    for (int i = 0; i < 48; ++i) {
        add += "netns add " + prefix + std::to_string(i) + "\n";
        del += "netns delete " + prefix + std::to_string(i) + "\n";
    }
    ASSERT_EQ(run_command({"sh", "-c", "printf '" + add + "' | ip -batch -"}).status, 0);
    const auto namespaces_read = [](const RunResult& r) {
        const auto at = r.out.find("selfconnect audit: ");
        return at == std::string::npos ? -1 : std::stoi(r.out.substr(at + 19));
    };
    const RunResult unlimited = run_command({selfconnect_binary(), "audit"});
    const RunResult limited = run_command({"prlimit", "--nofile=24:4096", selfconnect_binary(), "audit"});
    run_command({"sh", "-c", "printf '" + del + "' | ip -force -batch -"});
    EXPECT_GE(namespaces_read(unlimited), 49) << unlimited.out << unlimited.err;
    EXPECT_EQ(namespaces_read(limited), namespaces_read(unlimited)) << limited.out << limited.err;
    EXPECT_EQ(limited.status, unlimited.status) << limited.err;
}

TEST(Audit, OnlyListenersInsideTheRangeAndNotReservedAreFlaggedWithTheExactFix)
{
    REQUIRE_ROOT();
    // A namespace of our own with its own range and reserved ports, and one
    // listener in each situation.
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "sc-listeners");
        if (!enter_fresh_netns() ||
            !write_sysctl("/proc/sys/net/ipv4/ip_local_port_range", "30000 30999") ||
            !write_sysctl("/proc/sys/net/ipv4/ip_local_reserved_ports", "30100,30500-30510"))
            _exit(10);
        for (uint16_t p : {29000, 30100, 30200, 30301})  // outside, reserved, at risk (even), at risk (odd)
            if (listen_on(p) < 0)
                _exit(11);
        const uint32_t ns = netns_inode_of_self();
        (void)!write(ready[1], &ns, sizeof(ns));
        pause();
        _exit(0);
    }
    close(ready[1]);
    uint32_t child_ns = 0;
    ASSERT_EQ(read(ready[0], &child_ns, sizeof(child_ns)), static_cast<ssize_t>(sizeof(child_ns)));
    close(ready[0]);

    // And in the host namespace: one listener inside its range, one below it.
    // Any socket of the host may hold a port of its range: the first free of
    // a few, odd ones (clients are handed even ones first).
    uint16_t host_in_range = 0;
    int l1 = -1;
    for (int i = 0; i < 20 && l1 < 0; ++i) {
        host_in_range = static_cast<uint16_t>(50001 + (unique_port(32) + 2 * i) % 5000);
        l1 = listen_on(host_in_range);
    }
    const uint16_t host_outside = unique_port(33);
    const int l2 = listen_on(host_outside);
    ASSERT_GE(l1, 0);
    ASSERT_GE(l2, 0);

    const RunResult r = run_command({selfconnect_binary(), "audit", "--json"});
    EXPECT_EQ(r.status, 1) << r.err;
    const auto records = audit_records(r);
    EXPECT_EQ(find_record(records, "listener_at_risk", 29000, child_ns), nullptr);
    EXPECT_EQ(find_record(records, "listener_at_risk", 30100, child_ns), nullptr);
    const json* even = find_record(records, "listener_at_risk", 30200, child_ns);
    const json* odd = find_record(records, "listener_at_risk", 30301, child_ns);
    ASSERT_NE(even, nullptr) << r.out;
    ASSERT_NE(odd, nullptr) << r.out;
    EXPECT_EQ((*even)["pid"], child);
    EXPECT_EQ((*even)["comm"], "sc-listeners");
    EXPECT_EQ((*even)["connect_tries_first"], true);
    EXPECT_EQ((*odd)["connect_tries_first"], false);
    EXPECT_EQ((*even)["fix"], "nsenter --net=/proc/" + std::to_string(child) +
                                  "/ns/net sysctl -w net.ipv4.ip_local_reserved_ports=30100,30200,30301,30500-30510");

    const uint32_t host_ns = netns_inode_of_self();
    const json* host = find_record(records, "listener_at_risk", host_in_range, host_ns);
    ASSERT_NE(host, nullptr) << r.out;
    EXPECT_TRUE((*host)["fix"].get<std::string>().starts_with("sysctl -w net.ipv4.ip_local_reserved_ports="));
    EXPECT_NE((*host)["fix"].get<std::string>().find(std::to_string(host_in_range)), std::string::npos);
    EXPECT_EQ(find_record(records, "listener_at_risk", host_outside, host_ns), nullptr);

    // The report for people says the same.
    const RunResult text = run_command({selfconnect_binary(), "audit"});
    EXPECT_EQ(text.status, 1);
    EXPECT_NE(text.out.find("LISTENER-AT-RISK 127.0.0.1:30200"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("ip_local_reserved_ports=30100,30200,30301,30500-30510"), std::string::npos);

    close(l1);
    close(l2);
    kill(child, SIGTERM);
    wait_child(child);
}

TEST(Audit, ExitStatusSaysWhetherAnythingWasFound)
{
    REQUIRE_ROOT();
    // A world of its own: new PID, mount and network namespaces, so audit
    // sees one empty namespace: nothing found, status 0.
    const std::string bin = selfconnect_binary();
    const RunResult empty = run_command(
        {"unshare", "-n", "-p", "-f", "-m", "--mount-proc", "sh", "-c", "mount -t tmpfs none /run && exec " + bin + " audit"});
    EXPECT_EQ(empty.status, 0) << empty.out << empty.err;
    EXPECT_NE(empty.out.find("0 self-connected sockets, 0 listeners at risk"), std::string::npos) << empty.out;

    // The same world with one exposed listener: status 1.
    const RunResult exposed = run_command(
        {"unshare", "-n", "-p", "-f", "-m", "--mount-proc", "sh", "-c",
         "mount -t tmpfs none /run && ip link set lo up && "
         "(nc -l 127.0.0.1 40000 &) && sleep 0.5 && exec " + bin + " audit --json"});
    EXPECT_EQ(exposed.status, 1) << exposed.out << exposed.err;
    EXPECT_NE(exposed.out.find("\"listener_at_risk\""), std::string::npos) << exposed.out;

    // Without privileges: one line, status 2.
    const RunResult unprivileged = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                "--inh-caps=-all", "--bounding-set=-all", bin, "audit"});
    EXPECT_EQ(unprivileged.status, 2);
    EXPECT_NE(unprivileged.err.find("CAP_SYS_ADMIN"), std::string::npos) << unprivileged.err;
}

// A namespace audit cannot enter (here setns() is refused, as a runtime's
// seccomp profile may refuse it) is said, and with --fix it is a fix that
// failed: exit 2, never "every fix applied".
TEST(Audit, FixFailsWhenANamespaceCouldNotBeEntered)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40110"}));
    ASSERT_TRUE(ns.wait_listening(40110));
    const std::string inode = std::to_string(ns.inode());
    const RunResult refused =
        run_command({SC_DENY_SYSCALL, "setns", selfconnect_binary(), "audit", "--fix", "--netns", inode});
    EXPECT_EQ(refused.status, 2) << refused.out << refused.err;
    EXPECT_NE(refused.err.find("skipped netns " + inode), std::string::npos) << refused.err;
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "");
    const RunResult fixed = run_command({selfconnect_binary(), "audit", "--fix", "--netns", inode});
    EXPECT_EQ(fixed.status, 0) << fixed.out << fixed.err;
    EXPECT_EQ(ns.read_sysctl("net/ipv4/ip_local_reserved_ports"), "40110");
}

// A namespace that cannot be read is said without --fix too, and the exit
// status is an error's: an audit that read nothing there is not a clean one
// (it was said only with --verbose, and audit exited 0).
TEST(Audit, ANamespaceItCannotReadIsSaidWithoutFix)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40112"}));
    ASSERT_TRUE(ns.wait_listening(40112));
    const std::string inode = std::to_string(ns.inode());
    const RunResult refused = run_command({SC_DENY_SYSCALL, "setns", selfconnect_binary(), "audit", "--netns", inode});
    EXPECT_NE(refused.err.find("skipped netns " + inode), std::string::npos) << refused.out << refused.err;
    EXPECT_EQ(refused.status, 2) << "an audit that could not read a namespace is no clean audit";
}

// watch's start scan says which namespaces it could not read, and why: their
// listeners and self-connects from before the start are not known.
TEST(Audit, WatchSaysWhichNamespacesItsStartScanCouldNotRead)
{
    REQUIRE_ROOT();
    NamedNetns ns;
    BackgroundProcess server(ns.exec({"nc", "-l", "127.0.0.1", "40114"}));
    ASSERT_TRUE(ns.wait_listening(40114));
    const std::string inode = std::to_string(ns.inode());
    WatchProcess watch({"watch", "--json", "--netns", inode}, {}, {SC_DENY_SYSCALL, "setns"});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();
    EXPECT_NE(watch.stderr_text().find("cannot read the sockets of network namespace " + inode), std::string::npos)
        << watch.stderr_text();
}
