#include "kernel/iterator_output.h"

#include <unistd.h>

#include <cerrno>

namespace selfconnect {

std::optional<size_t> read_iterator_once(int iter_fd, std::byte* into, size_t room)
{
    for (;;) {
        const ssize_t n = read(iter_fd, into, room);
        if (n >= 0)
            return static_cast<size_t>(n);
        if (errno != EAGAIN && errno != EINTR)
            return std::nullopt;
    }
}

}  // namespace selfconnect
