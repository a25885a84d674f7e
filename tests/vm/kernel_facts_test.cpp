// The kernel facts: every fact the BPF programs read from a kernel structure
// or get from a helper whose presence differs by kernel, made to happen for
// real and compared with what the test knows to be true (who chose a port,
// the port, the process, the namespace, the holder, the lifetime, what the
// guard refused and saw). The same binary runs in each VM of the kernel
// matrix (tests/vm/init.sh) and on the host (ctest kernel.host.*), so a read
// that is right on one kernel's layout and wrong on another's fails there.
//
// It runs in a network namespace of its own (main() enters it before any
// test), so every sysctl it sets and every port --protect reserves is that
// namespace's; the watchers it starts are scoped to it with --netns.
#include <algorithm>
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "connect_loop.h"
#include "host/tcp_census.h"
#include "kernel/kernel_program.h"
#include "kernel/socket_census.h"
#include "port_list.h"
#include "self_connect.h"
#include "watch_process.h"
#include "watch_records.h"

using namespace selfconnect::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The test's own namespace and its ephemeral range: the listeners' ports,
// named or chosen by the kernel, all fall inside it.
uint32_t g_netns = 0;
constexpr uint16_t kRangeLo = 40000;
constexpr uint16_t kRangeHi = 40999;
// The namespace the binary started in, where the watchers run (as a host's
// watcher runs outside its containers' namespaces), and the port of their
// metrics there.
int g_outside_netns = -1;
uint16_t g_metrics_port = 0;
// Under emulation a VM runs everything many times slower: generous, and
// only ever spent when a fact is missing.
constexpr auto kPatience = 60s;

// A uid that is not root's, so that a uid read that failed (and gave 0)
// cannot pass.
constexpr uint32_t kNobody = 65534;

// Kernel version as major * 100 + minor: the test's own knowledge of what
// this kernel can do, to check that the watcher says so where it cannot.
int kernel_version()
{
    utsname u{};
    uname(&u);
    int major = 0, minor = 0;
    std::sscanf(u.release, "%d.%d", &major, &minor);
    return major * 100 + minor;
}

// Before 5.11 there is no bpf_sock_from_file, so no holder iterator.
bool kernel_has_sock_from_file() { return kernel_version() >= 511; }

// Before 5.9 there is no tcp iterator, so no listener-origin iterator.
bool kernel_has_tcp_iterator() { return kernel_version() >= 509; }

enum class PortChoice { Named, BindZero, Unbound };

const char* choice_name(PortChoice c)
{
    return c == PortChoice::Named ? "named" : c == PortChoice::BindZero ? "bind(0)" : "listen() unbound";
}

// A server in a child process of its own (its pid and name are the truth the
// records are compared with), listening until it is stopped.
struct Server {
    pid_t pid = -1;
    uint16_t port = 0;
    std::string comm;
    PortChoice choice = PortChoice::Named;
    int family = AF_INET;
    bool found_at_start = false;
};

Server start_server(PortChoice choice, int family, uint16_t port, const std::string& comm)
{
    int report[2];
    if (pipe(report) != 0)
        return {};
    const pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        prctl(PR_SET_NAME, comm.c_str());
        const int fd = socket(family, SOCK_STREAM, 0);
        sockaddr_storage ss{};
        socklen_t len;
        if (family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(choice == PortChoice::Named ? port : 0);
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            len = sizeof(*a);
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(choice == PortChoice::Named ? port : 0);
            a->sin6_addr = in6addr_loopback;
            len = sizeof(*a);
        }
        if (choice != PortChoice::Unbound && bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
            _exit(1);
        if (listen(fd, 16) != 0)
            _exit(2);
        len = sizeof(ss);
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        const uint16_t bound = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        if (write(report[1], &bound, sizeof(bound)) != sizeof(bound))
            _exit(3);
        for (;;)
            pause();
    }
    close(report[1]);
    Server s{pid, 0, comm, choice, family};
    if (read(report[0], &s.port, sizeof(s.port)) != sizeof(s.port))
        s.port = 0;
    close(report[0]);
    return s;
}

void stop_child(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
}

// Every server a test started, stopped when the test ends, however it ends.
struct Servers {
    std::vector<Server> all;
    // Starts a server whose port no other server of the test has: the kernel
    // may give 127.0.0.1 and ::1 the same number, and the reservations are
    // told apart by port alone. A server given a port already here is
    // stopped, and another started.
    void start_on_a_port_of_its_own(PortChoice choice, int family, uint16_t port, const std::string& comm)
    {
        for (int tries = 0; tries < 20; ++tries) {
            Server s = start_server(choice, family, port, comm);
            const bool taken = std::any_of(all.begin(), all.end(), [&](const Server& o) { return o.port == s.port; });
            if (!taken || s.port == 0) {
                all.push_back(s);
                return;
            }
            stop_child(s.pid);
        }
        all.push_back({});
    }
    ~Servers()
    {
        for (const Server& s : all)
            stop_child(s.pid);
    }
};

// The watcher's records as they arrive, kept for the failure message.
class Records {
public:
    explicit Records(WatchProcess& watch) : watch_(watch) {}

    // Reads until `done` holds or kPatience passes; false then.
    bool until(const std::function<bool()>& done, std::chrono::milliseconds timeout = kPatience)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return false;
            if (auto line = watch_.next_line(std::min<std::chrono::milliseconds>(left, 500ms)))
                seen_.push_back(json::parse(*line));
        }
        return true;
    }
    // Reads whatever arrives within `quiet`.
    void drain(std::chrono::milliseconds quiet)
    {
        for (const std::string& line : watch_.lines_until_quiet(quiet))
            seen_.push_back(json::parse(line));
    }

    std::optional<json> find(const std::string& type, uint16_t port) const
    {
        for (const json& r : seen_)
            if (r["type"] == type && r["port"] == port)
                return r;
        return std::nullopt;
    }
    // The record of one process's socket: kernel-chosen ports of two
    // families (127.0.0.1 and ::1) may be the same number.
    std::optional<json> find(const std::string& type, uint16_t port, pid_t pid) const
    {
        for (const json& r : seen_)
            if (r["type"] == type && r["port"] == port && r["pid"] == pid)
                return r;
        return std::nullopt;
    }
    int count(const std::string& type, uint16_t port) const
    {
        int n = 0;
        for (const json& r : seen_)
            n += r["type"] == type && r["port"] == port;
        return n;
    }
    std::string dump() const
    {
        std::string out = "records seen:\n";
        for (const json& r : seen_)
            out += "  " + r.dump() + "\n";
        return out + "watcher's stderr:\n" + watch_.stderr_text();
    }

private:
    WatchProcess& watch_;
    std::vector<json> seen_;
};

std::vector<std::string> watch_args(const std::string& mode, std::vector<std::string> more)
{
    std::vector<std::string> args{"watch", "--json", "--netns", std::to_string(g_netns), "--attach-mode", mode};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// Runs the watcher in the namespace the binary started in: it reaches the
// test's namespace as it reaches a container's (setns() for the start
// scan, the listener-origin iterator and --protect).
std::vector<std::string> outside()
{
    return {"nsenter", "--net=/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(g_outside_netns)};
}

std::string metrics_address() { return "127.0.0.1:" + std::to_string(g_metrics_port); }

// The inode of the cgroup v2 directory this process is in: the id the
// kernel gives its cgroup (kernfs), or 0 where no cgroup v2 is mounted.
uint64_t own_cgroup_id()
{
    const std::string mount = cgroup2_mount();
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; !mount.empty() && std::getline(in, line);)
        if (line.rfind("0::", 0) == 0) {
            struct stat st{};
            return stat((mount + line.substr(3)).c_str(), &st) == 0 ? st.st_ino : 0;
        }
    return 0;
}

// A gauge or counter of the watcher's /metrics, or nothing if it cannot be
// read.
std::optional<double> metric(const std::string& name)
{
    // Scraped from a thread that joined the watcher's namespace.
    std::string body;
    std::thread scraper([&] {
        if (setns(g_outside_netns, CLONE_NEWNET) != 0)
            return;
        httplib::Client client("127.0.0.1", g_metrics_port);
        client.set_connection_timeout(2);
        client.set_read_timeout(2);
        auto res = client.Get("/metrics");
        if (res && res->status == 200)
            body = res->body;
    });
    scraper.join();
    if (body.empty())
        return std::nullopt;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0)
            return std::stod(line.substr(name.size() + 1));
    return std::nullopt;
}

// Waits until the metric reads `want`; returns what it last read.
std::optional<double> metric_becomes(const std::string& name, double want)
{
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    std::optional<double> last;
    while (std::chrono::steady_clock::now() < deadline) {
        last = metric(name);
        if (last && *last == want)
            break;
        std::this_thread::sleep_for(200ms);
    }
    return last;
}

// This namespace's net.ipv4.ip_local_reserved_ports, as a set.
std::set<int> reserved_ports()
{
    std::ifstream in("/proc/sys/net/ipv4/ip_local_reserved_ports");
    std::string list;
    std::getline(in, list);
    return ports_in_list(list);
}

void write_proc(const std::string& path, const std::string& value)
{
    std::ofstream out(path);
    out << value << "\n";
}

// The range of the test's namespace for the length of a test.
class ScopedRange {
public:
    ScopedRange(uint16_t lo, uint16_t hi) { set_port_range(lo, hi); }
    ~ScopedRange() { set_port_range(kRangeLo, kRangeHi); }
};

// The ids of the BPF programs loaded now.
std::set<uint32_t> loaded_program_ids()
{
    std::set<uint32_t> ids;
    for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;)
        ids.insert(id);
    return ids;
}

// The names of the programs loaded since `before`.
std::set<std::string> program_names_since(const std::set<uint32_t>& before)
{
    std::set<std::string> names;
    for (uint32_t id : loaded_program_ids()) {
        const int fd = before.count(id) ? -1 : bpf_prog_get_fd_by_id(id);
        if (fd < 0)
            continue;
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
            names.insert(info.name);
        close(fd);
    }
    return names;
}

// The test's own truth about BPF trampolines: can it load and attach a
// do-nothing fexit program on inet_bind here?
bool test_attaches_fexit()
{
    const int target = libbpf_find_vmlinux_btf_id("inet_bind", BPF_TRACE_FEXIT);
    if (target <= 0)
        return false;
    const bpf_insn return_zero[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FEXIT,
                .attach_btf_id = static_cast<uint32_t>(target));
    const int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "fact_fexit", "GPL", return_zero, 2, &opts);
    if (prog < 0)
        return false;
    const int link = bpf_link_create(prog, 0, BPF_TRACE_FEXIT, nullptr);
    if (link >= 0)
        close(link);
    close(prog);
    return link >= 0;
}

bool says(WatchProcess& w, const std::string& text) { return w.stderr_text().find(text) != std::string::npos; }

class KernelFacts : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root";
        write_proc("/proc/sys/net/ipv4/ip_local_reserved_ports", "");
    }
    const std::string& mode() const { return GetParam(); }
};

// The listener story: a port the program named is the program's, gets its
// fix and is reserved by --protect; one the kernel chose (bind() to port 0,
// listen() without bind()) is the kernel's, gets no fix and no reservation;
// live and found at start; IPv4 and IPv6; and when they all close, the
// gauge comes back to 0. Reads sk_userlocks (a bitfield before 6.9),
// skc_num, skc_rcv_saddr/skc_v6_rcv_saddr, the socket's inode, the
// namespace's range and reserved ports, inet_sport at a listener's close.
TEST_P(KernelFacts, ListenersNamedAreTheProgramsAndKernelChosenAreNot)
{
    Servers servers;
    servers.start_on_a_port_of_its_own(PortChoice::Named, AF_INET, 40500, "sc-named-start");
    servers.start_on_a_port_of_its_own(PortChoice::BindZero, AF_INET, 0, "sc-zero-start");
    servers.start_on_a_port_of_its_own(PortChoice::Unbound, AF_INET6, 0, "sc-unbnd-start");
    for (Server& s : servers.all)
        s.found_at_start = true;

    write_proc("/proc/sys/net/ipv4/ip_local_reserved_ports", "40506");  // see `safe` below
    WatchProcess watch(watch_args(mode(), {"--protect", "--metrics", metrics_address()}), {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    servers.start_on_a_port_of_its_own(PortChoice::Named, AF_INET, 40502, "sc-named-live");
    servers.start_on_a_port_of_its_own(PortChoice::Named, AF_INET6, 40504, "sc-named6-live");
    servers.start_on_a_port_of_its_own(PortChoice::BindZero, AF_INET6, 0, "sc-zero-live");
    servers.start_on_a_port_of_its_own(PortChoice::Unbound, AF_INET, 0, "sc-unbnd-live");
    for (const Server& s : servers.all)
        ASSERT_NE(s.port, 0) << s.comm << " could not listen";

    // A listener on a port reserved beforehand is safe: the kernel's read
    // of the reserved-port bitmap says so, and it makes no record.
    Servers safe;
    safe.all.push_back(start_server(PortChoice::Named, AF_INET, 40506, "sc-reserved"));
    ASSERT_NE(safe.all.back().port, 0);

    Records records(watch);
    const bool all_reported = records.until([&] {
        for (const Server& s : servers.all)
            if (!records.find("listener_at_risk", s.port, s.pid))
                return false;
        return true;
    });
    ASSERT_TRUE(all_reported) << records.dump();
    records.drain(1s);  // the port_reserved records that follow
    EXPECT_FALSE(records.find("listener_at_risk", 40506)) << records.dump();

    // Where the kernel cannot say who chose a port found at start, the
    // watcher says so, and --protect reserves it (it may be a server's).
    const bool origin_at_start = !says(watch, "cannot tell who chose");
    EXPECT_EQ(origin_at_start, kernel_has_tcp_iterator()) << watch.stderr_text();

    std::set<int> reserved = reserved_ports();
    EXPECT_EQ(reserved.count(40506), 1u) << "--protect took away a reservation it did not make";
    reserved.erase(40506);
    int at_risk_after = 0;
    for (const Server& s : servers.all) {
        SCOPED_TRACE(s.comm + " (" + choice_name(s.choice) + ", port " + std::to_string(s.port) +
                     (s.found_at_start ? ", found at start)" : ", live)"));
        const json r = *records.find("listener_at_risk", s.port, s.pid);
        EXPECT_EQ(r["comm"], s.comm) << r;
        EXPECT_EQ(r["netns"], g_netns) << r;
        EXPECT_EQ(r["family"], s.family == AF_INET ? "ipv4" : "ipv6") << r;
        if (s.choice != PortChoice::Unbound)
            EXPECT_EQ(r["addr"], s.family == AF_INET ? "127.0.0.1" : "::1") << r;
        EXPECT_EQ(r["ephemeral_range"], json::array({kRangeLo, kRangeHi})) << r;
        const bool known = !s.found_at_start || origin_at_start;
        const bool by_kernel = s.choice != PortChoice::Named;
        if (known) {
            EXPECT_EQ(r.value("port_chosen_by", ""), by_kernel ? "kernel" : "program") << r;
            EXPECT_EQ(r.contains("fix"), !by_kernel) << r;
            EXPECT_EQ(reserved.count(s.port), by_kernel ? 0u : 1u) << "reserved: " << reserved.size();
            EXPECT_EQ(records.count("port_reserved", s.port), by_kernel ? 0 : 1) << records.dump();
        } else {
            EXPECT_FALSE(r.contains("port_chosen_by")) << r;
            EXPECT_EQ(reserved.count(s.port), 1u);
        }
        if (r.contains("fix"))
            EXPECT_NE(r["fix"].get<std::string>().find(std::to_string(s.port)), std::string::npos) << r;
        at_risk_after += !reserved.count(s.port);
    }
    // The gauge: what is at risk now (reserved ports are not), then 0 once
    // every listener has closed, whoever chose its port.
    EXPECT_EQ(metric_becomes("selfconnect_listeners_at_risk", at_risk_after), at_risk_after);
    for (Server& s : servers.all) {
        stop_child(s.pid);
        s.pid = -1;
    }
    stop_child(safe.all.back().pid);
    safe.all.back().pid = -1;
    EXPECT_EQ(metric_becomes("selfconnect_listeners_at_risk", 0), 0) << records.dump();
}

// Self-connects: the process, its uid and cgroup, the address, family, port
// and namespace of each (IPv4, IPv6, v4-mapped; skc_addrpair, skc_v6_*, the
// owner's task, cred and cgroup), the lifetime at its close, and the gauge
// of open ones back to 0.
TEST_P(KernelFacts, SelfConnectsNameTheirProcessAddressAndLifetime)
{
    WatchProcess watch(watch_args(mode(), {"--metrics", metrics_address()}), {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    Records records(watch);
    // The children's cgroup is ours; where none can be looked up, said.
    const uint64_t cgroup = own_cgroup_id();
    if (!cgroup)
        std::printf("no cgroup v2 mounted: the owner's cgroup is not compared\n");
    const struct {
        int family;
        const char* addr;
        uint16_t port;
        const char* comm;
        const char* family_name;
    } plans[] = {{AF_INET, "127.0.0.1", 40700, "sc-fact-v4", "ipv4"},
                 {AF_INET6, "::1", 40702, "sc-fact-v6", "ipv6"},
                 {AF_INET6, "::ffff:127.0.0.1", 40704, "sc-fact-mapped", "ipv6"}};
    for (const auto& p : plans) {
        SCOPED_TRACE(p.addr);
        SelfConnectPlan plan{p.family, p.addr, p.port, p.comm};
        plan.hold = true;
        plan.uid = kNobody;
        const SelfConnectChild child = start_self_connects(plan);
        ASSERT_TRUE(records.until([&] { return records.find("self_connect", p.port).has_value(); }))
            << records.dump();
        const json r = *records.find("self_connect", p.port);
        EXPECT_EQ(r["pid"], child.pid) << r;
        EXPECT_EQ(r["comm"], p.comm) << r;
        EXPECT_EQ(r["uid"], kNobody) << r;
        if (cgroup)
            EXPECT_EQ(r["cgroup"], cgroup) << r;
        EXPECT_EQ(r["netns"], g_netns) << r;
        EXPECT_EQ(r["addr"], p.addr) << r;
        EXPECT_EQ(r["family"], p.family_name) << r;
        EXPECT_EQ(r["v4_mapped"], std::string(p.addr).find("::ffff:") == 0) << r;
        EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 1), 1);
        std::this_thread::sleep_for(1s);
        kill(child.pid, SIGTERM);
        wait_child(child.pid);
        ASSERT_TRUE(records.until([&] { return records.find("self_connect_closed", p.port).has_value(); }))
            << records.dump();
        const json closed = *records.find("self_connect_closed", p.port);
        EXPECT_GE(closed.value("lifetime_seconds", 0.0), 1.0) << closed;
        EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 0), 0) << records.dump();
    }
}

// A handshake that ends in softirq (the first SYN lost, sent again from the
// retransmit timer) while no task holds the socket: the owner is the task
// asleep on it, waiting the way its program does, in connect(), poll() or
// epoll_wait(); no one where another user's process waits on it, or where
// an io_uring poll (a request, not a task) does. Reads sk_lock.owned, sk_wq
// and its wait entries, task->stack and the magic word at its end, flags
// and cred->fsuid against sk_uid, poll()'s poll_wqueues, and epoll's
// eppoll_entry, epitem and eventpoll. As root: the filter that loses the
// SYN is refused to an unprivileged socket on some kernels (this machine's
// 6.18), so the owner's uid is the socket's; an unprivileged owner's uid
// is read the same way (SelfConnectsNameTheirProcessAddressAndLifetime).
TEST_P(KernelFacts, AHandshakeEndedInSoftirqNamesTheTaskWaitingForIt)
{
    WatchProcess watch(watch_args(mode(), {}), {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    Records records(watch);
    using Wait = SelfConnectPlan::Wait;
    const struct {
        Wait wait;
        const char* comm;
        uint16_t port;
        uid_t uid_after_socket;
        bool named;
    } plans[] = {{Wait::InConnect, "sc-in-connect", 40710, 0, true},
                 {Wait::InPoll, "sc-in-poll", 40712, 0, true},
                 {Wait::InEpoll, "sc-in-epoll", 40714, 0, true},
                 {Wait::InConnect, "sc-handed", 40716, kNobody, false},
                 {Wait::InIoUring, "sc-in-uring", 40718, 0, false}};
    for (const auto& p : plans) {
        SCOPED_TRACE(p.comm);
        SelfConnectPlan plan{AF_INET, "127.0.0.1", p.port, p.comm};
        plan.first_syn_lost = true;
        plan.wait = p.wait;
        plan.uid_after_socket = p.uid_after_socket;
        const SelfConnectChild child = start_self_connects(plan);
        const int status = wait_child(child.pid);
        if (status == 8) {
            std::printf("%s: this kernel refuses io_uring: not compared\n", p.comm);
            continue;
        }
        ASSERT_EQ(status, 0)
            << "5, 6: the filter that loses the SYN; 7: no SYN sent again; 9: no change of uid; 3, 4: no self-connect";
        ASSERT_TRUE(records.until([&] { return records.find("self_connect", p.port).has_value(); }))
            << records.dump();
        const json r = *records.find("self_connect", p.port);
        EXPECT_EQ(r["owner_known"], p.named) << r;
        if (!p.named) {
            EXPECT_TRUE(r["pid"].is_null()) << r;
            continue;
        }
        EXPECT_EQ(r["pid"], child.pid) << r;
        EXPECT_EQ(r["comm"], p.comm) << r;
        EXPECT_EQ(r["uid"], 0) << r;
    }
}

// Self-connects held by a child, each bound and connected to its own port
// (and, with `device`, bound to that device first: SO_BINDTODEVICE),
// closed at once with resets (no TIME_WAIT) when it is told to.
class HeldSelfConnects {
public:
    HeldSelfConnects(uint16_t first_port, int count, const char* device = nullptr)
    {
        int made[2], closed[2];
        if (pipe(made) != 0 || pipe(closed) != 0)
            return;
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, nullptr);  // for sigwait, before the fork
        pid_ = fork();
        if (pid_ == 0) {
            prctl(PR_SET_NAME, "sc-fact-held");
            std::vector<int> fds;
            for (int i = 0; i < count; ++i) {
                const int fd = socket(AF_INET, SOCK_STREAM, 0);
                const int one = 1;
                const linger reset{1, 0};
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
                if (device && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, std::strlen(device)) != 0)
                    _exit(4);
                sockaddr_in to{};
                to.sin_family = AF_INET;
                to.sin_port = htons(static_cast<uint16_t>(first_port + i));
                to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (bind(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0 ||
                    connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0)
                    _exit(1);
                fds.push_back(fd);
            }
            char ok = 1;
            if (write(made[1], &ok, 1) != 1)
                _exit(2);
            int signal = 0;
            sigwait(&usr1, &signal);
            for (int fd : fds)
                close(fd);
            if (write(closed[1], &ok, 1) != 1)
                _exit(3);
            for (;;)
                pause();
        }
        sigprocmask(SIG_UNBLOCK, &usr1, nullptr);
        close(made[1]);
        close(closed[1]);
        char ok = 0;
        made_ = pid_ > 0 && read(made[0], &ok, 1) == 1;
        close(made[0]);
        closed_fd_ = closed[0];
    }
    ~HeldSelfConnects()
    {
        stop_child(pid_);
        if (closed_fd_ >= 0)
            close(closed_fd_);
    }
    bool made() const { return made_; }
    // All of them closed, at once.
    bool close_all()
    {
        char ok = 0;
        return kill(pid_, SIGUSR1) == 0 && read(closed_fd_, &ok, 1) == 1;
    }

private:
    pid_t pid_ = -1;
    int closed_fd_ = -1;
    bool made_ = false;
};

// 400 self-connects held since before the watcher started (bound to
// `device`, if one is named), then closed at once: the start scan counts
// them, and their closes, past the budgets of a 4 KiB ring, are kept for
// userspace (unwritten_closes, taken with one lookup-and-delete batch). The
// gauge reads 400, then 0, with nothing lost to the open count.
void held_from_before_the_watcher_leave_the_gauge(const std::string& mode, const char* device = nullptr)
{
    HeldSelfConnects before(40100, 400, device);
    ASSERT_TRUE(before.made());
    // Records to /dev/null: the closes written would fill a pipe nobody
    // reads meanwhile, and stop the watcher.
    WatchProcess watch(watch_args(mode, {"--metrics", metrics_address(), "--ring-buffer-size", "4096",
                                         "--output", "/dev/null"}),
                       {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 400), 400) << watch.stderr_text();
    ASSERT_TRUE(before.close_all());
    EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 0), 0) << watch.stderr_text();
    EXPECT_GT(metric("selfconnect_events_lost_total{where=\"kernel\",kind=\"self_connect_closed\"}").value_or(0), 0)
        << "every close was written: none was kept";
    EXPECT_EQ(metric("selfconnect_events_lost_total{where=\"open_count\",kind=\"self_connect_closed\"}").value_or(-1), 0);
}

// The open gauge when records and closes are not written (a ring of 4 KiB,
// the budgets): 400 self-connects made at once while watching, then closed
// at once, and 400 made before the watcher started, then closed at once.
// The first are counted by the kernel by socket (counted_self_connects,
// whether each was written, its close judged by it); the closes of the
// second are kept for userspace (unwritten_closes, taken with one
// lookup-and-delete batch). Both come back to 0, with nothing lost to the
// open count.
TEST_P(KernelFacts, TheOpenGaugeFollowsSelfConnectsAndClosesThatWereNotWritten)
{
    const std::string lost_self_connects = "selfconnect_events_lost_total{where=\"kernel\",kind=\"self_connect\"}";
    const std::string open_count_lost = "selfconnect_events_lost_total{where=\"open_count\",kind=\"self_connect_closed\"}";
    {
        WatchProcess watch(watch_args(mode(), {"--metrics", metrics_address(), "--ring-buffer-size", "4096",
                                               "--output", "/dev/null"}),
                           {}, outside());
        ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
        HeldSelfConnects during(40100, 400);
        ASSERT_TRUE(during.made());
        EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 400), 400) << watch.stderr_text();
        EXPECT_GT(metric(lost_self_connects).value_or(0), 0) << "every self-connect was written";
        ASSERT_TRUE(during.close_all());
        EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 0), 0) << watch.stderr_text();
        EXPECT_EQ(metric(open_count_lost).value_or(-1), 0);
    }
    held_from_before_the_watcher_leave_the_gauge(mode());
}

// Self-connects through sockets bound to a device (SO_BINDTODEVICE, here
// lo): the kernel's sk_bound_dev_if is read at the state change and at a
// close kept for userspace, and sock_diag's idiag_if by the start scan;
// the watcher keys an open self-connect by it (two on one address and port
// may be bound to two devices). 400 held before the watcher started, their
// closes past the budget kept: the gauge reads 400, then 0, only if each
// kept close carries the device the scan found. One made while watching
// names lo's index.
TEST_P(KernelFacts, SelfConnectsBoundToADeviceSayWhichAndLeaveTheGaugeWhenTheyClose)
{
    const unsigned lo = if_nametoindex("lo");
    ASSERT_GT(lo, 0u);
    held_from_before_the_watcher_leave_the_gauge(mode(), "lo");
    if (HasFatalFailure())
        return;
    WatchProcess watch(watch_args(mode(), {"--metrics", metrics_address()}), {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    Records records(watch);
    HeldSelfConnects during(40600, 1, "lo");
    ASSERT_TRUE(during.made());
    ASSERT_TRUE(records.until([&] { return records.find("self_connect", 40600).has_value(); })) << records.dump();
    const json r = *records.find("self_connect", 40600);
    EXPECT_EQ(r.value("bound_ifindex", 0u), lo) << r;
    EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 1), 1);
    ASSERT_TRUE(during.close_all());
    ASSERT_TRUE(records.until([&] { return records.find("self_connect_closed", 40600).has_value(); }))
        << records.dump();
    EXPECT_EQ(records.find("self_connect_closed", 40600)->value("bound_ifindex", 0u), lo);
    EXPECT_EQ(metric_becomes("selfconnect_self_connects_open", 0), 0);
}

// A server refused a port that a held self-connect keeps: listener_blocked
// names the holder's process (the holder iterator: bpf_sock_from_file,
// task->tgid, the socket's ports, state and addresses). Where the kernel
// has no bpf_sock_from_file, the watcher says it cannot, and names nobody.
TEST_P(KernelFacts, ABlockedServerNamesItsHolderOrTheWatcherSaysItCannot)
{
    WatchProcess watch(watch_args(mode(), {}), {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    Records records(watch);
    SelfConnectPlan plan{AF_INET, "127.0.0.1", 40800, "sc-fact-holder"};
    plan.hold = true;
    plan.uid = kNobody;
    const SelfConnectChild holder = start_self_connects(plan);
    ASSERT_TRUE(records.until([&] { return records.find("self_connect", 40800).has_value(); })) << records.dump();
    Servers servers;
    servers.all.push_back(start_server(PortChoice::Named, AF_INET, 40800, "sc-fact-server"));
    EXPECT_EQ(servers.all.back().port, 0) << "the server got a port its holder keeps";
    if (kernel_has_sock_from_file()) {
        const bool named = records.until([&] { return records.find("listener_blocked", 40800).has_value(); });
        EXPECT_TRUE(named) << records.dump();
        if (named) {
            const json r = *records.find("listener_blocked", 40800);
            EXPECT_EQ(r["comm"], "sc-fact-server") << r;
            EXPECT_EQ(r["holder"]["pid"], holder.pid) << r;
            EXPECT_EQ(r["holder"]["comm"], "sc-fact-holder") << r;
            EXPECT_EQ(r["holder"]["uid"], kNobody) << r;
            EXPECT_EQ(r["holder"]["self_connected"], true) << r;
            EXPECT_EQ(r["holder"]["port"], 40800) << r;
        }
    } else {
        EXPECT_TRUE(says(watch, "lacks bpf_sock_from_file")) << watch.stderr_text();
        records.drain(3s);
        EXPECT_EQ(records.count("listener_blocked", 40800), 0) << records.dump();
    }
    kill(holder.pid, SIGTERM);
    wait_child(holder.pid);
}

// bind() and listen() are watched through the hooks the start line names:
// in auto mode fexit wherever the test itself can attach a fexit program
// (then no syscall tracepoint is attached, which would send every system
// call of the host down the slow path), the syscall tracepoints elsewhere
// and in tracepoint mode. The other facts prove the records those hooks
// make (listeners, ports in use, blocked servers) in each mode.
TEST_P(KernelFacts, BindAndListenAreWatchedThroughTheHooksTheStartLineNames)
{
    const bool fexit = mode() == "auto" && test_attaches_fexit();
    const std::set<uint32_t> before = loaded_program_ids();
    WatchProcess watch(watch_args(mode(), {}), {}, outside());
    ASSERT_TRUE(watch.wait_said_ready(kPatience)) << watch.stderr_text();
    const std::set<std::string> names = program_names_since(before);
    std::smatch m;
    const std::string err = watch.stderr_text();
    ASSERT_TRUE(std::regex_search(err, m, std::regex(R"(bind\(\) and listen\(\) through ([a-z ]+)\))"))) << err;
    EXPECT_EQ(m[1], fexit ? "fexit" : "syscall tracepoints") << err;
    for (const char* name : {"bind_fexit", "bind6_fexit", "listen_fentry", "listen_fexit"})
        EXPECT_EQ(names.count(name), fexit ? 1U : 0U) << name;
    for (const char* name : {"on_bind_enter", "on_bind_exit", "on_listen_enter", "on_listen_exit"})
        EXPECT_EQ(names.count(name), fexit ? 0U : 1U) << name;
}

// Clients that never bind (as curl, nc and Go do), in a ten-port range.
// Unguarded (the control) the loop meets itself, and that self-connect's
// close is seen although the kernel gave its port back first (inet_sport
// through bpf_skc_to_tcp_sock); its refusals make a retry_loop (sk_err).
// Guarded, no connect meets itself, each address family is reported
// prevented with its process, a refused socket binds as before, a socket
// bound to its address only is guarded too, and none passed unseen.
TEST_P(KernelFacts, TheGuardKeepsUnboundClientsFromThemselves)
{
    // A range of its own for each mode: a self-connect's TIME_WAIT keeps
    // the same 4-tuple from meeting itself again for a minute.
    const uint16_t lo = mode() == "auto" ? 40900 : 40920;
    const uint16_t hi = lo + 9;
    ScopedRange range(lo, hi);
    {
        WatchProcess control(watch_args(mode(), {}), {}, outside());
        ASSERT_TRUE(control.wait_said_ready(kPatience)) << control.stderr_text();
        Records records(control);
        const ConnectLoopResult r = connect_loop(AF_INET, "127.0.0.1", lo, 200);
        ASSERT_GE(r.self_connects, 1) << "the control never met itself: it proves nothing";
        EXPECT_TRUE(records.until([&] {
            return records.find("self_connect", lo) && records.find("self_connect_closed", lo) &&
                   records.find("retry_loop", lo);
        })) << records.dump();
        if (auto sc = records.find("self_connect", lo)) {
            EXPECT_EQ((*sc)["pid"], getpid()) << *sc;
            EXPECT_EQ((*sc)["netns"], g_netns) << *sc;
        }
        if (auto loop = records.find("retry_loop", lo))
            EXPECT_EQ((*loop)["pid"], getpid()) << *loop;
    }

    WatchProcess guarded(watch_args(mode(), {"--require-guard"}), {}, outside());
    ASSERT_TRUE(guarded.wait_said_ready(kPatience)) << guarded.stderr_text();
    Records records(guarded);
    const struct {
        int family;
        const char* addr;
        uint16_t port;
    } targets[] = {{AF_INET, "127.0.0.1", static_cast<uint16_t>(lo + 2)},
                   {AF_INET6, "::1", static_cast<uint16_t>(lo + 4)},
                   {AF_INET6, "::ffff:127.0.0.1", static_cast<uint16_t>(lo + 6)}};
    for (const auto& t : targets) {
        SCOPED_TRACE(t.addr);
        const ConnectLoopResult r = connect_loop(t.family, t.addr, t.port, 300);
        EXPECT_EQ(r.self_connects, 0);
        EXPECT_EQ(r.refused, 300);
        EXPECT_TRUE(records.until([&] { return records.find("self_connect_prevented", t.port).has_value(); }))
            << records.dump();
        if (auto p = records.find("self_connect_prevented", t.port)) {
            EXPECT_EQ((*p)["pid"], getpid()) << *p;
            EXPECT_EQ((*p)["netns"], g_netns) << *p;
            EXPECT_EQ((*p)["addr"], t.addr) << *p;
        }
        // The guard binds nothing: a refused socket binds afterwards as it
        // would have (a port the guard had bound would make this EINVAL).
        const int fd = socket(t.family, SOCK_STREAM, 0);
        sockaddr_storage to{};
        socklen_t len;
        if (t.family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&to);
            a->sin_family = AF_INET;
            a->sin_port = htons(t.port);
            inet_pton(AF_INET, t.addr, &a->sin_addr);
            len = sizeof(*a);
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&to);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(t.port);
            inet_pton(AF_INET6, t.addr, &a->sin6_addr);
            len = sizeof(*a);
        }
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), len) != 0) {
            sockaddr_storage any{};
            any.ss_family = static_cast<sa_family_t>(t.family);
            EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&any),
                           t.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)),
                      0)
                << strerror(errno);
        }
        close(fd);
    }
    // A socket that binds only its address (IP_BIND_ADDRESS_NO_PORT, as
    // nginx's proxy_bind does): the kernel still chooses its port, and the
    // guard keeps it from itself.
    const auto address_only = [](int fd) {
        const int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    };
    const ConnectLoopResult bound_address = connect_loop(AF_INET, "127.0.0.1", lo + 8, 300, address_only);
    EXPECT_EQ(bound_address.self_connects, 0);
    EXPECT_EQ(bound_address.refused, 300);
    // Every connect that could have met itself passed the guard.
    guarded.signal(SIGINT);
    guarded.wait_exit(kPatience);
    std::smatch m;
    const std::string err = guarded.stderr_text();
    ASSERT_TRUE(std::regex_search(err, m, std::regex(R"(guard: (\d+) self-connects prevented, (\d+) connects)")))
        << err;
    EXPECT_GE(std::stol(m[1]), 4) << err;
    EXPECT_EQ(std::stol(m[2]), 0) << err;
}

// The socket census (bpf/socket_census.bpf.h, in audit's object and in the
// watcher's, both read at each step and compared): every TCP socket the kernel has hashed and a descriptor
// holds, counted once in its namespace, in agreement with the kernel's own
// count; one with both ends the same seen as such (IPv4, v4-mapped, IPv6),
// and no other; one that no descriptor holds not counted, so the two
// counts differ and the scan walks that namespace. Reads sock->type,
// sk_protocol, skc_node.pprev, skc_net, skc_num, skc_dport, both families'
// addresses and the file's inode, through bpf_sock_from_file (5.11;
// before it there is no census, and every namespace is walked). In a
// namespace of a thread of its own, where nothing else has sockets; and
// thousands of sockets, each counted once.
TEST(KernelFactsCensus, CountsEachHeldSocketOnceAndSeesEqualEnds)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root";
    if (!kernel_has_sock_from_file()) {
        EXPECT_FALSE(selfconnect::take_tcp_census().census.has_value()) << "a census without bpf_sock_from_file";
        return;
    }
    std::thread([] {
        ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
        ASSERT_TRUE(bring_loopback_up());
        // Clients' ports away from the ports the test names (406xx): a
        // client handed 40602 kept the test from binding it. This thread's
        // namespace's sysctl, opened from this thread.
        {
            std::ofstream range("/proc/sys/net/ipv4/ip_local_port_range");
            range << "50000 59999\n";
            range.close();
            ASSERT_TRUE(range) << "the namespace's ip_local_port_range could not be set";
        }
        struct stat st{};
        ASSERT_EQ(stat("/proc/thread-self/ns/net", &st), 0);
        const auto netns = static_cast<uint32_t>(st.st_ino);
        // The watcher's program carries the census too: loaded (its hooks
        // scoped to this namespace), it must say what audit's says.
        selfconnect::KernelProgramConfig config;
        config.netns = netns;
        const selfconnect::KernelProgram program(config);
        EXPECT_EQ(program.iterators_refused(), "");
        // What the census says of this namespace, and the kernel's count.
        struct Look {
            selfconnect::TcpCensus census;
            uint64_t kernel = ~0ULL;
        };
        const auto look = [&] {
            const selfconnect::TakenCensus audits = selfconnect::take_tcp_census();
            const selfconnect::TakenCensus watchers = selfconnect::take_tcp_census(program);
            EXPECT_TRUE(audits.census.has_value()) << audits.failure.value_or("");
            EXPECT_TRUE(watchers.census.has_value()) << watchers.failure.value_or("");
            Look l;
            if (const selfconnect::TcpCensus* here = selfconnect::census_of(audits.census, netns))
                l.census = *here;
            if (const selfconnect::TcpCensus* here = selfconnect::census_of(watchers.census, netns)) {
                EXPECT_EQ(here->held, l.census.held) << "the watcher's census and audit's differ";
                EXPECT_EQ(here->same_ends_seen, l.census.same_ends_seen) << "the watcher's census and audit's differ";
                EXPECT_EQ(here->mptcp_seen, l.census.mptcp_seen) << "the watcher's census and audit's differ";
            }
            l.kernel = selfconnect::hashed_tcp_sockets_here().value_or(~0ULL);
            return l;
        };
        const Look empty = look();
        EXPECT_EQ(empty.census.held, 0U);
        EXPECT_EQ(empty.kernel, 0U);

        std::vector<int> fds;  // closed at the end
        const auto tcp = [&](int family) { fds.push_back(socket(family, SOCK_STREAM, 0)); return fds.back(); };
        // 127.0.0.1, ::1 or ::ffff:127.0.0.1 (an IPv6 socket's v4-mapped).
        const auto address = [&](int family, uint16_t port, bool mapped = false) {
            sockaddr_storage ss{};
            socklen_t len = 0;
            if (family == AF_INET) {
                auto* a = reinterpret_cast<sockaddr_in*>(&ss);
                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*a);
            } else {
                auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                EXPECT_EQ(inet_pton(AF_INET6, mapped ? "::ffff:127.0.0.1" : "::1", &a->sin6_addr), 1);
                len = sizeof(*a);
            }
            return std::pair{ss, len};
        };
        const auto bind_to = [&](int fd, int family, uint16_t port, bool mapped = false) {
            auto [ss, len] = address(family, port, mapped);
            EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << port << ": " << strerror(errno);
        };
        const auto listener = [&](int family, uint16_t port) {
            const int fd = tcp(family);
            bind_to(fd, family, port);
            EXPECT_EQ(listen(fd, 8), 0);
            const int client = tcp(family);
            auto [ss, len] = address(family, port);
            EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
            fds.push_back(accept(fd, nullptr, nullptr));
            EXPECT_GE(fds.back(), 0);
            fds.push_back(dup(client));  // one socket, two descriptors
        };
        const auto self_connect = [&](int family, uint16_t port, bool mapped = false) {
            const int fd = tcp(family);
            bind_to(fd, family, port, mapped);
            auto [ss, len] = address(family, port, mapped);
            EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << port << ": " << strerror(errno);
            return fd;
        };
        // The socket `fd` in flight in a unix socket, its descriptor closed.
        int pair[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
        const auto in_flight = [&](int fd) {
            std::erase(fds, fd);
            EXPECT_TRUE(send_in_flight(pair[0], fd)) << strerror(errno);
        };

        // Listeners and connections of both families: six hashed sockets.
        // Not hashed: an unbound socket, one bound only, a listener taken
        // back (connect AF_UNSPEC) with its descriptor kept; a raw socket
        // of protocol TCP is hashed, but RAW's.
        listener(AF_INET, 40600);
        listener(AF_INET6, 40601);
        tcp(AF_INET);
        bind_to(tcp(AF_INET6), AF_INET6, 40602);
        {
            const int taken_back = tcp(AF_INET);
            bind_to(taken_back, AF_INET, 40605);
            EXPECT_EQ(listen(taken_back, 8), 0);
            sockaddr unspec{};
            unspec.sa_family = AF_UNSPEC;
            EXPECT_EQ(connect(taken_back, &unspec, sizeof(unspec)), 0) << strerror(errno);
        }
        fds.push_back(socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
        EXPECT_GE(fds.back(), 0) << strerror(errno);
        const Look plain = look();
        EXPECT_EQ(plain.census.held, 6U);
        EXPECT_EQ(plain.kernel, 6U);
        EXPECT_FALSE(plain.census.same_ends_seen);
        EXPECT_TRUE(selfconnect::census_rules_out_self_connects(plain.census, plain.kernel));

        // An MPTCP socket, unconnected: not counted, and the counts still
        // agree, but its subflows would be sockets no descriptor holds, so
        // the census never rules its namespace out. Where the kernel has
        // no MPTCP (socket() refuses the protocol) there is nothing to see.
        constexpr int kMptcp = 262;
        const int mptcp = socket(AF_INET, SOCK_STREAM, kMptcp);
        if (mptcp < 0) {
            EXPECT_TRUE(errno == EPROTONOSUPPORT || errno == EINVAL || errno == ENOPROTOOPT) << strerror(errno);
        } else {
            const Look with_mptcp = look();
            EXPECT_TRUE(with_mptcp.census.mptcp_seen);
            EXPECT_EQ(with_mptcp.census.held, 6U);
            EXPECT_EQ(with_mptcp.kernel, 6U);
            EXPECT_FALSE(selfconnect::census_rules_out_self_connects(with_mptcp.census, with_mptcp.kernel));
            close(mptcp);
        }

        // A self-connect of each form, held: seen; then in flight: unseen,
        // and the census one short of the kernel.
        const auto seen_then_in_flight = [&](const char* form, int fd, uint64_t kernel_before) {
            const Look held = look();
            EXPECT_EQ(held.census.held, 7U) << form;
            EXPECT_EQ(held.kernel, kernel_before + 1) << form;
            EXPECT_TRUE(held.census.same_ends_seen) << form;
            EXPECT_FALSE(selfconnect::census_rules_out_self_connects(held.census, held.kernel)) << form;
            in_flight(fd);
            const Look gone = look();
            EXPECT_EQ(gone.census.held, 6U) << form;
            EXPECT_EQ(gone.kernel, kernel_before + 1) << form;
            EXPECT_FALSE(gone.census.same_ends_seen) << form;
            EXPECT_FALSE(selfconnect::census_rules_out_self_connects(gone.census, gone.kernel)) << form;
        };
        seen_then_in_flight("IPv4", self_connect(AF_INET, 40603), 6);
        seen_then_in_flight("v4-mapped", self_connect(AF_INET6, 40606, true), 7);
        seen_then_in_flight("IPv6", self_connect(AF_INET6, 40604), 8);

        // Thousands: up to 2,500 connections more (5,000 sockets, 80 KB of
        // census, more than one read of the iterator), each counted once,
        // as many as the descriptors allowed (4096 in the VMs, and without
        // CAP_SYS_RESOURCE the hard limit cannot be raised).
        rlimit files{};
        ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
        files.rlim_cur = files.rlim_max;
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0) << strerror(errno);
        const int kPairs = static_cast<int>(std::min<rlim_t>(2500, (files.rlim_max - 200) / 2));
        ASSERT_GE(kPairs, 1000) << "too few descriptors: " << files.rlim_max;
        const int server = tcp(AF_INET);
        bind_to(server, AF_INET, 40607);
        ASSERT_EQ(listen(server, 4096), 0);
        auto [to_server, to_server_len] = address(AF_INET, 40607);
        for (int i = 0; i < kPairs; ++i) {
            const int client = tcp(AF_INET);
            ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&to_server), to_server_len), 0) << strerror(errno);
            fds.push_back(accept(server, nullptr, nullptr));
            ASSERT_GE(fds.back(), 0) << strerror(errno);
        }
        const Look many = look();
        // The six of the start, the server, the pairs; the kernel also
        // counts the three self-connects in flight.
        EXPECT_EQ(many.census.held, 6U + 1 + 2 * kPairs);
        EXPECT_EQ(many.kernel, 9U + 1 + 2 * kPairs);

        for (int fd : fds)
            close(fd);
        close(pair[0]);
        close(pair[1]);
    }).join();
}

INSTANTIATE_TEST_SUITE_P(, KernelFacts, ::testing::Values("auto", "tracepoint"),
                         [](const auto& info) { return info.param == "auto" ? "auto" : "tracepoint"; });

}  // namespace

int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    if (geteuid() == 0) {
        g_outside_netns = open("/proc/self/ns/net", O_RDONLY);
        g_metrics_port = unique_port(7);
        if (!enter_fresh_netns() || !set_port_range(kRangeLo, kRangeHi)) {
            std::fprintf(stderr, "kernel-facts: cannot make a network namespace of its own\n");
            return 1;
        }
        g_netns = netns_inode_of_self();
    }
    return RUN_ALL_TESTS();
}
