#include "records/record_text.h"

#include <sys/socket.h>

#include <cstdio>

#include "records/event_decoding.h"
#include "records/event_kinds.h"
#include "records/text_format.h"

namespace selfconnect {

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
    if (o.container_id) {
        s += " container=" + o.container_id->substr(0, 12);  // the short id `docker ps` shows
        if (o.container_name)
            s += " (" + escape_for_terminal(*o.container_name) + ")";
    }
    if (o.pod_name)
        s += " pod=" + escape_for_terminal(o.pod_namespace.value_or("?")) + "/" + escape_for_terminal(*o.pod_name);
    else if (o.pod_uid)
        s += " pod=" + *o.pod_uid;
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
    if (r.error)
        return "PORT-NOT-RESERVED " + std::to_string(r.port) + " netns=" + std::to_string(r.netns) + ": " +
               *r.error;
    std::string s = "PORT-RESERVED " + std::to_string(r.port) + " netns=" + std::to_string(r.netns) + " (" +
                    (r.reason ? reserve_reason_name(*r.reason) : "?") + ")";
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
    const HeldSocket& h = *r.holder;
    s += ": held by " + escape_for_terminal(h.owner.comm) + " (pid " + std::to_string(h.owner.pid) + "), ";
    if (h.self_connected)
        return s + "connected to itself; 'selfconnect audit --kill' frees it, --protect keeps it free";
    return s + "connected to " +
           (h.peer_addr.find(':') != std::string::npos ? "[" + h.peer_addr + "]" : h.peer_addr) + ":" +
           std::to_string(h.peer_port) + " from this port; put the port in net.ipv4.ip_local_reserved_ports (--protect)";
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
    case RecordType::SelfConnectRepeats: {
        char buf[64];
        snprintf(buf, sizeof(buf), ": %llu more in %.3fs since ", static_cast<unsigned long long>(r.repeats.value_or(0)),
                 r.span_seconds.value_or(0));
        line += "SELF-CONNECT-REPEATED " + endpoint_text(r) + " -> itself" + buf +
                (r.since_mono_ns ? format_rfc3339_utc(wall_time_of(*r.since_mono_ns)) : "?") + "; last recorded";
        break;
    }
    case RecordType::SelfConnectPrevented:
        line += "SELF-CONNECT-PREVENTED " + endpoint_text(r) +
                " (its SYN met itself; the guard refused it as a closed port does)";
        break;
    case RecordType::GuardMissed:
        line += "GUARD-MISSED " + endpoint_text(r) + " (no guard saw this connect's SYN; " +
                (r.error ? "the guard could not be attached to this namespace: " + *r.error
                         : std::string("the guard is now attached to this namespace")) +
                ")";
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
        line += !*r.killed ? " [kill failed: " + r.kill_error.value_or("?") + "]"
                : r.type == RecordType::SelfConnectRepeats ? " [the one open now killed]"
                                                           : " [killed]";
    if (r.type == RecordType::ListenerAtRisk)
        line += r.connect_tries_first() ? "; connect() tries ports of this parity first"
                                        : "; connect() reaches this parity only after the other";
    if (r.port_chosen_by_kernel.value_or(false))
        line += "; the kernel chose this port (bind to port 0, or listen without bind): it changes at each start, "
                "so reserving it protects nothing; give the server a fixed port outside the range";
    if ((r.type == RecordType::ListenerAtRisk || r.type == RecordType::SelfConnectPrevented) && r.fix)
        line += "; fix: " + *r.fix;
    if (r.pod_fix)
        line += "; in the pod's spec, to outlive its restarts: " + *r.pod_fix;
    return line;
}

std::string lost_text(const LostEvents& l)
{
    const std::string head = format_rfc3339_utc(l.when) + " LOST " + std::to_string(l.count);
    const std::string in_all = " (in all: " + std::to_string(l.total) + ")";
    switch (l.where) {
    case LossPlace::KernelSkipped:
        return head + " runs of the program: the kernel skipped them while another BPF program ran on that CPU" +
               in_all;
    case LossPlace::Output:
        return head + " records: they could not be written" + in_all;
    case LossPlace::HolderLookup:
        return head + " refused bind()/listen() calls: too many at once to look for who holds their port" + in_all;
    case LossPlace::UnknownKind:
        return head + " events of a kind this build of selfconnect does not know (a defect: please report it)" +
               in_all;
    case LossPlace::KernelRing:
        break;
    }
    std::string by_kind;
    for (const EventKind& k : kEventKinds)
        by_kind += (by_kind.empty() ? "" : ", ") + std::to_string(l.of(k.number)) + " " + std::string(k.lost_words);
    return head + " events: the kernel's ring buffer was full, or refused bind()s past its budget (in all: " + by_kind +
           ")";
}

}  // namespace selfconnect
