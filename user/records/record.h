// What selfconnect reports: the records and the process and sockets they
// name. Nothing here knows how a record is printed or where it came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

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
    bool exited = false;  // pid known; the task was gone before the event
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

struct Record {
    RecordType type = RecordType::SelfConnect;
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
    // Listeners: did the kernel choose the port (bind() to port 0, listen()
    // without bind())? Such a port changes at every start: reserving it
    // protects nothing. Unknown where nothing could tell (audit).
    std::optional<bool> port_chosen_by_kernel;
    std::optional<double> lifetime_seconds;  // self_connect_closed
    std::optional<uint64_t> refusals;        // retry_loop
    std::optional<double> window_seconds;    // retry_loop
    std::optional<uint64_t> repeats;         // self_connect_repeats: how many were folded
    std::optional<uint64_t> since_mono_ns;   // self_connect_repeats: from when (to `time`)
    std::optional<double> span_seconds;      // self_connect_repeats: over how long
    std::optional<bool> killed;              // --kill
    std::optional<std::string> kill_error;
    std::optional<std::string> fix;          // the command that protects this port
    std::optional<std::string> pod_fix;      // listeners in a pod: the pod-spec lines that keep it protected
    std::optional<ReserveReason> reason;     // port_reserved
    std::optional<std::string> reserved_ports;  // port_reserved: the namespace's list afterwards
    std::optional<std::string> error;        // port_reserved: why it could not be done
    std::optional<std::string> persist;      // port_reserved, host namespace: the /etc/sysctl.d line
    std::optional<HeldSocket> holder;        // listener_blocked

    bool in_ephemeral_range() const { return port >= range_lo && port <= range_hi; }
    // Does connect() try this port's parity first (listener_at_risk)?
    bool connect_tries_first() const { return port % 2 == range_lo % 2; }
};

// The "family" field's value: "ipv4" or "ipv6".
const char* family_name(uint16_t family);

}  // namespace selfconnect
