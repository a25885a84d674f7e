#include "kernel/port_holder_finder.h"

#include <unistd.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "host/unique_fd.h"
#include "kernel/kernel_program.h"
#include "records/event_decoding.h"

namespace selfconnect {

bool PortHolderFinder::available() const { return program_.holder_iterator_link_fd() >= 0; }

std::vector<HeldSocket> PortHolderFinder::find(uint32_t netns, uint16_t port)
{
    std::vector<HeldSocket> found;
    if (!available())
        return found;
    program_.ask_holders_of(netns, port);
    UniqueFd iter(bpf_iter_create(program_.holder_iterator_link_fd()));
    if (!iter)
        return found;
    // Read in large chunks and cut into records: reading one record's size
    // at a time gave one record of many and then nothing on Linux 6.1 (a
    // debug build in the kernel-matrix VM).
    std::string bytes;
    std::vector<char> chunk(64 * 1024);
    for (ssize_t n; (n = read(iter.get(), chunk.data(), chunk.size())) > 0;)
        bytes.append(chunk.data(), static_cast<size_t>(n));
    std::vector<uint64_t> seen;
    for (size_t at = 0; at + sizeof(sc_holder) <= bytes.size(); at += sizeof(sc_holder)) {
        sc_holder h;
        std::memcpy(&h, bytes.data() + at, sizeof(h));
        // A socket shared by several processes (after fork) is one holder.
        if (std::find(seen.begin(), seen.end(), h.inode) != seen.end())
            continue;
        seen.push_back(h.inode);
        found.push_back(decode_holder(h));
    }
    return found;
}

}  // namespace selfconnect
