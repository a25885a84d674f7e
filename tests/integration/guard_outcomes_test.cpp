// The guard changes nothing but the one port it must. Each way real
// programs use sockets runs twice in the same test, on the same fresh
// namespaces: without the guard (the control) and with it, and every
// outcome must be the same but the self-connect. A client namespace with
// the range 40000-40063 reaches a server namespace behind a veth pair
// (10.79.0.1 here, .2 there), where two servers listen on 40030 and 40031
// of the client's range.
#include <gtest/gtest.h>

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "named_netns.h"
#include "self_connect.h"
#include "noop.skel.h"
#include "watch_process.h"
#include "watch_records.h"

using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

// Two namespaces of the test's own and the servers in the second.
class ClientAndServer {
public:
    ClientAndServer() : client_("40000 40063"), server_("40000 40063")
    {
        const std::string veth = "sc-g" + std::to_string(getpid() % 100000);
        EXPECT_EQ(run_command({"ip", "link", "add", veth, "netns", client_.name(), "type", "veth", "peer", "name",
                               "p0", "netns", server_.name()})
                      .status,
                  0);
        run_command(client_.shell("ip addr add 10.79.0.1/24 dev " + veth + " && ip link set " + veth + " up"));
        run_command(server_.shell("ip addr add 10.79.0.2/24 dev p0 && ip link set p0 up"));
        // A server that accepts every connection and holds it until the
        // client closes, then closes its side (the client, which closed
        // first, keeps the TIME_WAIT).
        const std::string server =
            "import socket, threading, sys\n"
            "srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "srv.bind(('10.79.0.2', int(sys.argv[1]))); srv.listen(1024)\n"
            "def serve(c):\n"
            "    while c.recv(4096): pass\n"
            "    c.close()\n"
            "while True:\n"
            "    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n";
        for (int port : {40030, 40031}) {
            servers_.push_back(std::make_unique<BackgroundProcess>(
                server_.exec({"python3", "-c", server, std::to_string(port)})));
            EXPECT_TRUE(server_.wait_listening(static_cast<uint16_t>(port)));
        }
    }
    const NamedNetns& client() const { return client_; }

    // `py` in the client namespace: its output.
    std::string run(const std::string& py) const
    {
        const RunResult r = run_command(client_.exec({"python3", "-c", kPrelude + py}), 120s);
        EXPECT_EQ(r.status, 0) << r.err;
        return r.out;
    }

    static constexpr const char* kPrelude =
        "import socket, errno, select, struct\n"
        "IP_BIND_ADDRESS_NO_PORT = 24\n"
        "IP_LOCAL_PORT_RANGE = 51\n"
        "def err(e): return errno.errorcode.get(e.errno, str(e))\n"
        // A connect to a local closed port of the range, N times: how many met themselves.
        "def local_loop(port, n, setup=lambda s: None):\n"
        "    met = 0\n"
        "    for _ in range(n):\n"
        "        s = socket.socket(); setup(s)\n"
        "        try: s.connect(('127.0.0.1', port)); met += 1\n"
        "        except OSError: pass\n"
        "        s.close()\n"
        "    return met\n";

private:
    NamedNetns client_;
    NamedNetns server_;
    std::vector<std::unique_ptr<BackgroundProcess>> servers_;
};

// `watch --guard`, scoped to the client namespace.
std::unique_ptr<WatchProcess> guard_of(const NamedNetns& ns)
{
    auto w = std::make_unique<WatchProcess>(std::vector<std::string>{
        "watch", "--json", "--guard", "--netns", std::to_string(ns.inode()), "--attach-mode", attach_mode_under_test()});
    EXPECT_TRUE(w->wait_ready()) << w->stderr_text();
    return w;
}

// Stops the guard: (prevented, missed) from its summary line.
std::pair<long, long> stop_guard(WatchProcess& w)
{
    w.signal(SIGINT);
    w.lines_until_quiet(2s);
    EXPECT_EQ(w.wait_exit(15s), 0) << w.stderr_text();
    std::smatch m;
    const std::string err = w.stderr_text();
    if (!std::regex_search(err, m, std::regex(R"(guard: (\d+) self-connects prevented, (\d+) connects)")))
        return {-1, -1};
    return {std::stol(m[1]), std::stol(m[2])};
}

// The same script without the guard and with it, on the same namespaces
// (the first run's sockets all closed and, where it made TIME_WAITs, one
// minute's worth of them still there: so each script runs in a namespace
// pair of its own).
struct Outcomes {
    std::string unguarded;
    std::string guarded;
    long prevented = -1;
    long missed = -1;
};

Outcomes both_ways(const std::string& py)
{
    Outcomes o;
    {
        ClientAndServer control;
        o.unguarded = control.run(py);
    }
    ClientAndServer hosts;
    auto guard = guard_of(hosts.client());
    o.guarded = hosts.run(py);
    std::tie(o.prevented, o.missed) = stop_guard(*guard);
    return o;
}

}  // namespace

// 1. Ports are shared across destinations as the kernel shares them: as
// many connections held open at once to two remote servers as without the
// guard (64 ports, each once per destination).
TEST(GuardOutcomes, PortsAreSharedAcrossDestinationsAsWithoutIt)
{
    REQUIRE_ROOT();
    const std::string py =
        "held = []; why = ''\n"
        "for i in range(200):\n"
        "    s = socket.socket()\n"
        "    try: s.connect(('10.79.0.2', 40030 + i % 2)); held.append(s)\n"
        "    except OSError as e: why = err(e); break\n"
        "print('held', len(held), why)\n";
    const Outcomes o = both_ways(py);
    EXPECT_EQ(o.unguarded, "held 128 EADDRNOTAVAIL\n");
    EXPECT_EQ(o.guarded, o.unguarded);
    EXPECT_EQ(o.missed, 0);
}

// 2. TIME_WAIT is reused as the kernel reuses it, and does not switch the
// guard off: 64 short connections to each server (the client closes first,
// so 128 TIME_WAITs fill the range for those destinations), then a local
// retry loop on a closed port of the range. Unguarded it meets itself;
// guarded it never does, and every connect was seen.
TEST(GuardOutcomes, TimeWaitIsTheKernelsAndTheGuardStaysOn)
{
    REQUIRE_ROOT();
    const std::string py =
        "ok = 0\n"
        "for i in range(128):\n"
        "    s = socket.socket()\n"
        "    try: s.connect(('10.79.0.2', 40030 + i % 2)); ok += 1\n"
        "    except OSError as e: pass\n"
        "    s.close()\n"
        "print('short', ok)\n"
        // The servers close their side as their threads get to it: the
        // TIME_WAITs come when they have (5 s at most).
        "import time\n"
        "def time_waits(): return sum(l.split()[3] == '06' for l in open('/proc/net/tcp').readlines()[1:])\n"
        "end = time.time() + 5\n"
        "while time_waits() < 120 and time.time() < end: time.sleep(0.05)\n"
        "tw = time_waits()\n"
        "print('time_wait', 'most' if tw >= 120 else tw)\n"
        "met = local_loop(40010, 600)\n"
        "print('loop met', 'none' if met == 0 else 'some')\n";
    const Outcomes o = both_ways(py);
    EXPECT_NE(o.unguarded.find("short 128\ntime_wait most\nloop met some\n"), std::string::npos) << o.unguarded;
    EXPECT_NE(o.guarded.find("short 128\ntime_wait most\nloop met none\n"), std::string::npos) << o.guarded;
    EXPECT_GE(o.prevented, 1);
    EXPECT_EQ(o.missed, 0);
}

// 3. SO_REUSEADDR pools: 40 connections held open to one server, each
// socket with SO_REUSEADDR (and SO_REUSEPORT), all made, as without the
// guard.
TEST(GuardOutcomes, ReuseAddressAndReusePortPoolsAreUntouched)
{
    REQUIRE_ROOT();
    const std::string py =
        "for opt in ('SO_REUSEADDR', 'SO_REUSEPORT'):\n"
        "    held = []; errors = {}\n"
        "    for i in range(40):\n"
        "        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, getattr(socket, opt), 1)\n"
        "        try: s.connect(('10.79.0.2', 40030)); held.append(s)\n"
        "        except OSError as e: errors[err(e)] = errors.get(err(e), 0) + 1\n"
        "    print(opt, len(held), errors)\n"
        "    for s in held: s.close()\n"
        "met = local_loop(40010, 600, lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))\n"
        "print('loop met', 'none' if met == 0 else 'some')\n";
    const Outcomes o = both_ways(py);
    // SO_REUSEPORT's outcome is the kernel's own (sockets given one port
    // collide at connect, 24 or 25 of 40 made here, varying from run to
    // run): with the guard within that spread (the guard before this one
    // made 7).
    const std::regex reuseport("SO_REUSEPORT (\\d+) ");
    std::smatch unguarded_reuseport, guarded_reuseport;
    ASSERT_TRUE(std::regex_search(o.unguarded, unguarded_reuseport, reuseport)) << o.unguarded;
    ASSERT_TRUE(std::regex_search(o.guarded, guarded_reuseport, reuseport)) << o.guarded;
    EXPECT_NEAR(std::stoi(guarded_reuseport[1]), std::stoi(unguarded_reuseport[1]), 4)
        << "unguarded:\n" << o.unguarded << "guarded:\n" << o.guarded;
    EXPECT_NE(o.unguarded.find("SO_REUSEADDR 40 {}\n"), std::string::npos) << o.unguarded;
    EXPECT_NE(o.guarded.find("SO_REUSEADDR 40 {}\n"), std::string::npos) << o.guarded;
    EXPECT_NE(o.unguarded.find("loop met some\n"), std::string::npos) << o.unguarded;
    EXPECT_NE(o.guarded.find("loop met none\n"), std::string::npos) << o.guarded;
    EXPECT_GE(o.prevented, 1);
    EXPECT_EQ(o.missed, 0);
}

// 4. The socket's own range (IP_LOCAL_PORT_RANGE, Linux 6.3) is kept: every
// port it is given, to a remote server or to a local closed port, lies in
// its slice 40000-40007, and the local loop never meets itself.
TEST(GuardOutcomes, TheSocketsOwnPortRangeIsKept)
{
    REQUIRE_ROOT();
    const std::string py =
        "def sliced(s): s.setsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE, struct.pack('I', 40000 | (40007 << 16)))\n"
        "try: sliced(socket.socket())\n"
        "except OSError: print('unsupported'); raise SystemExit\n"
        "outside = 0\n"
        "for addr, port in (('10.79.0.2', 40040), ('127.0.0.1', 40004)):\n"
        "    for _ in range(200):\n"
        "        s = socket.socket(); sliced(s); s.setblocking(False)\n"
        "        s.connect_ex((addr, port))\n"
        "        outside += not 40000 <= s.getsockname()[1] <= 40007\n"
        "        select.select([], [s], [], 5); s.close()\n"
        "print('outside the slice', outside)\n"
        // Another port of the slice: the control's 40004 may have met itself
        // above, and its TIME_WAIT keeps it for a minute.
        "met = local_loop(40006, 300, sliced)\n"
        "print('loop met', 'none' if met == 0 else 'some')\n";
    const Outcomes o = both_ways(py);
    if (o.unguarded == "unsupported\n")
        GTEST_SKIP() << "this kernel has no IP_LOCAL_PORT_RANGE (Linux 6.3)";
    EXPECT_EQ(o.unguarded, "outside the slice 0\nloop met some\n");
    EXPECT_EQ(o.guarded, "outside the slice 0\nloop met none\n");
    EXPECT_GE(o.prevented, 1);
    EXPECT_EQ(o.missed, 0);
}

// 5. Sockets that bind only an address (IP_BIND_ADDRESS_NO_PORT, as nginx's
// proxy_bind and Envoy do) are guarded too; a socket whose connect was
// refused can bind afterwards as before; and a connect another cgroup
// program refuses is refused as before, with nothing for the guard to do.
TEST(GuardOutcomes, AddressOnlyBindsFailedConnectsAndOtherPoliciesAreAsWithoutIt)
{
    REQUIRE_ROOT();
    const std::string py =
        "def address_only(s):\n"
        "    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1); s.bind(('127.0.0.1', 0))\n"
        "met = local_loop(40004, 600, address_only)\n"
        "print('address-only loop met', 'none' if met == 0 else 'some')\n"
        // bind() to port 0, as Python's source_address does: the kernel
        // chooses the port there, from bind()'s half (odd ports here).
        "met = local_loop(40005, 600, lambda s: s.bind(('127.0.0.1', 0)))\n"
        "print('port-0 bind loop met', 'none' if met == 0 else 'some')\n"
        "binds = set()\n"
        "for _ in range(50):\n"
        "    s = socket.socket()\n"
        "    try: s.connect(('127.0.0.1', 40010)); s.close(); continue\n"
        "    except OSError: pass\n"
        "    try: s.bind(('127.0.0.1', 0)); binds.add('bound')\n"
        "    except OSError as e: binds.add(err(e))\n"
        "    s.close()\n"
        "print('bind after a refused connect', sorted(binds))\n";
    const Outcomes o = both_ways(py);
    EXPECT_EQ(o.unguarded,
              "address-only loop met some\nport-0 bind loop met some\nbind after a refused connect ['bound']\n");
    EXPECT_EQ(o.guarded,
              "address-only loop met none\nport-0 bind loop met none\nbind after a refused connect ['bound']\n");
    EXPECT_GE(o.prevented, 1);
    EXPECT_EQ(o.missed, 0);

    // Another tool's connect policy, on a cgroup of the test's own: it
    // refuses every connect to port 40005. With and without the guard, the
    // same EPERM, and the guard sees none of them (no SYN is sent).
    struct NoopDeleter {
        void operator()(noop_bpf* s) const { noop_bpf__destroy(s); }
    };
    std::unique_ptr<noop_bpf, NoopDeleter> policy(noop_bpf__open());
    ASSERT_TRUE(policy);
    for (bpf_program* p : {policy->progs.noop_state_change, policy->progs.noop_state_change_tp,
                           policy->progs.noop_tc, policy->progs.count_tc})
        bpf_program__set_autoload(p, false);
    ASSERT_EQ(noop_bpf__load(policy.get()), 0);
    const std::string root = access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
    const std::string cgroup = root + "/sc-guard-test-" + std::to_string(getpid());
    ASSERT_EQ(mkdir(cgroup.c_str(), 0755), 0) << cgroup;
    const int cg = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(cg, 0);
    bpf_link* link = bpf_program__attach_cgroup(policy->progs.refuse_connect4, cg);
    ASSERT_TRUE(link);
    const std::string refused =
        "for _ in range(300):\n"
        "    s = socket.socket()\n"
        "    try: s.connect(('127.0.0.1', 40005)); outcomes.add('ok')\n"
        "    except OSError as e: outcomes.add(err(e))\n"
        "    s.close()\n"
        "print('policy', sorted(outcomes))\n";
    // Joined before entering the namespace: `ip netns exec` mounts a sysfs
    // of its own, without the cgroup hierarchy.
    auto in_cgroup = [&](const NamedNetns& ns) {
        std::vector<std::string> argv{"sh", "-c", "echo $$ > " + cgroup + "/cgroup.procs && exec \"$@\"", "sh"};
        for (const std::string& a :
             ns.exec({"python3", "-c", std::string(ClientAndServer::kPrelude) + "outcomes = set()\n" + refused}))
            argv.push_back(a);
        const RunResult r = run_command(argv);
        EXPECT_EQ(r.status, 0) << r.err;
        return r.out;
    };
    std::string unguarded, guarded;
    {
        NamedNetns control("40000 40009");
        unguarded = in_cgroup(control);
    }
    NamedNetns ns("40000 40009");
    auto guard = guard_of(ns);
    guarded = in_cgroup(ns);
    EXPECT_EQ(stop_guard(*guard), (std::pair<long, long>{0, 0}));
    EXPECT_EQ(unguarded, "policy ['EPERM']\n");
    EXPECT_EQ(guarded, unguarded);
    bpf_link__destroy(link);
    close(cg);
    rmdir(cgroup.c_str());
}

// A port back from a self-connect's TIME_WAIT: the kernel reuses it (a
// loopback 4-tuple, tcp_tw_reuse) and its SYN echoes the old timestamp.
// The guard's reset carries no options, so the PAWS check cannot drop it
// and the SYN is not sent again: with a self-connect's TIME_WAIT left in
// the namespace before the guard starts, 1000 tries never meet themselves.
TEST(GuardOutcomes, APortBackFromTimeWaitIsRefusedToo)
{
    REQUIRE_ROOT();
    NamedNetns ns("40000 40009");
    const std::string loop =
        "n=0; r=0; for i in $(seq TRIES); do if (exec 3<>/dev/tcp/127.0.0.1/40004) 2>/dev/null; then n=$((n+1)); "
        "else r=$((r+1)); fi; done; echo \"met=$n refused=$r\"";
    auto tries = [&](int n) {
        return std::regex_replace(loop, std::regex("TRIES"), std::to_string(n));
    };
    const RunResult first = run_command(ns.exec({"bash", "-c", tries(300)}), 120s);
    ASSERT_EQ(first.out.rfind("met=0", 0), std::string::npos) << "no self-connect to leave a TIME_WAIT: " << first.out;
    // connect() takes a port back from a TIME_WAIT of the same four ends
    // only once its last timestamp is a second old (net.ipv4.tcp_tw_reuse,
    // 2 by default: loopback): on a quiet machine both loops and the
    // guard's start fit in that second, and the port never came back.
    std::this_thread::sleep_for(1100ms);
    auto guard = guard_of(ns);
    const RunResult guarded = run_command(ns.exec({"bash", "-c", tries(1000)}), 120s);
    EXPECT_EQ(guarded.out, "met=0 refused=1000\n");
    const auto [prevented, missed] = stop_guard(*guard);
    EXPECT_GE(prevented, 1);
    EXPECT_EQ(missed, 0);
}
