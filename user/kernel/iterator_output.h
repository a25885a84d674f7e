// What one run of a BPF iterator wrote, read whole: every iterator of the
// watcher and audit writes fixed-size records (bpf/events.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <type_traits>
#include <vector>

namespace selfconnect {

// One read of the iterator `iter_fd` into `room` bytes at `into`: the
// bytes read, 0 at its end, nothing if the read failed. EAGAIN (a million
// objects walked and nothing written yet) and EINTR are read again, where
// the walk left off.
std::optional<size_t> read_iterator_once(int iter_fd, std::byte* into, size_t room);

// Every record of type T that the iterator `iter_fd` (from
// bpf_iter_create) writes, to its end, read straight into the vector that
// keeps them (a census of a million sockets is 16 MB: not held twice); a
// partial record at the end is left out. Nothing if a read failed.
template <class T>
std::optional<std::vector<T>> read_iterator(int iter_fd)
{
    static_assert(std::is_trivially_copyable_v<T>);
    // Large reads: reading one record's size at a time gave one record of
    // many and then nothing on Linux 6.1 (a debug build in the VM).
    constexpr size_t kRecordsPerRead = (64 * 1024) / sizeof(T) + 1;
    std::vector<T> records;
    size_t bytes = 0;
    for (;;) {
        records.resize(bytes / sizeof(T) + kRecordsPerRead);
        const size_t room = records.size() * sizeof(T) - bytes;
        const std::optional<size_t> n =
            read_iterator_once(iter_fd, reinterpret_cast<std::byte*>(records.data()) + bytes, room);
        if (!n)
            return std::nullopt;
        if (*n == 0)
            break;
        bytes += *n;
    }
    records.resize(bytes / sizeof(T));
    return records;
}

}  // namespace selfconnect
