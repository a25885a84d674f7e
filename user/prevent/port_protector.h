// watch --protect: reserves each port it is told about in its namespace's
// ip_local_reserved_ports, at most `max` per namespace, and only in the
// namespaces listed (all when none is). A namespace is known by its cookie
// where the kernel gives one (5.14): a new namespace that was handed a dead
// one's inode starts afresh.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "host/port_set.h"
#include "records/record.h"

namespace selfconnect {

class PortProtector {
public:
    PortProtector(uint32_t max_per_netns, std::vector<uint32_t> only_netns);
    // The port_reserved record for this port, or nothing if it was reserved
    // already or the namespace was left out. `pid` lives in the namespace.
    std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason);
    // The namespace's list as it now reads: a port this protector reserved
    // that is no longer in it (someone took it out) is reserved again when
    // next asked.
    void forget_unless_reserved(uint32_t netns, const PortSet& reserved);

private:
    uint32_t max_;
    std::vector<uint32_t> only_;
    std::map<uint64_t, std::set<uint16_t>> done_;  // by namespace (cookie, or inode)
    std::set<uint64_t> capped_;                     // namespaces told about the cap
};

}  // namespace selfconnect
