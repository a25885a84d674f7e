#include "io_uring_once.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace selfconnect::testing {

int io_uring_once(const io_uring_sqe& request)
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
    sqes[0] = request;
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

}  // namespace selfconnect::testing
