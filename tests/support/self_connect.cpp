#include "self_connect.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <fcntl.h>
#include <poll.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <stdexcept>

#include "io_uring_once.h"

namespace selfconnect::testing {

namespace {

// Rate-limits lo and fills the bucket, so later packets wait in the qdisc.
// The socket's first SYN is lost: a filter on the socket drops every packet
// it would take in, and a helper process takes the filter off 200 ms later,
// so the SYN is sent again from the retransmit timer (after a second), a
// softirq, while this process waits for it. Returns the helper, to be
// reaped once connected, or -1.
pid_t lose_first_syn(int fd)
{
    sock_filter drop{BPF_RET | BPF_K, 0, 0, 0};
    const sock_fprog prog{1, &drop};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
        return -1;
    const pid_t helper = fork();
    if (helper == 0) {
        usleep(200000);
        const int unused = 0;
        _exit(setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) == 0 ? 0 : 1);
    }
    return helper;
}

socklen_t fill_address(const SelfConnectPlan& p, sockaddr_storage& ss)
{
    std::memset(&ss, 0, sizeof(ss));
    if (p.family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(p.port);
        inet_pton(AF_INET, p.addr.c_str(), &a->sin_addr);
        return sizeof(*a);
    }
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(p.port);
    inet_pton(AF_INET6, p.addr.c_str(), &a->sin6_addr);
    return sizeof(*a);
}

// Waits until a non-blocking connect's socket is writable, the way the
// plan's program does: 0 once it is, 3 if not, 8 if this kernel refuses
// io_uring.
int wait_writable(int fd, SelfConnectPlan::Wait wait)
{
    if (wait == SelfConnectPlan::Wait::InPoll) {
        pollfd p{fd, POLLOUT, 0};
        return poll(&p, 1, 30000) == 1 ? 0 : 3;
    }
    if (wait == SelfConnectPlan::Wait::InEpoll) {
        const int ep = epoll_create1(0);
        epoll_event ev{};
        ev.events = EPOLLOUT;
        epoll_event got{};
        const bool ready = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 && epoll_wait(ep, &got, 1, 30000) == 1;
        close(ep);
        return ready ? 0 : 3;
    }
    io_uring_sqe writable{};
    writable.opcode = IORING_OP_POLL_ADD;
    writable.fd = fd;
    writable.poll32_events = POLLOUT;
    const int res = io_uring_once(writable);
    if (res == -ENOSYS || res == -EPERM)
        return 8;
    return res > 0 ? 0 : 3;
}

// Connects as the plan's program does, blocking or not and waiting its
// way: 0 once connected, 3 if not, 8 if this kernel refuses io_uring.
int connect_status(int fd, const sockaddr* to, socklen_t len, SelfConnectPlan::Wait wait)
{
    if (wait == SelfConnectPlan::Wait::InConnect)
        return connect(fd, to, len) == 0 ? 0 : 3;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, to, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return 3;
    if (const int waited = wait_writable(fd, wait))
        return waited;
    int err = 0;
    socklen_t l = sizeof(err);
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err == 0 ? 0 : 3;
}

// 0 if the socket met itself.
int one_self_connect(const SelfConnectPlan& p, bool keep)
{
    const int fd = socket(p.family, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Close with RST: no TIME_WAIT, so the same 4-tuple can be made again.
    const linger hard{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    sockaddr_storage ss;
    const socklen_t len = fill_address(p, ss);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        return 2;
    const pid_t helper = p.first_syn_lost ? lose_first_syn(fd) : 0;
    if (helper < 0)
        return 5;
    if (p.uid_after_socket && (setresgid(p.uid_after_socket, p.uid_after_socket, p.uid_after_socket) != 0 ||
                               setresuid(p.uid_after_socket, p.uid_after_socket, p.uid_after_socket) != 0))
        return 9;
    const int connect_result = connect_status(fd, reinterpret_cast<sockaddr*>(&ss), len, p.wait);
    int status = 0;
    if (helper > 0 && (waitpid(helper, &status, 0) != helper || status != 0))
        return 6;
    if (connect_result != 0)
        return connect_result;
    // The SYN really was sent again: the handshake ended from the timer.
    tcp_info info{};
    socklen_t info_len = sizeof(info);
    if (p.first_syn_lost &&
        (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) != 0 || info.tcpi_total_retrans < 1))
        return 7;
    sockaddr_storage local{}, peer{};
    socklen_t l1 = sizeof(local), l2 = sizeof(peer);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &l1);
    getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &l2);
    const bool met_itself = l1 == l2 && std::memcmp(&local, &peer, l1) == 0;
    if (keep) {
        pause();  // until SIGTERM
    }
    close(fd);
    return met_itself ? 0 : 4;
}

// Forks a child set up as the plan says (name, namespace, uid) that exits
// with what `connects` returns; returns once the child is about to connect.
template <typename Connects>
SelfConnectChild fork_planned_child(const SelfConnectPlan& plan, Connects connects)
{
    int ready[2];
    if (pipe(ready) != 0)
        throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, plan.comm.c_str());
        if (plan.fresh_netns) {
            if (!enter_fresh_netns())
                _exit(10);
        }
        if (plan.uid && (setresgid(plan.uid, plan.uid, plan.uid) != 0 || setresuid(plan.uid, plan.uid, plan.uid) != 0))
            _exit(13);
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // cleared by the change of uid
        const uint32_t netns = netns_inode_of_self();
        if (write(ready[1], &netns, sizeof(netns)) != sizeof(netns))
            _exit(12);
        close(ready[1]);
        _exit(connects());
    }
    close(ready[1]);
    SelfConnectChild child{pid, 0};
    if (read(ready[0], &child.netns, sizeof(child.netns)) != sizeof(child.netns))
        child.netns = 0;
    close(ready[0]);
    return child;
}

}  // namespace

SelfConnectChild start_self_connects(const SelfConnectPlan& plan)
{
    return fork_planned_child(plan, [&plan] {
        for (int i = 0; i < plan.repeat; ++i) {
            if (plan.comms > 1)
                prctl(PR_SET_NAME, (plan.comm + "-" + std::to_string(i % plan.comms)).c_str());
            if (int err = one_self_connect(plan, plan.hold && i + 1 == plan.repeat))
                return err;
        }
        return 0;
    });
}

// Shared with the child through an anonymous shared mapping: the child
// counts, the parent asks it to stop. Lock-free atomics work across
// processes on one mapping.
struct SelfConnectFlood::Shared {
    std::atomic<bool> stop{false};
    std::atomic<long> made{0};
};

SelfConnectFlood::SelfConnectFlood(const SelfConnectPlan& plan)
{
    void* page = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        throw std::runtime_error("mmap");
    shared_ = new (page) Shared;
    Shared* shared = shared_;
    pid_ = fork_planned_child(plan, [&plan, shared] {
               while (!shared->stop.load()) {
                   if (int err = one_self_connect(plan, false))
                       return err;
                   shared->made.fetch_add(1);
               }
               return 0;
           }).pid;
}

SelfConnectFlood::~SelfConnectFlood()
{
    stop();
    shared_->~Shared();
    munmap(shared_, sizeof(Shared));
}

long SelfConnectFlood::made() const
{
    return shared_->made.load();
}

int SelfConnectFlood::stop()
{
    if (pid_ > 0) {
        shared_->stop.store(true);
        status_ = wait_child(pid_);
        pid_ = -1;
    }
    return status_;
}

int wait_child(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

uint32_t netns_inode_of_self()
{
    struct stat st{};
    return stat("/proc/self/ns/net", &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

uint16_t unique_port(int index)
{
    // Even ports between 20000 and 29998: outside the default ephemeral range,
    // so no unrelated client on the host is handed one of them.
    return static_cast<uint16_t>(20000 + ((getpid() * 64 + index * 2) % 10000) / 2 * 2);
}

bool bring_loopback_up()
{
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
        return false;
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    const bool ok = ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    close(fd);
    return ok;
}

namespace {

// A socket bound to 127.0.0.1:port and connected there: it meets itself.
// -1 if either call failed.
int self_connected_on_loopback(uint16_t port)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

StuckClient start_stuck_client(uint16_t port, const std::string& comm)
{
    int report[2];
    if (pipe(report) != 0)
        throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, comm.c_str());
        const int fd = self_connected_on_loopback(port);
        if (fd < 0)
            _exit(10);
        char c;
        const int err = recv(fd, &c, 1, 0) < 0 ? errno : 0;
        (void)!write(report[1], &err, sizeof(err));
        _exit(0);
    }
    close(report[1]);
    return {pid, report[0]};
}

bool send_in_flight(int unix_fd, int fd)
{
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    const bool sent = sendmsg(unix_fd, &msg, 0) == 1;
    close(fd);
    return sent;
}

pid_t start_self_connect_in_flight(uint16_t port, const std::string& netns_path)
{
    int ready[2];
    if (pipe(ready) != 0)
        throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "sc-in-flight");
        if (!netns_path.empty()) {
            const int ns = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
            if (ns < 0 || setns(ns, CLONE_NEWNET) != 0)
                _exit(9);
            close(ns);
        }
        const int fd = self_connected_on_loopback(port);
        if (fd < 0)
            _exit(10);
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
            _exit(11);
        if (!send_in_flight(pair[0], fd))  // now only the message in pair[1]'s queue holds it
            _exit(12);
        (void)!write(ready[1], "1", 1);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c;
    const bool made = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    if (!made) {
        wait_child(pid);
        return -1;
    }
    return pid;
}

int wait_recv_error(StuckClient& client)
{
    int err = -1;
    if (read(client.report_fd, &err, sizeof(err)) != static_cast<ssize_t>(sizeof(err)))
        err = -1;
    close(client.report_fd);
    client.report_fd = -1;
    wait_child(client.pid);
    return err;
}

bool enter_fresh_netns() { return unshare(CLONE_NEWNET) == 0 && bring_loopback_up(); }

bool running_as_root() { return geteuid() == 0; }

std::string cgroup2_mount()
{
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        const auto sep = line.find(" - cgroup2 ");
        if (sep == std::string::npos)
            continue;
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 5 && fields >> field; ++i) {
        }
        return field;  // the fifth: the mount point
    }
    return "";
}

}  // namespace selfconnect::testing
