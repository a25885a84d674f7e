// sc-uring-listen PORT: a listener made without the listen() system call.
// The socket is bound with bind(2), then set listening through io_uring
// (IORING_OP_LISTEN, Linux 6.11), which passes no syscall tracepoint. It
// prints "listening" or why not, then holds the socket until SIGTERM.
// io_uring is driven by hand: Debian 12's liburing predates the opcode.
#include <arpa/inet.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr unsigned kOpListen = 57;  // IORING_OP_LISTEN

// Submits one LISTEN for `fd` and waits for it; its result (0 or -errno).
int listen_through_io_uring(int fd)
{
    io_uring_params p{};
    const int ring = static_cast<int>(syscall(__NR_io_uring_setup, 1, &p));
    if (ring < 0)
        return -errno;
    const size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    const size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    const size_t ring_size = std::max(sq_size, cq_size);  // IORING_FEAT_SINGLE_MMAP, 5.4+
    auto* sq = static_cast<char*>(mmap(nullptr, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                                       IORING_OFF_SQ_RING));
    auto* sqes = static_cast<io_uring_sqe*>(mmap(nullptr, p.sq_entries * sizeof(io_uring_sqe), PROT_READ | PROT_WRITE,
                                                 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES));
    if (sq == MAP_FAILED || sqes == MAP_FAILED)
        return -ENOMEM;
    io_uring_sqe& sqe = sqes[0];
    std::memset(&sqe, 0, sizeof(sqe));
    sqe.opcode = kOpListen;
    sqe.fd = fd;
    sqe.len = 16;  // backlog
    auto* array = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
    auto* tail = reinterpret_cast<std::atomic<unsigned>*>(sq + p.sq_off.tail);
    const unsigned mask = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
    const unsigned t = tail->load(std::memory_order_relaxed);
    array[t & mask] = 0;
    tail->store(t + 1, std::memory_order_release);
    if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, nullptr, 0) < 0)
        return -errno;
    auto* head = reinterpret_cast<std::atomic<unsigned>*>(sq + p.cq_off.head);
    const unsigned cq_mask = *reinterpret_cast<unsigned*>(sq + p.cq_off.ring_mask);
    const auto* cqes = reinterpret_cast<io_uring_cqe*>(sq + p.cq_off.cqes);
    const int res = cqes[head->load(std::memory_order_acquire) & cq_mask].res;
    close(ring);
    return res;
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
