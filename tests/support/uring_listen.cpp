// sc-uring-listen PORT: a listener made without the listen() system call.
// The socket is bound with bind(2), then set listening through io_uring
// (IORING_OP_LISTEN, Linux 6.11), which passes no syscall tracepoint. It
// prints "listening" or why not, then holds the socket until SIGTERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "io_uring_once.h"

namespace {

constexpr unsigned kOpListen = 57;  // IORING_OP_LISTEN

// Sets `fd` listening through one LISTEN request; its result (0 or -errno).
int listen_through_io_uring(int fd)
{
    io_uring_sqe sqe{};
    sqe.opcode = kOpListen;
    sqe.fd = fd;
    sqe.len = 16;  // backlog
    return selfconnect::testing::io_uring_once(sqe);
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 2)
        return 2;
    prctl(PR_SET_NAME, "sc-uring-listen");
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        std::perror("bind");
        return 1;
    }
    const int res = listen_through_io_uring(fd);
    if (res != 0) {
        std::printf("no io_uring listen: %s\n", std::strerror(-res));
        std::fflush(stdout);
        return 3;
    }
    std::printf("listening\n");
    std::fflush(stdout);
    pause();
    return 0;
}
