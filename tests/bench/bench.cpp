// selfconnect-bench: what selfconnect costs the host, next to a do-nothing
// program on the same hook and the equivalent bpftrace one-liner.
//
// Loopback connection churn runs in a private network namespace, once with
// the server port outside the ephemeral range (the usual case) and once
// inside it. For each contender it reports connections per second, the
// kernel's own run time per hook hit (bpf_stats: run_time_ns / run_cnt), the
// time from exec to ready, and peak RSS. No figure is asserted: it prints.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "noop.skel.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kPortOutside = 8080;   // below the range
constexpr uint16_t kPortInside = 40000;   // inside 32768-60999
constexpr uint16_t kPortHeld = 45000;     // a self-connect held open during the churn, where asked
int g_connections = 20000;
int g_reps = 6;

struct Result {
    std::string contender;
    std::string port_case;
    double conns_per_sec = 0;
    std::optional<double> ns_per_hit;
    std::optional<double> baseline_ns_per_hit;  // the do-nothing program, same hits, same run
    std::optional<double> extra_ns_per_hit;     // ns_per_hit - baseline, order bias cancelled
    bool baseline_first = false;
    uint64_t hits = 0;
    std::optional<double> ready_ms;
    std::optional<double> rss_mib;
};

bool setup_namespace()
{
    if (unshare(CLONE_NEWNET) != 0)
        return false;
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    const bool ok = ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    close(fd);
    std::ofstream("/proc/sys/net/ipv4/ip_local_port_range") << "32768 60999";
    return ok;
}

// The server's address: 127.0.0.1, the client's own, or 127.0.0.2, another
// (a client's source is still 127.0.0.1), as most of a host's connects go.
uint32_t g_server_address = INADDR_LOOPBACK;

// Connects and closes g_connections times; returns connections per second.
double churn(uint16_t port)
{
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{AF_INET, htons(port), {htonl(g_server_address)}, {}};
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) || listen(listener, 1024))
        return 0;
    // Accepts until the clients are done and every connect that succeeded
    // was taken: a connect that failed (rare, under load) must not leave
    // the acceptor waiting for ever, as it once did.
    std::atomic<int> connected{0};
    std::atomic<bool> clients_done{false};
    std::thread acceptor([&] {
        int accepted = 0;
        while (!clients_done || accepted < connected) {
            pollfd ready{listener, POLLIN, 0};
            if (poll(&ready, 1, 100) <= 0)
                continue;
            const int c = accept(listener, nullptr, nullptr);
            if (c >= 0) {
                close(c);
                ++accepted;
            }
        }
    });
    const auto start = Clock::now();
    for (int i = 0; i < g_connections; ++i) {
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        const linger hard{1, 0};  // no TIME_WAIT pile-up across runs
        setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
            ++connected;
        close(c);
    }
    clients_done = true;
    acceptor.join();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    close(listener);
    return g_connections / secs;
}

std::set<uint32_t> loaded_programs()
{
    std::set<uint32_t> ids;
    uint32_t id = 0;
    while (bpf_prog_get_next_id(id, &id) == 0)
        ids.insert(id);
    return ids;
}

struct RunStats {
    uint64_t run_time_ns = 0;
    uint64_t run_cnt = 0;
};

// Calls `fn(id, info)` for each loaded program among `ids`.
template <typename Fn>
void for_each_program(const std::set<uint32_t>& ids, Fn fn)
{
    for (uint32_t id : ids) {
        const int fd = bpf_prog_get_fd_by_id(id);
        if (fd < 0)
            continue;
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
            fn(id, info);
        close(fd);
    }
}

RunStats stats_of(const std::set<uint32_t>& ids)
{
    RunStats s;
    for_each_program(ids, [&](uint32_t, const bpf_prog_info& info) {
        s.run_time_ns += info.run_time_ns;
        s.run_cnt += info.run_cnt;
    });
    return s;
}

// The do-nothing program, attached beside whatever is measured, so that
// both are timed on the same hook hits of the same run: the difference
// between the two cancels what the rest of the machine is doing.
class Baseline {
public:
    Baseline()
    {
        skel_ = noop_bpf__open();
        if (!skel_)
            return;
        bpf_program__set_autoload(skel_->progs.noop_state_change_tp, false);  // the kernel-matrix VMs' flavour
        if (noop_bpf__load(skel_) != 0 || noop_bpf__attach(skel_) != 0)
            return;
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.noop_state_change), &info, &len);
        id_ = info.id;
    }
    ~Baseline() { noop_bpf__destroy(skel_); }
    std::set<uint32_t> ids() const { return id_ ? std::set<uint32_t>{id_} : std::set<uint32_t>{}; }

private:
    noop_bpf* skel_ = nullptr;
    uint32_t id_ = 0;
};

// A self-connect on 127.0.0.1:kPortHeld, held open: what any user can do.
// Made after the watcher attached, so the watcher saw it; -1 if it could
// not be made.
int hold_self_connect()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const linger hard{1, 0};  // closed with a reset: no TIME_WAIT to keep the next run from its port
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    sockaddr_in addr{AF_INET, htons(kPortHeld), {htonl(INADDR_LOOPBACK)}, {}};
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool g_hold_self_connect = false;  // the case being measured holds one open

// Runs the churn while `programs` and `baseline` are attached.
void measure(Result& r, uint16_t port, const std::set<uint32_t>& programs, const Baseline* baseline)
{
    const std::set<uint32_t> base_ids = baseline ? baseline->ids() : std::set<uint32_t>{};
    const int held = g_hold_self_connect ? hold_self_connect() : -1;
    if (g_hold_self_connect && held < 0)
        std::fprintf(stderr, "selfconnect-bench: could not hold a self-connect on port %u\n", kPortHeld);
    const RunStats before = stats_of(programs), base_before = stats_of(base_ids);
    r.conns_per_sec = churn(port);
    const RunStats after = stats_of(programs), base_after = stats_of(base_ids);
    if (held >= 0)
        close(held);
    r.hits = after.run_cnt - before.run_cnt;
    if (!programs.empty() && r.hits)
        r.ns_per_hit = static_cast<double>(after.run_time_ns - before.run_time_ns) / static_cast<double>(r.hits);
    if (const uint64_t n = base_after.run_cnt - base_before.run_cnt)
        r.baseline_ns_per_hit = static_cast<double>(base_after.run_time_ns - base_before.run_time_ns) / n;
}

std::optional<double> peak_rss_mib(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stod(line.substr(6)) / 1024.0;
    return std::nullopt;
}

// A contender that runs as its own process: started, waited for until
// ready, measured, stopped by its pid.
struct External {
    pid_t pid = -1;
    std::optional<double> ready_ms;
    std::set<uint32_t> programs;
    int output = -1;  // the read end of its stdout, kept open while it runs (bpftrace)
};

// `mode` empty: the default invocation, what the unit and the image run;
// "guard": the default with --guard. Its records go to `output`.
External start_selfconnect(const std::string& binary, const std::string& mode, const std::string& output = "/dev/null")
{
    External e;
    const std::string name = "selfconnect-bench-" + std::to_string(getpid()) + mode;
    const int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    bind(notify, reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size()));
    const auto before = loaded_programs();
    const auto start = Clock::now();
    e.pid = fork();
    if (e.pid == 0) {
        const std::string env = "NOTIFY_SOCKET=@" + name;
        putenv(const_cast<char*>(env.c_str()));
        const int devnull = open("/dev/null", O_WRONLY);
        const int out = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        if (mode.empty())
            execl(binary.c_str(), binary.c_str(), "watch", "--json", nullptr);
        else if (mode == "guard")
            execl(binary.c_str(), binary.c_str(), "watch", "--json", "--guard", nullptr);
        else
            execl(binary.c_str(), binary.c_str(), "watch", "--json", "--attach-mode", mode.c_str(), nullptr);
        _exit(127);
    }
    pollfd p{notify, POLLIN, 0};
    if (poll(&p, 1, 10000) > 0) {
        char buf[64];
        recv(notify, buf, sizeof(buf), 0);
        e.ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    close(notify);
    for (uint32_t id : loaded_programs())
        if (!before.count(id))
            e.programs.insert(id);
    return e;
}

// The same rule as selfconnect's, in bpftrace's words: ESTABLISHED with
// local port == remote port and local address == remote address. bpftrace
// 0.17 cannot cast the record's arrays, so the bytes are compared one by one.
std::string bpftrace_program()
{
    auto same = [](const char* a, const char* b, int n) {
        std::string s;
        for (int i = 0; i < n; ++i)
            s += std::string(i ? " && " : "") + "args->" + a + "[" + std::to_string(i) + "] == args->" + b + "[" +
                 std::to_string(i) + "]";
        return s;
    };
    return "tracepoint:sock:inet_sock_set_state /args->newstate == 1 && args->sport == args->dport && "
           "((args->family == 2 && " + same("saddr", "daddr", 4) + ") || (args->family == 10 && " +
           same("saddr_v6", "daddr_v6", 16) + "))/ { printf(\"%d %s %d\\n\", pid, comm, args->sport); }";
}

External start_bpftrace()
{
    External e;
    int out[2];
    if (pipe(out) != 0)
        return e;
    const auto before = loaded_programs();
    const auto start = Clock::now();
    e.pid = fork();
    if (e.pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        const int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        // The same rule as selfconnect's, in bpftrace's words: ESTABLISHED
        // with local port == remote port and local address == remote address.
        execlp("bpftrace", "bpftrace", "-e", bpftrace_program().c_str(), nullptr);
        _exit(127);
    }
    close(out[1]);
    e.output = out[0];
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 30000) > 0) {  // "Attaching 1 probe..." once attached
        char buf[256];
        read(out[0], buf, sizeof(buf));
        e.ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    // bpftrace says "Attaching" before it loads: wait for its program.
    for (int i = 0; i < 200 && e.programs.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        for (uint32_t id : loaded_programs())
            if (!before.count(id))
                e.programs.insert(id);
    }
    if (!e.programs.empty())
        e.ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // attach follows load
    return e;
}

// Asked to end as a user would (SIGINT: selfconnect prints its summary,
// bpftrace detaches); one that has not ended 10 s later is killed, so that
// a contender stuck in its start cannot hang the bench (bpftrace once did).
void stop(External& e)
{
    if (e.pid <= 0)
        return;
    kill(e.pid, SIGINT);
    int st;
    for (int waited_ms = 0; waitpid(e.pid, &st, WNOHANG) == 0; waited_ms += 50) {
        if (waited_ms >= 10000) {
            std::fprintf(stderr, "selfconnect-bench: pid %d did not end 10 s after SIGINT: killed\n", e.pid);
            kill(e.pid, SIGKILL);
            waitpid(e.pid, &st, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    e.pid = -1;
    if (e.output >= 0)
        close(std::exchange(e.output, -1));
}

// One measurement of contender `k` (in the order main() lists them). The
// program attached first on a hook measures a few ns dearer than the one
// attached after it, so runs alternate which of the two comes first.
void run_contender(size_t k, Result& r, uint16_t port, const std::string& binary, bool baseline_first)
{
    std::optional<Baseline> baseline;
    if (k != 0 && baseline_first)
        baseline.emplace();
    auto attach_baseline_now = [&] {
        if (k != 0 && !baseline)
            baseline.emplace();
    };
    switch (k) {
    case 0:
        measure(r, port, {}, nullptr);
        return;
    case 1: {
        Baseline noop;  // a second do-nothing program: what "no difference" looks like
        attach_baseline_now();
        measure(r, port, noop.ids(), &*baseline);
        return;
    }
    case 2:
    case 3:
    case 4: {
        External sc = start_selfconnect(binary, k == 2 ? "" : k == 3 ? "tp_btf" : "tracepoint");
        attach_baseline_now();
        r.ready_ms = sc.ready_ms;
        measure(r, port, sc.programs, &*baseline);
        r.rss_mib = peak_rss_mib(sc.pid);
        stop(sc);
        return;
    }
    default: {
        External bt = start_bpftrace();
        attach_baseline_now();
        r.ready_ms = bt.ready_ms;
        measure(r, port, bt.programs, &*baseline);
        r.rss_mib = peak_rss_mib(bt.pid);
        stop(bt);
        return;
    }
    }
}

template <typename T>
std::optional<T> median(std::vector<T> v)
{
    if (v.empty())
        return std::nullopt;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

Result median_of(const std::vector<Result>& samples)
{
    Result m = samples.front();
    std::vector<double> cps, ns, base, extra, extra_after, ready, rss;
    std::vector<uint64_t> hits;
    for (const auto& s : samples) {
        cps.push_back(s.conns_per_sec);
        hits.push_back(s.hits);
        if (s.ns_per_hit) ns.push_back(*s.ns_per_hit);
        if (s.baseline_ns_per_hit) base.push_back(*s.baseline_ns_per_hit);
        if (s.ns_per_hit && s.baseline_ns_per_hit)
            (s.baseline_first ? extra_after : extra).push_back(*s.ns_per_hit - *s.baseline_ns_per_hit);
        if (s.ready_ms) ready.push_back(*s.ready_ms);
        if (s.rss_mib) rss.push_back(*s.rss_mib);
    }
    m.conns_per_sec = *median(cps);
    m.hits = *median(hits);
    m.ns_per_hit = median(ns);
    m.baseline_ns_per_hit = median(base);
    // The median within each attach order, averaged over the two orders.
    if (auto a = median(extra), b = median(extra_after); a && b)
        m.extra_ns_per_hit = (*a + *b) / 2;
    m.ready_ms = median(ready);
    m.rss_mib = median(rss);
    return m;
}

// The programs among `ids` whose name is one of `names`.
std::set<uint32_t> programs_named(const std::set<uint32_t>& ids, const std::set<std::string>& names)
{
    std::set<uint32_t> found;
    for_each_program(ids, [&](uint32_t id, const bpf_prog_info& info) {
        if (names.count(info.name))
            found.insert(id);
    });
    return found;
}

// What watching bind() for EADDRINUSE costs each bind(): the run time of
// the bind hooks the watcher chose (fexit on inet_bind and inet6_bind, or
// the two syscall tracepoints) over `n` calls (socket, bind, close), as the
// kernel accounts it, for binds to port 0 and to a chosen port. Median of
// `reps`.
void print_bind_cost(const std::string& binary, int n, int reps)
{
    for (const uint16_t port : {uint16_t{0}, uint16_t{45678}}) {
        std::vector<double> per_call, hooks_per_call;
        std::string chosen;
        for (int rep = 0; rep < reps; ++rep) {
            External sc = start_selfconnect(binary, "");
            const auto tracepoints = programs_named(sc.programs, {"on_bind_enter", "on_bind_exit"});
            const auto fexit = programs_named(sc.programs, {"bind_fexit", "bind6_fexit"});
            const auto& hooks = fexit.empty() ? tracepoints : fexit;
            chosen = fexit.empty() ? "the syscall tracepoints sys_enter_bind + sys_exit_bind" : "fexit on inet_bind";
            const RunStats before = stats_of(hooks);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(port);
            for (int i = 0; i < n; ++i) {
                const int fd = socket(AF_INET, SOCK_STREAM, 0);
                ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
                close(fd);
            }
            const RunStats after = stats_of(hooks);
            stop(sc);
            if (hooks.size() != 2)
                continue;
            per_call.push_back(static_cast<double>(after.run_time_ns - before.run_time_ns) / n);
            hooks_per_call.push_back(static_cast<double>(after.run_cnt - before.run_cnt) / n);
        }
        if (per_call.empty()) {
            std::printf("\nbind(): no bind hook was loaded (neither fexit nor the syscall tracepoints?)\n");
            return;
        }
        std::printf("%sbind() to %s: the bind hooks (%s) ran %.1f ns per call (%.1f runs per call), median of "
                    "%zu runs of %d calls\n",
                    port ? "" : "\n", port ? "a chosen port" : "port 0", chosen.c_str(), *median(per_call),
                    *median(hooks_per_call), per_call.size(), n);
    }
}

// What watching costs a process that makes no TCP call at all: enabling a
// syscall tracepoint puts every thread of the host on the slow system-call
// path. A loop of `n` getppid() calls (through syscall(), so nothing is
// cached), pinned to one CPU, without and with `watch`, alternated `reps`
// times; the medians of each.
void print_syscall_cost(const std::string& binary, int n, int reps)
{
    // Pinned for the loop only: the watcher, forked before, runs anywhere.
    const auto ns_per_call = [n] {
        cpu_set_t before{}, one{};
        sched_getaffinity(0, sizeof(before), &before);
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        sched_setaffinity(0, sizeof(one), &one);
        const auto t0 = Clock::now();
        for (int i = 0; i < n; ++i)
            syscall(SYS_getppid);
        const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
        sched_setaffinity(0, sizeof(before), &before);
        return ns;
    };
    std::vector<double> without, with;
    for (int rep = 0; rep < reps; ++rep) {
        without.push_back(ns_per_call());
        External sc = start_selfconnect(binary, "");
        with.push_back(ns_per_call());
        stop(sc);
    }
    std::printf("\nan unrelated system call (getppid, pinned to CPU 0): %.1f ns without watch, %.1f ns with it "
                "(%+.1f ns, %+.1f%%), medians of %d alternated runs of %d calls\n",
                *median(without), *median(with), *median(with) - *median(without),
                100.0 * (*median(with) - *median(without)) / *median(without), reps, n);
}

// The guard's floor: a do-nothing tc program on the bench namespace's
// loopback (tcx, Linux 6.6), attached beside the guard so that both are
// timed on the same packets.
class LoopbackFloor {
public:
    LoopbackFloor()
    {
        skel_ = noop_bpf__open();
        if (!skel_)
            return;
        for (bpf_program* p : {skel_->progs.noop_state_change, skel_->progs.noop_state_change_tp,
                               skel_->progs.count_tc, skel_->progs.refuse_connect4})
            bpf_program__set_autoload(p, false);
        if (noop_bpf__load(skel_) != 0)
            return;
        constexpr int kTcxEgress = 47;  // enum bpf_attach_type, Linux 6.6
        link_ = bpf_link_create(bpf_program__fd(skel_->progs.noop_tc), static_cast<int>(if_nametoindex("lo")),
                                static_cast<bpf_attach_type>(kTcxEgress), nullptr);
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.noop_tc), &info, &len) == 0)
            ids_.insert(info.id);
    }
    ~LoopbackFloor()
    {
        if (link_ >= 0)
            close(link_);
        noop_bpf__destroy(skel_);
    }
    LoopbackFloor(const LoopbackFloor&) = delete;
    LoopbackFloor& operator=(const LoopbackFloor&) = delete;
    bool attached() const { return link_ >= 0; }
    const std::set<uint32_t>& ids() const { return ids_; }

private:
    noop_bpf* skel_ = nullptr;
    int link_ = -1;
    std::set<uint32_t> ids_;
};

// What --guard costs: its run time per loopback packet against the
// do-nothing floor's on the same packets, for the traffic loopback carries
// most (data of established connections, UDP) and the packets it looks at
// (a connect's SYN to a local closed port of the range), and how many
// times it ran for connects to remote addresses (never: they do not pass
// loopback). Medians of `reps` runs of `n` operations; the attach order
// alternates.
void print_guard_cost(const std::string& binary, int n, int reps)
{
    enum Traffic { Syn, Udp, Data, Remote };
    struct Case {
        const char* label;
        Traffic traffic;
    };
    const Case cases[] = {
        {"TCP connect to a local closed port in the range (127.0.0.1:40000): SYN and reset", Syn},
        {"UDP datagram to 127.0.0.1:9", Udp},
        {"TCP data on an established loopback connection (1-byte writes and their ACKs)", Data},
        {"TCP connect to a remote address (192.0.2.1:40000, unroutable here)", Remote},
    };
    std::printf("\n--guard: the guard's run time per loopback packet against a do-nothing tc program (the floor) "
                "on the same packets; medians of %d alternated runs of %d operations\n",
                reps, n);
    std::printf("| traffic | guard runs per operation | floor ns | guard ns | extra ns |\n|---|---:|---:|---:|---:|\n");
    const auto send_traffic = [n](Traffic t) {
        sockaddr_in to{};
        to.sin_family = AF_INET;
        inet_pton(AF_INET, t == Remote ? "192.0.2.1" : "127.0.0.1", &to.sin_addr);
        to.sin_port = htons(t == Udp ? 9 : kPortInside);
        if (t == Data) {
            const int srv = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in any = to;
            any.sin_port = 0;
            bind(srv, reinterpret_cast<sockaddr*>(&any), sizeof(any));
            listen(srv, 1);
            socklen_t len = sizeof(any);
            getsockname(srv, reinterpret_cast<sockaddr*>(&any), &len);
            const int c = socket(AF_INET, SOCK_STREAM, 0);
            connect(c, reinterpret_cast<sockaddr*>(&any), sizeof(any));
            const int a = accept(srv, nullptr, nullptr);
            const int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            char byte = 'x';
            for (int i = 0; i < n; ++i) {
                (void)!write(c, &byte, 1);
                (void)!read(a, &byte, 1);
            }
            close(a);
            close(c);
            close(srv);
            return;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = socket(AF_INET, (t == Udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
            if (t == Udp)
                sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
            else
                connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
            close(fd);
        }
    };
    for (const Case& c : cases) {
        std::vector<double> floor_ns, guard_ns, runs_per_op;
        for (int rep = 0; rep < reps; ++rep) {
            std::optional<LoopbackFloor> floor;
            if (rep % 2 == 0)
                floor.emplace();
            External sc = start_selfconnect(binary, "guard");
            if (rep % 2 == 1)
                floor.emplace();
            const auto guard = programs_named(sc.programs, {"guard_loopback"});
            if (guard.size() != 1 || !floor->attached()) {
                stop(sc);
                std::printf("| %s | the guard or the floor could not be attached | | | |\n", c.label);
                break;
            }
            const RunStats g0 = stats_of(guard), f0 = stats_of(floor->ids());
            send_traffic(c.traffic);
            const RunStats g1 = stats_of(guard), f1 = stats_of(floor->ids());
            stop(sc);
            runs_per_op.push_back(static_cast<double>(g1.run_cnt - g0.run_cnt) / n);
            if (g1.run_cnt > g0.run_cnt && f1.run_cnt > f0.run_cnt) {
                guard_ns.push_back(static_cast<double>(g1.run_time_ns - g0.run_time_ns) / (g1.run_cnt - g0.run_cnt));
                floor_ns.push_back(static_cast<double>(f1.run_time_ns - f0.run_time_ns) / (f1.run_cnt - f0.run_cnt));
            }
        }
        if (runs_per_op.empty())
            continue;
        if (guard_ns.empty())
            std::printf("| %s | %.2f | | | |\n", c.label, *median(runs_per_op));
        else
            std::printf("| %s | %.2f | %.1f | %.1f | %+.1f |\n", c.label, *median(runs_per_op), *median(floor_ns),
                        *median(guard_ns), *median(guard_ns) - *median(floor_ns));
    }
}

// CPU time (user and system) a process has used, in seconds.
double cpu_seconds(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto after_comm = stat.rfind(')');
    if (after_comm == std::string::npos)
        return 0;
    std::istringstream fields(stat.substr(after_comm + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i)
        fields >> skip;
    unsigned long long utime = 0, stime = 0;
    fields >> utime >> stime;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// uid 65534 binds 127.0.0.1:5000 and connects to it, in a loop for
// `seconds` (a deliberate self-connect: no privilege needed). Returns how
// many it made.
uint64_t self_connect_flood(double seconds)
{
    int counted[2];
    if (pipe(counted) != 0)
        return 0;
    const pid_t pid = fork();
    if (pid == 0) {
        close(counted[0]);
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(1);
        prctl(PR_SET_NAME, "bench-flood");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(5000);
        uint64_t made = 0;
        const auto end = Clock::now() + std::chrono::duration<double>(seconds);
        while (Clock::now() < end) {
            const int fd = socket(AF_INET, SOCK_STREAM, 0);
            const int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
                ++made;
            close(fd);
        }
        write(counted[1], &made, sizeof(made));
        _exit(0);
    }
    close(counted[1]);
    uint64_t made = 0;
    if (read(counted[0], &made, sizeof(made)) != sizeof(made))
        made = 0;
    close(counted[0]);
    int st;
    waitpid(pid, &st, 0);
    return made;
}

// What an unprivileged self-connect flood costs the watcher and the disk:
// `watch --json` of each binary (the build before, the build after),
// alternated `reps` times, each through a flood of `seconds`; the watcher's
// CPU from /proc (the flood and a second after it), the bytes and records
// it wrote, the self-connects made. Medians.
void print_flood_cost(const std::vector<std::string>& binaries, double seconds, int reps)
{
    struct Figures {
        std::vector<double> made, cpu_percent, mib, records;
    };
    std::vector<Figures> of(binaries.size());
    const std::string file = "/tmp/selfconnect-bench-flood-" + std::to_string(getpid()) + ".ndjson";
    for (int rep = 0; rep < reps; ++rep) {
        for (size_t b = 0; b < binaries.size(); ++b) {
            const size_t which = rep % 2 ? binaries.size() - 1 - b : b;
            External sc = start_selfconnect(binaries[which], "", file);
            const double cpu_before = cpu_seconds(sc.pid);
            const auto t0 = Clock::now();
            const uint64_t made = self_connect_flood(seconds);
            std::this_thread::sleep_for(std::chrono::seconds(1));
            const double cpu = cpu_seconds(sc.pid) - cpu_before;
            const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
            stop(sc);
            std::ifstream in(file);
            double bytes = 0, lines = 0;
            for (std::string line; std::getline(in, line);) {
                bytes += static_cast<double>(line.size() + 1);
                ++lines;
            }
            of[which].made.push_back(static_cast<double>(made));
            of[which].cpu_percent.push_back(100 * cpu / wall);
            of[which].mib.push_back(bytes / (1 << 20));
            of[which].records.push_back(lines);
        }
    }
    unlink(file.c_str());
    std::printf("\nan unprivileged self-connect flood (uid 65534: bind 127.0.0.1:5000, connect to it, close, for %.0f s), "
                "watch --json to a file; medians of %d alternated runs\n",
                seconds, reps);
    std::printf("| binary | self-connects made | watcher CPU (%% of a core) | MiB written | records |\n"
                "|---|---:|---:|---:|---:|\n");
    for (size_t b = 0; b < binaries.size(); ++b)
        std::printf("| %s | %.0f | %.1f | %.2f | %.0f |\n", binaries[b].c_str(), *median(of[b].made),
                    *median(of[b].cpu_percent), *median(of[b].mib), *median(of[b].records));
}

void print_table(const std::vector<Result>& rows)
{
    std::printf("\n| contender | server port | conn/s | ns per hook hit | do-nothing, same hits | extra ns per hit | "
                "hook hits | ready (ms) | peak RSS (MiB) |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& r : rows) {
        auto opt = [](const std::optional<double>& v, const char* fmt) {
            if (!v)
                return std::string("-");
            char buf[32];
            std::snprintf(buf, sizeof(buf), fmt, *v);
            return std::string(buf);
        };
        std::printf("| %s | %s | %.0f | %s | %s | %s | %llu | %s | %s |\n", r.contender.c_str(), r.port_case.c_str(),
                    r.conns_per_sec, opt(r.ns_per_hit, "%.1f").c_str(), opt(r.baseline_ns_per_hit, "%.1f").c_str(),
                    opt(r.extra_ns_per_hit, "%+.1f").c_str(), static_cast<unsigned long long>(r.hits),
                    opt(r.ready_ms, "%.1f").c_str(), opt(r.rss_mib, "%.1f").c_str());
    }
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: selfconnect-bench PATH-TO-selfconnect [connections [repetitions [contenders [guard | flood [BUILD-BEFORE]]]]]\n");
        return 2;
    }
    const std::string binary = argv[1];
    if (argc > 2)
        g_connections = std::atoi(argv[2]);
    if (geteuid() != 0 || !setup_namespace()) {
        std::fprintf(stderr, "selfconnect-bench: needs root (it makes its own network namespace)\n");
        return 2;
    }
    libbpf_set_print([](libbpf_print_level, const char*, va_list) { return 0; });
    const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);  // on while open
    if (stats_fd < 0) {
        std::fprintf(stderr, "selfconnect-bench: cannot enable bpf_stats\n");
        return 2;
    }
    const bool have_bpftrace = std::system("command -v bpftrace >/dev/null 2>&1") == 0;
    if (argc > 3)
        g_reps = std::max(1, std::atoi(argv[3]));

    // Every contender runs `reps` times, interleaved with the others, and
    // each figure is the median: this machine is shared and noisy. An even
    // number of runs lets the attach order alternate evenly.
    struct Case {
        uint16_t port;
        const char* label;
        bool hold_self_connect;
        uint32_t server_address;
    };
    // The third: any user holds a self-connect open (on another port)
    // while the host's clients come and go. The fourth: connects to
    // another address than the client's own, which most are.
    const Case cases[] = {{kPortOutside, "outside range", false, INADDR_LOOPBACK},
                          {kPortInside, "inside range", false, INADDR_LOOPBACK},
                          {kPortOutside, "outside range, a self-connect held open", true, INADDR_LOOPBACK},
                          {kPortInside, "inside range, to another address (127.0.0.2)", false, INADDR_LOOPBACK + 1}};
    std::vector<std::string> contenders{"nothing attached", "a second do-nothing program",
                                        "selfconnect watch --json (default: auto)", "selfconnect watch (forced tp_btf)",
                                        "selfconnect watch (forced tracepoint)"};
    if (have_bpftrace)
        contenders.push_back("bpftrace one-liner");
    // Optional 4th argument: which contenders to run, e.g. "1,2" (for quick
    // comparisons while changing the BPF side).
    std::set<size_t> only;
    if (argc > 4)
        for (const char* p = argv[4]; *p; ++p)
            if (*p >= '0' && *p <= '9')
                only.insert(static_cast<size_t>(*p - '0'));
    std::vector<std::vector<Result>> runs(std::size(cases) * contenders.size());
    churn(kPortOutside);  // warm up caches and the slab before anything is measured
    for (int rep = 0; rep < g_reps; ++rep) {
        for (size_t c = 0; c < std::size(cases); ++c) {
            const auto [port, label, hold, server] = cases[c];
            g_hold_self_connect = hold;
            g_server_address = server;
            for (size_t k = 0; k < contenders.size(); ++k) {
                if (!only.empty() && !only.count(k))
                    continue;
                Result r{contenders[k], label};
                r.baseline_first = rep % 2 == 1;
                run_contender(k, r, port, binary, rep % 2 == 1);
                runs[c * contenders.size() + k].push_back(r);
            }
        }
    }
    std::vector<Result> rows;
    for (const auto& samples : runs)
        if (!samples.empty())
            rows.push_back(median_of(samples));
    std::printf("median of %d runs of %d loopback connections each, in a private network namespace; kernel %s\n",
                g_reps, g_connections,
                [] {
                    static char release[128] = "?";
                    std::ifstream("/proc/sys/kernel/osrelease").getline(release, sizeof(release));
                    return release;
                }());
    print_table(rows);
    if (only.empty() || only.count(2)) {
        print_bind_cost(binary, g_connections, g_reps);
        print_syscall_cost(binary, 100 * g_connections, g_reps);
    }
    // Optional 5th argument "guard": the guard's cost (the binary
    // must know --guard).
    if (argc > 5 && std::string(argv[5]) == "guard")
        print_guard_cost(binary, g_connections, g_reps);
    // "flood [OTHER-BINARY]": a self-connect flood's cost, against the
    // build before where it is given.
    if (argc > 5 && std::string(argv[5]) == "flood") {
        std::vector<std::string> binaries{binary};
        if (argc > 6)
            binaries.insert(binaries.begin(), argv[6]);
        print_flood_cost(binaries, 6, g_reps);
    }
    close(stats_fd);
    return 0;
}
