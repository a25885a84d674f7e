// Runs inside the kernel-matrix VMs: brings lo up, then makes one IPv4, one
// IPv6 and one v4-mapped self-connect on the given port, optionally with the
// do-nothing program attached to the classic tracepoint (the control that
// tells a kernel or emulator fault from one of selfconnect's).
// With port-conflict it makes what the prevention records are about: a
// listener on PORT (then closed), a self-connect held on PORT, and a server
// whose bind() is refused that port. (A server with SO_REUSEADDR would get
// it: the holder set it too and does not listen, so the kernel lets both be.)
//   vm-self-connects lo-up
//   vm-self-connects PORT [noop-tracepoint]
//   vm-self-connects port-conflict PORT
//   vm-self-connects burst PORT COUNT   (COUNT self-connects, one after another)
//   vm-self-connects syscall-cost COUNT (COUNT getppid() calls: ns per call, what
//                                        a watcher's hooks cost an unrelated one)
//   vm-self-connects loop PORT TRIES    (in a namespace of its own whose range is
//                                        PORT..PORT+9: TRIES unbound connects to
//                                        127.0.0.1:PORT, [::1]:PORT+2 and
//                                        [::ffff:127.0.0.1]:PORT+4)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <bpf/libbpf.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "connect_loop.h"
#include "noop.skel.h"
#include "self_connect.h"

using namespace selfconnect::testing;

namespace {

struct NoopDeleter {
    void operator()(noop_bpf* s) const { noop_bpf__destroy(s); }
};

std::unique_ptr<noop_bpf, NoopDeleter> attach_noop_tracepoint()
{
    std::unique_ptr<noop_bpf, NoopDeleter> skel(noop_bpf__open());
    if (!skel)
        return nullptr;
    bpf_program__set_autoload(skel->progs.noop_state_change, false);
    if (noop_bpf__load(skel.get()) != 0 || noop_bpf__attach(skel.get()) != 0)
        return nullptr;
    return skel;
}

// 0 when listening worked, else the errno of the call that failed; the
// socket is closed either way.
int serve_once(uint16_t port, bool reuse_address)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    if (reuse_address)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 1) != 0)
        err = errno;
    close(fd);
    return err;
}

int port_conflict(uint16_t port)
{
    prctl(PR_SET_NAME, "sc-vm-server");
    const int listened = serve_once(port, false);
    std::printf("listener on %u: %s\n", port, listened ? std::strerror(listened) : "ok");
    SelfConnectPlan plan{AF_INET, "127.0.0.1", port, "sc-vm-holder"};
    plan.hold = true;
    const SelfConnectChild holder = start_self_connects(plan);
    sleep(1);  // connected to itself by now
    const int refused = serve_once(port, false);
    std::printf("server on a held port: %s\n", refused ? std::strerror(refused) : "listening");
    sleep(2);  // the watcher looks for the holder when it reads the event: keep it there till then
    kill(holder.pid, SIGTERM);
    wait_child(holder.pid);
    return listened == 0 && refused == EADDRINUSE ? 0 : 1;
}

// Clients that never bind, looping on an unused port of a tiny range: the
// connects --guard must keep from meeting themselves (and, unguarded, the
// control that meets itself).
int unbound_loops(uint16_t port, int tries)
{
    if (!enter_fresh_netns() || !set_port_range(port, port + 9))
        return 1;
    const struct {
        int family;
        const char* addr;
    } targets[] = {{AF_INET, "127.0.0.1"}, {AF_INET6, "::1"}, {AF_INET6, "::ffff:127.0.0.1"}};
    // A namespace made after the watcher started: its first connect that
    // could meet itself is the guard's cue to attach there (guard_missed).
    // To an odd port, which connect() reaches only after the even ones, so
    // that it cannot meet itself; then time for the guard to attach.
    const ConnectLoopResult cue = connect_loop(AF_INET, "127.0.0.1", static_cast<uint16_t>(port + 1), 1);
    std::printf("cue to port %u: self_connects=%d\n", port + 1, cue.self_connects);
    sleep(2);
    // A port each: a self-connect's TIME_WAIT keeps its 4-tuple, which a
    // v4-mapped connect shares with an IPv4 one, from meeting itself again.
    uint16_t to = port;
    for (const auto& t : targets) {
        const ConnectLoopResult r = connect_loop(t.family, t.addr, to, tries);
        std::printf("connects to %s port %u: tries=%d self_connects=%d refused=%d other=%d\n", t.addr, to, r.tries,
                    r.self_connects, r.refused, r.other);
        to += 2;
    }
    return 0;
}

// An unrelated system call, through syscall() so that nothing caches it:
// a syscall tracepoint enabled anywhere sends it down the slow path.
int syscall_cost(long count)
{
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < count; ++i)
        syscall(SYS_getppid);
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    std::printf("getppid: %.1f ns per call over %ld calls\n", ns / static_cast<double>(count), count);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
        return 2;
    if (std::string(argv[1]) == "lo-up")
        return bring_loopback_up() ? 0 : 1;
    if (std::string(argv[1]) == "port-conflict" && argc > 2)
        return port_conflict(static_cast<uint16_t>(std::atoi(argv[2])));
    if (std::string(argv[1]) == "loop" && argc > 3)
        return unbound_loops(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]));
    if (std::string(argv[1]) == "syscall-cost" && argc > 2)
        return syscall_cost(std::atol(argv[2]));
    if (std::string(argv[1]) == "burst" && argc > 3) {
        SelfConnectPlan plan{AF_INET, "127.0.0.1", static_cast<uint16_t>(std::atoi(argv[2])), "sc-vm-burst"};
        plan.repeat = std::atoi(argv[3]);
        const int status = wait_child(start_self_connects(plan).pid);
        std::printf("made %d self-connects: %s\n", plan.repeat, status == 0 ? "ok" : "FAILED");
        return status == 0 ? 0 : 1;
    }
    const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
    std::unique_ptr<noop_bpf, NoopDeleter> noop;
    if (argc > 2 && std::string(argv[2]) == "noop-tracepoint") {
        noop = attach_noop_tracepoint();
        std::printf("do-nothing program on the tracepoint: %s\n", noop ? "attached" : "FAILED");
        if (!noop)
            return 1;
    }
    const SelfConnectPlan plans[] = {{AF_INET, "127.0.0.1", port, "sc-vm-v4"},
                                     {AF_INET6, "::1", port, "sc-vm-v6"},
                                     {AF_INET6, "::ffff:127.0.0.1", port, "sc-vm-mapped"}};
    for (const auto& plan : plans) {
        const int status = wait_child(start_self_connects(plan).pid);
        std::printf("made %s self-connect: %s\n", plan.addr.c_str(), status == 0 ? "ok" : "FAILED");
        if (status != 0)
            return 1;
    }
    return 0;
}
