// What one run of a BPF iterator wrote, read whole: every iterator of the
// watcher and audit writes fixed-size records (bpf/events.h), read here
// and cut into them by their reader.
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace selfconnect {

// Everything the iterator `iter_fd` (from bpf_iter_create) writes, to its
// end. Nothing if a read failed; EAGAIN (a million objects walked and
// nothing written yet) and EINTR are read again, where the walk left off.
std::optional<std::string> read_iterator(int iter_fd);

// `bytes` cut into records of type T, each copied out (the bytes have no
// alignment); a partial record at the end is left out.
template <class T>
std::vector<T> records_of(const std::string& bytes)
{
    std::vector<T> records(bytes.size() / sizeof(T));
    if (!records.empty())
        std::memcpy(records.data(), bytes.data(), records.size() * sizeof(T));
    return records;
}

}  // namespace selfconnect
