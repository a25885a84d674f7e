// Makes real TCP self-connects, the deterministic way: a socket bound to
// A:P and connected to A:P meets itself through a simultaneous open.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace selfconnect::testing {

struct SelfConnectPlan {
    int family = 0;            // AF_INET or AF_INET6
    std::string addr;          // "127.0.0.1", "::1", "::ffff:127.0.0.1"
    uint16_t port = 0;
    std::string comm = "sc-client";  // the child's process name
    int repeat = 1;            // self-connects to make, one after another
    // With more than one, the i-th is made as "COMM-(i % comms)": each name
    // is a command of its own, which the kernel does not fold with another.
    int comms = 1;
    bool fresh_netns = false;  // in a new network namespace with lo up
    // The first SYN is lost (a filter on the socket, taken off after 200
    // ms), so the handshake ends from the retransmit timer, in softirq,
    // while the child waits for it: no task holds the socket then.
    bool first_syn_lost = false;
    // How the child waits for its handshake: asleep in a blocking
    // connect(), or after a non-blocking one in poll(), epoll_wait(), or
    // io_uring_enter() for an io_uring poll of the socket.
    enum class Wait { InConnect, InPoll, InEpoll, InIoUring };
    Wait wait = Wait::InConnect;
    bool hold = false;         // keep the last socket open until SIGTERM
    uid_t uid = 0;             // the child's uid (and gid), when not 0
    // When not 0, the uid (and gid) the child takes once its socket is
    // made, before it connects: the socket's user (root) is then not its
    // waiter's, as with a socket handed to another user's process.
    uid_t uid_after_socket = 0;
};

struct SelfConnectChild {
    pid_t pid = -1;
    uint32_t netns = 0;  // the namespace the child connected in
};

// Forks the child and waits until it is about to connect.
SelfConnectChild start_self_connects(const SelfConnectPlan& plan);

// Exit status of the child: 0 when every connect met itself.
int wait_child(pid_t pid);

// Self-connects made one after another (as the plan says, but for its
// repeat) until stopped: a flood that must still run while something else
// happens, however fast the machine makes a fixed number of them.
class SelfConnectFlood {
public:
    // Forks the child and waits until it is about to connect.
    explicit SelfConnectFlood(const SelfConnectPlan& plan);
    ~SelfConnectFlood();
    SelfConnectFlood(const SelfConnectFlood&) = delete;
    SelfConnectFlood& operator=(const SelfConnectFlood&) = delete;

    // Self-connects made so far, each one met itself.
    long made() const;
    // Ends the flood after the self-connect in progress and reaps the child:
    // 0 if every connect met itself, else why the first that did not failed
    // (as wait_child says). made() is then final.
    int stop();

private:
    struct Shared;
    Shared* shared_ = nullptr;  // a page the child writes and the parent reads
    pid_t pid_ = -1;
    int status_ = -1;
};

// A client stuck on itself: it self-connects on 127.0.0.1:port, then blocks
// in recv() until something destroys the socket.
struct StuckClient {
    pid_t pid = -1;
    int report_fd = -1;  // carries the errno its recv() ended with
};
StuckClient start_stuck_client(uint16_t port, const std::string& comm);
// The errno the stuck client's recv() failed with (0 if it returned data or
// end of file), or -1 if it died first. Reaps the child.
int wait_recv_error(StuckClient& client);

// Sends the descriptor `fd` through the unix socket `unix_fd` (SCM_RIGHTS,
// one byte of data) and closes it: the socket lives on in flight, held by
// no descriptor until the message is received. False if it was not sent.
bool send_in_flight(int unix_fd, int fd);

// A self-connected socket on 127.0.0.1:port, in the caller's namespace,
// that no descriptor holds: the child makes it, sends it to itself through
// a unix socket (SCM_RIGHTS) and closes its own descriptor, so the socket
// lives on in flight, as a kernel socket or an io_uring direct descriptor
// would: sock_diag lists it, no walk of the host's descriptors finds it.
// With `netns_path`, in that namespace instead. Returns the child once the
// socket is in flight (-1 if it could not be made); it ends on SIGTERM.
pid_t start_self_connect_in_flight(uint16_t port, const std::string& netns_path = "");

uint32_t netns_inode_of_self();

// unshare(CLONE_NEWNET) and bring lo up; for use in a forked child.
bool enter_fresh_netns();

// Sets lo up in the current network namespace.
bool bring_loopback_up();

// A port no test of this run shares: derived from the pid, above 20000.
uint16_t unique_port(int index);

// True when the tests may use root-only features; see REQUIRE_ROOT.
bool running_as_root();

// Where cgroup v2 is mounted (the first cgroup2 mount), or "".
std::string cgroup2_mount();

}  // namespace selfconnect::testing

// Root tests skip on a laptop, but fail under CI, where skipping would hide.
#define REQUIRE_ROOT()                                                          \
    do {                                                                        \
        if (!::selfconnect::testing::running_as_root()) {                       \
            if (std::getenv("CI"))                                              \
                FAIL() << "this test needs root, and CI is set";                \
            GTEST_SKIP() << "needs root";                                       \
        }                                                                       \
    } while (0)
