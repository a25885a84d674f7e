#include "kernel/iterator_output.h"

#include <unistd.h>

#include <cerrno>

namespace selfconnect {

std::optional<std::string> read_iterator(int iter_fd)
{
    // Read in large chunks: reading one record's size at a time gave one
    // record of many and then nothing on Linux 6.1 (a debug build in the
    // kernel-matrix VM).
    constexpr size_t kChunk = 64 * 1024;
    std::string bytes;
    for (;;) {
        const size_t used = bytes.size();
        bytes.resize(used + kChunk);
        const ssize_t n = read(iter_fd, bytes.data() + used, kChunk);
        bytes.resize(used + static_cast<size_t>(n > 0 ? n : 0));
        if (n == 0)
            return bytes;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return std::nullopt;
    }
}

}  // namespace selfconnect
