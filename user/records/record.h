// What selfconnect reports: the records and the process and sockets they
// name. Nothing here knows how a record is printed or where it came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace selfconnect {

enum class RecordType {
    SelfConnect,        // "self_connect"
    SelfConnectClosed,  // "self_connect_closed"
    ConnectRefused,     // internal: feeds the retry-loop warning
    RetryLoop,          // "retry_loop"
    ListenerAtRisk,     // "listener_at_risk"
    PortReserved,       // "port_reserved": --protect, audit --fix
    ListenerBlocked,    // "listener_blocked": bind()/listen() refused, and who holds the port
    ListenerClosed,     // internal: a listener in the ephemeral range closed
    PortInUse,          // internal: bind()/listen() failed with EADDRINUSE
    SelfConnectPrevented,  // "self_connect_prevented": --guard refused a SYN that met itself
    GuardMissed,           // "guard_missed": a connect() that could have met itself passed no guard
    SelfConnectRepeats,    // "self_connect_repeats": one command's self-connects on a port, past the first few a second
};

const char* record_type_name(RecordType t);

// Why a port was put in ip_local_reserved_ports (port_reserved's "reason").
enum class ReserveReason {
    ListenerAtRisk,  // "listener_at_risk"
    RetryLoop,       // "retry_loop"
    SelfConnect,     // "self_connect": audit --fix, a socket connected to itself
};

const char* reserve_reason_name(ReserveReason r);

// A process that has a socket: the caller of connect(), bind() or listen(),
// or the holder of a port. Either known, or nothing known.
struct Owner {
    bool known = false;   // pid, comm, uid, cgroup all known
    uint32_t pid = 0;
    uint32_t tid = 0;
    uint32_t uid = 0;
    std::string comm;
    uint64_t cgroup_id = 0;  // from the kernel; 0 when found through /proc
    // Filled in by OwnerEnricher, before any sink sees the record.
    std::string cgroup_path;  // "" if unknown
    std::optional<std::string> container_id;  // 64 hex digits
    std::optional<std::string> pod_uid;
    // From the runtime that owns the container (ContainerNamer), when known.
    std::optional<std::string> container_name;
    std::optional<std::string> pod_name;
    std::optional<std::string> pod_namespace;
};

// A TCP socket bound to a port someone else wants (listener_blocked's
// holder), as the holder iterator saw it.
struct HeldSocket {
    Owner owner;              // pid, comm and uid of the process holding it
    std::string local_addr;
    std::string peer_addr;
    uint16_t peer_port = 0;
    uint8_t state = 0;        // a TcpState
    bool self_connected = false;
    uint64_t inode = 0;       // the socket's: one socket, however many fds
};

// Each kind's own fields, beside the header every record has. A record's
// kind is which of these it holds (Record::facts), so a field exists only on
// the kinds it means something for. Each names its RecordType and the
// "type" it is written as.

// --kill's outcome for one socket.
struct KillOutcome {
    bool ok = false;
    std::string error;  // why not, when !ok
};

struct SelfConnectFacts {
    static constexpr RecordType type = RecordType::SelfConnect;
    static constexpr const char* name = "self_connect";
    std::optional<KillOutcome> kill;  // --kill
    std::optional<std::string> fix;   // audit: the command that keeps the port out of reach
};

struct SelfConnectClosedFacts {
    static constexpr RecordType type = RecordType::SelfConnectClosed;
    static constexpr const char* name = "self_connect_closed";
    std::optional<double> lifetime_seconds;  // unknown if its start was not seen
};

struct ConnectRefusedFacts {
    static constexpr RecordType type = RecordType::ConnectRefused;
    static constexpr const char* name = "connect_refused";
};

struct RetryLoopFacts {
    static constexpr RecordType type = RecordType::RetryLoop;
    static constexpr const char* name = "retry_loop";
    uint64_t refusals = 0;
    double window_seconds = 0;
};

struct ListenerAtRiskFacts {
    static constexpr RecordType type = RecordType::ListenerAtRisk;
    static constexpr const char* name = "listener_at_risk";
    // Did the kernel choose the port (bind() to port 0, listen() without
    // bind())? Such a port changes at every start: reserving it protects
    // nothing. Unknown where nothing could tell (audit).
    std::optional<bool> port_chosen_by_kernel;
    std::optional<std::string> fix;      // the command that protects this port
    std::optional<std::string> pod_fix;  // in a pod: the pod-spec lines that keep it protected
};

struct PortReservedFacts {
    static constexpr RecordType type = RecordType::PortReserved;
    static constexpr const char* name = "port_reserved";
    ReserveReason reason = ReserveReason::ListenerAtRisk;
    std::optional<std::string> reserved_ports;  // the namespace's list afterwards
    std::optional<std::string> error;           // why it could not be done
    std::optional<std::string> persist;         // host namespace: the /etc/sysctl.d line
};

struct ListenerBlockedFacts {
    static constexpr RecordType type = RecordType::ListenerBlocked;
    static constexpr const char* name = "listener_blocked";
    std::optional<HeldSocket> holder;  // who holds the port
};

struct ListenerClosedFacts {
    static constexpr RecordType type = RecordType::ListenerClosed;
    static constexpr const char* name = "listener_closed";
};

struct PortInUseFacts {
    static constexpr RecordType type = RecordType::PortInUse;
    static constexpr const char* name = "port_in_use";
};

struct SelfConnectPreventedFacts {
    static constexpr RecordType type = RecordType::SelfConnectPrevented;
    static constexpr const char* name = "self_connect_prevented";
    std::optional<std::string> fix;  // what would make the guard unneeded there
};

struct GuardMissedFacts {
    static constexpr RecordType type = RecordType::GuardMissed;
    static constexpr const char* name = "guard_missed";
    std::optional<std::string> error;  // why the guard could not be attached to the namespace
};

struct SelfConnectRepeatsFacts {
    static constexpr RecordType type = RecordType::SelfConnectRepeats;
    static constexpr const char* name = "self_connect_repeats";
    uint64_t repeats = 0;        // how many were folded
    uint64_t since_mono_ns = 0;  // from when (to the record's time)
    double span_seconds = 0;     // over how long
    bool open_one_killed = false;  // --kill: the loop's self-connect open at the record was destroyed
};

// In the order of RecordType: a kind's index is its type.
using RecordFacts =
    std::variant<SelfConnectFacts, SelfConnectClosedFacts, ConnectRefusedFacts, RetryLoopFacts, ListenerAtRiskFacts,
                 PortReservedFacts, ListenerBlockedFacts, ListenerClosedFacts, PortInUseFacts,
                 SelfConnectPreventedFacts, GuardMissedFacts, SelfConnectRepeatsFacts>;

// The facts of a kind, empty: what a record of `type` starts with.
RecordFacts facts_of(RecordType type);

struct Record {
    std::chrono::system_clock::time_point time;
    uint64_t mono_ns = 0;  // kernel CLOCK_MONOTONIC of the event
    Owner owner;
    uint32_t netns = 0;
    uint16_t family = 0;   // AF_INET / AF_INET6
    std::string addr;
    bool v4_mapped = false;
    uint16_t port = 0;
    uint16_t range_lo = 0;
    uint16_t range_hi = 0;
    bool reserved = false;
    uint32_t socket_inode = 0;  // listeners: which socket (0: unknown); not printed
    // The device the socket is bound to (SO_BINDTODEVICE), 0 for none; not
    // read for listeners. Sockets bound to different devices may share an
    // address and port, so two self-connects on one can be open at once.
    uint32_t bound_ifindex = 0;
    RecordFacts facts;          // the kind, and its own fields

    RecordType type() const { return static_cast<RecordType>(facts.index()); }
    // The kind's fields; asking a record for another kind's is a defect
    // (std::bad_variant_access).
    template <typename Facts>
    Facts& as() { return std::get<Facts>(facts); }
    template <typename Facts>
    const Facts& as() const { return std::get<Facts>(facts); }
    // The kind's fields if it is that kind, else null.
    template <typename Facts>
    const Facts* if_is() const { return std::get_if<Facts>(&facts); }
    template <typename Facts>
    Facts* if_is() { return std::get_if<Facts>(&facts); }

    bool in_ephemeral_range() const { return port >= range_lo && port <= range_hi; }
    // Does connect() try this port's parity first (listener_at_risk)?
    bool connect_tries_first() const { return port % 2 == range_lo % 2; }
};

// The fix line a record carries, where its kind has one (self-connects in
// audit, listeners at risk, prevented self-connects); null for the others.
const std::optional<std::string>* fix_line(const Record& r);
inline std::optional<std::string>* fix_line(Record& r)
{
    return const_cast<std::optional<std::string>*>(fix_line(std::as_const(r)));
}

// The "family" field's value: "ipv4" or "ipv6".
const char* family_name(uint16_t family);

}  // namespace selfconnect
