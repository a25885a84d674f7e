// Reserving ports in a namespace's net.ipv4.ip_local_reserved_ports, the
// seed's third fix: connect() and bind(0) then never pick them, while an
// explicit bind() (a server) still can. A write replaces the whole list,
// so it is always read, merged and written back; no port is ever removed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "port_set.h"
#include "record.h"

namespace selfconnect {

struct ReserveResult {
    bool changed = false;      // the list was written (false: already reserved)
    std::string list;          // the namespace's list afterwards, kernel syntax
    std::optional<std::string> error;
};

// The namespace's list now, or nothing if it cannot be entered or read.
std::optional<PortSet> read_reserved_ports(int netns_fd);

// Adds `ports` to the list of the namespace `netns_fd` (-1: this one).
ReserveResult reserve_ports(int netns_fd, const PortSet& ports);

// The line for /etc/sysctl.d/ that keeps `list` after a reboot.
std::string persistent_sysctl_line(const std::string& list);

// watch --protect: reserves each port it is told about, at most `max` per
// namespace, and only in the namespaces listed (all when empty).
class PortProtector {
public:
    PortProtector(uint32_t max_per_netns, std::vector<uint32_t> only_netns);
    // The port_reserved record for this port, or nothing if it was reserved
    // already or the namespace was left out. `pid` lives in the namespace.
    std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t pid, const std::string& reason);

private:
    uint32_t max_;
    std::vector<uint32_t> only_;
    std::map<uint32_t, std::set<uint16_t>> done_;  // by netns
    std::set<uint32_t> capped_;                     // namespaces told about the cap
};

}  // namespace selfconnect
