// What selfconnect reports, independent of how it is printed. decode_event()
// is the one place where a raw kernel event becomes a record.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "events.h"

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
};

const char* record_type_name(RecordType t);

// The task that called connect(), or nothing known.
struct Owner {
    bool known = false;   // pid, comm, uid, cgroup all known
    bool exited = false;  // pid known; the task was gone before the event
    uint32_t pid = 0;
    uint32_t tid = 0;
    uint32_t uid = 0;
    std::string comm;
    uint64_t cgroup_id = 0;
    std::string cgroup_path;  // resolved in userspace; empty if unknown
};

// The socket that holds a port a server could not bind (listener_blocked).
struct PortHolder {
    uint32_t pid = 0;
    std::string comm;
    uint32_t uid = 0;
    std::string addr;         // its remote address
    uint16_t port = 0;        // its remote port
    bool self_connected = false;
    std::optional<std::string> container_id;
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
    std::optional<double> lifetime_seconds;  // self_connect_closed
    std::optional<uint64_t> refusals;        // retry_loop
    std::optional<double> window_seconds;    // retry_loop
    std::optional<bool> killed;              // --kill
    std::optional<std::string> kill_error;
    std::optional<std::string> fix;          // audit: the sysctl line that protects this port
    std::optional<std::string> reason;       // port_reserved: listener_at_risk or retry_loop
    std::optional<std::string> reserved_ports;  // port_reserved: the namespace's list afterwards
    std::optional<std::string> error;        // port_reserved: why it could not be done
    std::optional<std::string> persist;      // port_reserved, host namespace: the /etc/sysctl.d line
    std::optional<PortHolder> holder;        // listener_blocked

    bool in_ephemeral_range() const { return port >= range_lo && port <= range_hi; }
};

// Maps a kernel event to a record. `wall` is when the event happened.
Record decode_event(const sc_event& e, std::chrono::system_clock::time_point wall);

// Converts a kernel CLOCK_MONOTONIC stamp to wall-clock time, using the
// current offset between the two clocks.
std::chrono::system_clock::time_point wall_time_of(uint64_t mono_ns);

nlohmann::json to_json(const Record& r);
std::string to_text(const Record& r);

// The "family" field's value: "ipv4" or "ipv6".
const char* family_name(uint16_t family);

}  // namespace selfconnect
