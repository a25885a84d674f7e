// What is at risk now, read from the kernel's socket tables (sock_diag) in
// each network namespace: listeners on an unreserved port of their
// namespace's ephemeral range, and sockets connected to themselves. Audit
// reports (and fixes) it; watch starts from it.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <unordered_map>
#include <vector>

#include "host/netns.h"
#include "host/port_set.h"
#include "host/sock_diag.h"
#include "host/tcp_census.h"
#include "records/record.h"

namespace selfconnect {

// The namespace's ip_local_port_range and ip_local_reserved_ports.
struct PortPolicy {
    uint16_t lo = 0;
    uint16_t hi = 0;
    PortSet reserved;
};

// The range and reserved ports of the namespace `netns_fd` (another one
// is entered on a thread of its own, which needs CAP_SYS_ADMIN). Throws if
// the range cannot be read.
PortPolicy read_port_policy(int netns_fd);

inline bool operator==(const PortPolicy& a, const PortPolicy& b)
{
    return a.lo == b.lo && a.hi == b.hi && !(a.reserved != b.reserved);
}

struct Finding {
    Record record;     // listener_at_risk or self_connect; its owner not yet enriched
    TcpSocket socket;  // for --kill
};

struct NamespaceRisks {
    uint32_t netns = 0;
    PortPolicy policy;
    std::vector<Finding> findings;  // IPv4 first, in the kernel's order
    PortSet reserve;                // the reserved list that would protect them all
    bool listeners_only = false;    // the census ruled a self-connect out: only listeners were read
    bool needs_fix() const { return reserve != policy.reserved; }
};

// Who chose the port of each listener of the namespace `netns_fd`: socket
// inode -> true where the kernel chose it. sock_diag cannot tell; the
// watcher asks its listener-origin iterator. Nothing: unknown.
using PortOrigin = std::function<std::optional<std::unordered_map<uint64_t, bool>>(int netns_fd)>;

// Takes a census of the host's TCP sockets (kernel/socket_census), or
// nothing. Asked only by a scan of more than one namespace: for one, a
// walk of the kernel's table costs less than the census.
using CensusSource = std::function<std::optional<TcpCensusByNetns>()>;

class RiskScanner {
public:
    // Who holds which socket is read once, for every namespace scanned,
    // when the first finding needs it.
    // With `origin`, a listener whose port the kernel chose is marked so,
    // and left out of the fix: reserving it would protect nothing.
    // With ReservedListeners::Include, listeners in the range whose port is
    // reserved are found too, marked reserved (watch's risk map shows them
    // fixed); they get no fix and ask no origin.
    enum class ReservedListeners { Skip, Include };
    explicit RiskScanner(PortOrigin origin = nullptr, ReservedListeners reserved = ReservedListeners::Skip);
    // Every finding gets the namespace's fix command when it needs one.
    // Throws if the namespace cannot be read (it may have gone). Changes
    // nothing: several namespaces may be scanned at once, on threads of
    // their own, unless `origin` cannot be asked from several at once.
    // With `census` (what a census of descriptors found there), a
    // namespace where it rules out a self-connect is asked for its
    // listeners alone: the kernel answers that from its listening table
    // instead of walking every TCP socket of the host.
    NamespaceRisks scan(uint32_t netns, const NetnsHandle& ns, const TcpCensus* census = nullptr) const;

private:
    Record record_of(RecordType type, const TcpSocket& s, uint32_t netns, const PortPolicy& policy) const;

    // Socket inode -> pid, read once, at the first finding of any thread.
    const std::unordered_map<uint32_t, uint32_t>& owner_pids() const;

    mutable std::once_flag owners_read_;
    mutable std::unordered_map<uint32_t, uint32_t> owner_pids_;
    PortOrigin origin_;
    ReservedListeners reserved_;
};

struct ScanResult {
    std::vector<Record> records;       // listeners in the range (at risk, or reserved), self-connected sockets
    std::vector<uint32_t> namespaces;  // those read (all their listeners and self-connects)
    // Those that could not be read, each with why.
    std::vector<std::pair<uint32_t, std::string>> unread;
    // Is namespace `netns` known to hold no TCP socket now (it ended, or
    // its sockets closed), so none of its listeners can be left? Known from
    // a census of every socket, or, without one, when every namespace could
    // be listed (CAP_SYS_ADMIN) and it is not among them. Nothing is said
    // of namespaces the scan was not asked for.
    bool holds_no_socket(uint32_t netns) const
    {
        return holding && netns_selected(selection, netns) && !holding->count(netns);
    }
    std::vector<uint32_t> selection;             // those asked for (every one when empty)
    std::optional<std::set<uint32_t>> holding;  // those that may hold sockets, when that is known
};

// The listeners at risk and the self-connected sockets now, as audit
// reports them, and the listeners in the range whose port is reserved
// (marked so), in every namespace or only in those listed. Without
// CAP_SYS_ADMIN only our own namespace is read. For watch, at its start
// and after it lost listener events. With `census`, a namespace where the
// census rules out a self-connect is asked for its listeners alone.
// With `tell_empty`, a census is taken even where the scan needed none, so
// that ScanResult::holds_no_socket knows of every namespace.
ScanResult scan_now(const std::vector<uint32_t>& only_netns, PortOrigin origin = nullptr,
                    const CensusSource& census = nullptr, bool tell_empty = false);

}  // namespace selfconnect
