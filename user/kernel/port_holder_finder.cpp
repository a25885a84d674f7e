#include "kernel/port_holder_finder.h"

#include <unistd.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "host/unique_fd.h"
#include "kernel/iterator_output.h"
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
    const std::optional<std::vector<sc_holder>> records = read_iterator<sc_holder>(iter.get());
    if (!records)
        return found;
    std::vector<uint64_t> seen;
    for (const sc_holder& h : *records) {
        // A socket shared by several processes (after fork) is one holder.
        if (std::find(seen.begin(), seen.end(), h.inode) != seen.end())
            continue;
        seen.push_back(h.inode);
        found.push_back(decode_holder(h));
    }
    return found;
}

}  // namespace selfconnect
