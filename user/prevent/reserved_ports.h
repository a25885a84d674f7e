// The one owner of a namespace's net.ipv4.ip_local_reserved_ports, the
// seed's third fix: connect() and bind(0) then never pick those ports,
// while an explicit bind() (a server) still can. Also every way this
// project tells a person to do the same: the sysctl line in each
// namespace's form, the /etc/sysctl.d line, and the port_reserved record.
//
// How the kernel's file behaves (proc_do_large_bitmap): a read at offset 0
// returns as much of the list as fits, a read at any other offset nothing,
// so the list is read in one read() large enough for any list. A write at
// offset 0 replaces the list; a write at any other offset adds its ports to
// it; each write takes at most a page. So ports are only ever added, by
// writes at offset 1 and on: no port is ever removed, whoever else writes
// at the same time, and the list is read back to check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "host/port_set.h"
#include "records/record.h"

namespace selfconnect {

struct ReserveResult {
    bool changed = false;      // the list was written (false: already reserved)
    std::string list;          // the namespace's list afterwards, kernel syntax
    std::optional<std::string> error;
};

// The list of the namespace the calling thread is in; throws if it cannot
// be read or parsed.
PortSet read_reserved_ports_here();

// The namespace's list now, or nothing if it cannot be entered or read.
std::optional<PortSet> read_reserved_ports(int netns_fd);

// Adds `ports` to the list of the namespace `netns_fd` (-1: this one).
ReserveResult reserve_ports(int netns_fd, const PortSet& ports);

// The same, for a thread already in the namespace; throws on failure.
ReserveResult reserve_ports_here(const PortSet& ports);

// How a person sets the list to `list` in the namespace `netns`, reached at
// `netns_path` (/run/netns/NAME or /proc/PID/ns/net): the sysctl line,
// behind `ip netns exec` or `nsenter` for another namespace.
std::string fix_command(const PortSet& list, uint32_t netns, const std::string& netns_path);

// The fix for a live listener at risk: the sysctl line with the namespace's
// list merged when the watcher can read that list, else the audit that
// merges it. A list that could not be read is never replaced.
std::string live_fix_command(const Record& listener);

// The same in two steps, for a caller that keeps the list a moment: the
// listener's namespace's list, where the watcher may read it ...
std::optional<PortSet> readable_reserved_ports(const Record& listener);
// ... and the command, from that list (or its absence).
std::string live_fix_command(const Record& listener, const std::optional<PortSet>& list);

// The line for /etc/sysctl.d/ that keeps `list` after a reboot.
std::string persistent_sysctl_line(const std::string& list);

// For a listener in a Kubernetes pod: the pod-spec lines that set `list` in
// the pod's namespace each time it is made (a safe sysctl since Kubernetes
// 1.27), where --protect and --fix last only as long as that namespace.
// One line of YAML, to go under the pod's `spec:`.
std::string pod_spec_sysctl(const PortSet& list);

// The listener's namespace's list with its port added, where the watcher
// may read the list; else the port alone.
PortSet with_listener_port(const Record& listener, const std::optional<PortSet>& list);

// A port_reserved record before anything was tried (for a refusal).
Record port_reserved_record(uint32_t netns, uint16_t port, ReserveReason reason);
// ... and with what reserve_ports() did: the list afterwards, the error,
// and for the watcher's own namespace the line that persists it.
Record port_reserved_record(uint32_t netns, uint16_t port, ReserveReason reason, const ReserveResult& result);

}  // namespace selfconnect
