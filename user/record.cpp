#include "record.h"

#include <sys/socket.h>
#include <time.h>

#include <cstring>
#include <span>

#include "container_identity.h"
#include "text_format.h"

namespace selfconnect {

const char* record_type_name(RecordType t)
{
    switch (t) {
    case RecordType::SelfConnect: return "self_connect";
    case RecordType::SelfConnectClosed: return "self_connect_closed";
    case RecordType::ConnectRefused: return "connect_refused";
    case RecordType::RetryLoop: return "retry_loop";
    case RecordType::ListenerAtRisk: return "listener_at_risk";
    case RecordType::PortReserved: return "port_reserved";
    case RecordType::ListenerBlocked: return "listener_blocked";
    case RecordType::ListenerClosed: return "listener_closed";
    case RecordType::PortInUse: return "port_in_use";
    }
    return "unknown";
}

const char* family_name(uint16_t family)
{
    return family == AF_INET6 ? "ipv6" : "ipv4";
}

namespace {

RecordType type_of(uint8_t kind)
{
    switch (kind) {
    case SC_EVENT_SELF_CONNECT_CLOSED: return RecordType::SelfConnectClosed;
    case SC_EVENT_CONNECT_REFUSED: return RecordType::ConnectRefused;
    case SC_EVENT_LISTEN: return RecordType::ListenerAtRisk;
    case SC_EVENT_LISTENER_CLOSED: return RecordType::ListenerClosed;
    case SC_EVENT_PORT_IN_USE: return RecordType::PortInUse;
    default: return RecordType::SelfConnect;
    }
}

bool is_v4_mapped(uint16_t family, const uint8_t* a)
{
    static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return family == AF_INET6 && std::memcmp(a, prefix, sizeof(prefix)) == 0;
}

uint64_t clock_ns(clockid_t id)
{
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

std::chrono::system_clock::time_point wall_time_of(uint64_t mono_ns)
{
    const uint64_t mono_now = clock_ns(CLOCK_MONOTONIC);
    const uint64_t real_now = clock_ns(CLOCK_REALTIME);
    const uint64_t age = mono_now > mono_ns ? mono_now - mono_ns : 0;
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(real_now - age)));
}

Record decode_event(const sc_event& e, std::chrono::system_clock::time_point wall)
{
    Record r;
    r.type = type_of(e.kind);
    r.time = wall;
    r.mono_ns = e.mono_ns;
    r.owner.known = e.owner == SC_OWNER_CONNECT || e.owner == SC_OWNER_CURRENT;
    r.owner.exited = e.owner == SC_OWNER_EXITED;
    if (r.owner.known || r.owner.exited) {
        r.owner.pid = e.tgid;
        r.owner.tid = e.tid;
    }
    if (r.owner.known) {
        r.owner.uid = e.uid;
        r.owner.comm.assign(e.comm, strnlen(e.comm, sizeof(e.comm)));
        r.owner.cgroup_id = e.cgroup_id;
    }
    r.netns = e.netns;
    r.family = e.family;
    r.addr = format_address(e.family, std::span<const uint8_t, 16>(e.addr, 16));
    r.v4_mapped = is_v4_mapped(e.family, e.addr);
    r.port = e.port;
    r.range_lo = e.range_lo;
    r.range_hi = e.range_hi;
    r.reserved = e.reserved != 0;
    return r;
}

nlohmann::json to_json(const Record& r)
{
    using nlohmann::json;
    json j;
    j["type"] = record_type_name(r.type);
    j["time"] = format_rfc3339_utc(r.time);
    if (r.owner.known) {
        j["pid"] = r.owner.pid;
        j["tid"] = r.owner.tid;
        j["comm"] = r.owner.comm;  // dump() replaces invalid UTF-8
        if (!is_valid_utf8(r.owner.comm))
            j["comm_hex"] = to_hex(r.owner.comm);
        j["uid"] = r.owner.uid;
        j["cgroup"] = r.owner.cgroup_id;
        j["cgroup_path"] = r.owner.cgroup_path.empty() ? json(nullptr) : json(r.owner.cgroup_path);
        const ContainerIdentity c = container_identity_of(r.owner.cgroup_path);
        if (c.container_id)
            j["container_id"] = *c.container_id;
        if (c.pod_uid)
            j["pod_uid"] = *c.pod_uid;
    } else {
        j["pid"] = r.owner.exited ? json(r.owner.pid) : json(nullptr);
        j["comm"] = nullptr;
        j["uid"] = nullptr;
        j["cgroup"] = nullptr;
    }
    j["owner_known"] = r.owner.known;
    j["netns"] = r.netns;
    j["family"] = family_name(r.family);
    j["addr"] = r.addr;
    j["v4_mapped"] = r.v4_mapped;
    j["port"] = r.port;
    j["in_ephemeral_range"] = r.in_ephemeral_range();
    j["reserved"] = r.reserved;
    j["ephemeral_range"] = {r.range_lo, r.range_hi};
    if (r.lifetime_seconds)
        j["lifetime_seconds"] = *r.lifetime_seconds;
    if (r.refusals)
        j["refusals"] = *r.refusals;
    if (r.window_seconds)
        j["window_seconds"] = *r.window_seconds;
    if (r.type == RecordType::ListenerAtRisk)
        j["connect_tries_first"] = r.port % 2 == r.range_lo % 2;
    if (r.fix)
        j["fix"] = *r.fix;
    if (r.reason)
        j["reason"] = *r.reason;
    if (r.reserved_ports)
        j["reserved_ports"] = *r.reserved_ports;
    if (r.error)
        j["error"] = *r.error;
    if (r.persist)
        j["persist"] = *r.persist;
    if (r.holder) {
        const PortHolder& h = *r.holder;
        j["holder"] = {{"pid", h.pid}, {"comm", h.comm}, {"uid", h.uid}, {"addr", h.addr}, {"port", h.port},
                       {"self_connected", h.self_connected}};
        if (h.container_id)
            j["holder"]["container_id"] = *h.container_id;
    }
    if (r.killed)
        j["killed"] = *r.killed;
    if (r.kill_error)
        j["kill_error"] = *r.kill_error;
    return j;
}

namespace {

std::string endpoint_text(const Record& r)
{
    return r.family == AF_INET6 ? "[" + r.addr + "]:" + std::to_string(r.port)
                                : r.addr + ":" + std::to_string(r.port);
}

std::string owner_text(const Owner& o)
{
    if (o.exited)
        return "pid=" + std::to_string(o.pid) + " (exited) comm=?";
    if (!o.known)
        return "pid=? comm=?";
    std::string s = "pid=" + std::to_string(o.pid) + " comm=" + escape_for_terminal(o.comm) +
                    " uid=" + std::to_string(o.uid);
    if (!o.cgroup_path.empty())
        s += " cgroup=" + escape_for_terminal(o.cgroup_path);
    const ContainerIdentity c = container_identity_of(o.cgroup_path);
    if (c.container_id)
        s += " container=" + c.container_id->substr(0, 12);  // the short id `docker ps` shows
    if (c.pod_uid)
        s += " pod=" + *c.pod_uid;
    return s;
}

std::string range_text(const Record& r)
{
    std::string s = r.in_ephemeral_range() ? "in ephemeral range " : "outside ephemeral range ";
    s += std::to_string(r.range_lo) + "-" + std::to_string(r.range_hi);
    s += r.reserved ? ", reserved" : ", not reserved";
    return s;
}

std::string reserved_text(const Record& r)
{
    std::string s = "PORT-RESERVED " + std::to_string(r.port) + " netns=" + std::to_string(r.netns) + " (" +
                    r.reason.value_or("?") + ")";
    if (r.error)
        return "PORT-NOT-RESERVED " + std::to_string(r.port) + " netns=" + std::to_string(r.netns) + ": " +
               *r.error;
    s += ": net.ipv4.ip_local_reserved_ports is now " + r.reserved_ports.value_or("?");
    if (r.persist)
        s += "; to keep it after a reboot, put '" + *r.persist + "' in /etc/sysctl.d/";
    return s;
}

// "python3 (pid 812) cannot listen on 127.0.0.1:44500: held by nc (pid 790), connected to itself; ..."
std::string blocked_text(const Record& r)
{
    std::string s = "LISTENER-BLOCKED " + escape_for_terminal(r.owner.comm) + " (pid " + std::to_string(r.owner.pid) +
                    ") cannot listen on " + endpoint_text(r) + " netns=" + std::to_string(r.netns);
    if (!r.holder)
        return s;
    const PortHolder& h = *r.holder;
    s += ": held by " + escape_for_terminal(h.comm) + " (pid " + std::to_string(h.pid) + "), ";
    if (h.self_connected)
        return s + "connected to itself; 'selfconnect audit --kill' frees it, --protect keeps it free";
    return s + "connected to " + (h.addr.find(':') != std::string::npos ? "[" + h.addr + "]" : h.addr) + ":" +
           std::to_string(h.port) + " from this port; put the port in net.ipv4.ip_local_reserved_ports (--protect)";
}

}  // namespace

std::string to_text(const Record& r)
{
    std::string line = format_rfc3339_utc(r.time) + " ";
    switch (r.type) {
    case RecordType::SelfConnect:
        line += "SELF-CONNECT " + endpoint_text(r) + " -> itself";
        break;
    case RecordType::SelfConnectClosed:
        line += "SELF-CONNECT-CLOSED " + endpoint_text(r);
        if (r.lifetime_seconds) {
            char buf[48];
            snprintf(buf, sizeof(buf), " after %.6fs", *r.lifetime_seconds);
            line += buf;
        }
        break;
    case RecordType::RetryLoop:
        line += "RETRY-LOOP " + endpoint_text(r) + " refused " + std::to_string(r.refusals.value_or(0)) +
                " times";
        break;
    case RecordType::ListenerAtRisk:
        line += "LISTENER-AT-RISK " + endpoint_text(r);
        break;
    case RecordType::PortReserved:
        return line + reserved_text(r);
    case RecordType::ListenerBlocked:
        return line + blocked_text(r);
    case RecordType::ConnectRefused:
    case RecordType::ListenerClosed:
    case RecordType::PortInUse:
        line += std::string(record_type_name(r.type)) + " " + endpoint_text(r);
        break;
    }
    line += " " + owner_text(r.owner) + " netns=" + std::to_string(r.netns) + " " +
            family_name(r.family) + " (" + range_text(r) + ")";
    if (r.killed)
        line += *r.killed ? " [killed]" : " [kill failed: " + r.kill_error.value_or("?") + "]";
    if (r.type == RecordType::ListenerAtRisk)
        line += r.port % 2 == r.range_lo % 2 ? "; connect() tries ports of this parity first"
                                             : "; connect() reaches this parity only after the other";
    if (r.type == RecordType::ListenerAtRisk && r.fix)
        line += "; fix: " + *r.fix;
    return line;
}

}  // namespace selfconnect
