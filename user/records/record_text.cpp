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
    std::string s = r.family == AF_INET6 ? "[" + r.addr + "]:" + std::to_string(r.port)
                                         : r.addr + ":" + std::to_string(r.port);
    if (r.bound_ifindex)
        s += " (bound to interface " + std::to_string(r.bound_ifindex) + ")";
    return s;
}

std::string owner_text(const Owner& o)
{
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

std::string reserved_text(const Record& r, const PortReservedFacts& f)
{
    if (f.error)
        return "PORT-NOT-RESERVED " + std::to_string(r.port) + " netns=" + std::to_string(r.netns) + ": " +
               *f.error;
    std::string s = "PORT-RESERVED " + std::to_string(r.port) + " netns=" + std::to_string(r.netns) + " (" +
                    reserve_reason_name(f.reason) + ")";
    s += ": net.ipv4.ip_local_reserved_ports is now " + f.reserved_ports.value_or("?");
    if (f.persist)
        s += "; to keep it after a reboot, put '" + *f.persist + "' in /etc/sysctl.d/";
    return s;
}

// "python3 (pid 812) cannot listen on 127.0.0.1:44500: held by nc (pid 790), connected to itself; ..."
std::string blocked_text(const Record& r, const ListenerBlockedFacts& f)
{
    std::string s = "LISTENER-BLOCKED " + escape_for_terminal(r.owner.comm) + " (pid " + std::to_string(r.owner.pid) +
                    ") cannot listen on " + endpoint_text(r) + " netns=" + std::to_string(r.netns);
    if (!f.holder)
        return s;
    const HeldSocket& h = *f.holder;
    s += ": held by " + escape_for_terminal(h.owner.comm) + " (pid " + std::to_string(h.owner.pid) + "), ";
    if (h.self_connected)
        return s + "connected to itself; 'selfconnect audit --kill' frees it, --protect keeps it free";
    return s + "connected to " +
           (h.peer_addr.find(':') != std::string::npos ? "[" + h.peer_addr + "]" : h.peer_addr) + ":" +
           std::to_string(h.peer_port) + " from this port; put the port in net.ipv4.ip_local_reserved_ports (--protect)";
}

std::string killed_text(const std::optional<KillOutcome>& kill)
{
    if (!kill)
        return "";
    return kill->ok ? " [killed]" : " [kill failed: " + kill->error + "]";
}

const char kKernelChosePort[] =
    "; the kernel chose this port (bind to port 0, or listen without bind): it changes at each start, "
    "so reserving it protects nothing; give the server a fixed port outside the range";

// A record's line, in three parts: what happened, then (unless the kind
// says it all) who and where, then what the kind adds after.
struct KindText {
    std::string what;
    std::string after;
    bool whole = false;  // `what` is the whole line after the time
};

// Kinds the watcher keeps to itself (never written as they are): their
// name and where, for a line seen only while debugging.
KindText internal_text(const Record& r, const char* name)
{
    return {std::string(name) + " " + endpoint_text(r), ""};
}

// Each kind's words. A kind without its overload here does not compile.
KindText kind_text(const Record& r, const SelfConnectFacts& f)
{
    return {"SELF-CONNECT " + endpoint_text(r) + " -> itself", killed_text(f.kill)};
}

KindText kind_text(const Record& r, const SelfConnectClosedFacts& f)
{
    std::string what = "SELF-CONNECT-CLOSED " + endpoint_text(r);
    if (f.lifetime_seconds) {
        char buf[48];
        snprintf(buf, sizeof(buf), " after %.6fs", *f.lifetime_seconds);
        what += buf;
    }
    return {what, ""};
}

KindText kind_text(const Record& r, const ConnectRefusedFacts&)
{
    return internal_text(r, ConnectRefusedFacts::name);
}

KindText kind_text(const Record& r, const RetryLoopFacts& f)
{
    return {"RETRY-LOOP " + endpoint_text(r) + " refused " + std::to_string(f.refusals) + " times", ""};
}

KindText kind_text(const Record& r, const ListenerAtRiskFacts& f)
{
    std::string after = r.connect_tries_first() ? "; connect() tries ports of this parity first"
                                                : "; connect() reaches this parity only after the other";
    if (f.port_chosen_by_kernel.value_or(false))
        after += kKernelChosePort;
    if (f.fix)
        after += "; fix: " + *f.fix;
    if (f.pod_fix)
        after += "; in the pod's spec, to outlive its restarts: " + *f.pod_fix;
    return {"LISTENER-AT-RISK " + endpoint_text(r), after};
}

KindText kind_text(const Record& r, const PortReservedFacts& f)
{
    return {reserved_text(r, f), "", true};
}

KindText kind_text(const Record& r, const ListenerBlockedFacts& f)
{
    return {blocked_text(r, f), "", true};
}

KindText kind_text(const Record& r, const ListenerClosedFacts&)
{
    return internal_text(r, ListenerClosedFacts::name);
}

KindText kind_text(const Record& r, const PortInUseFacts&)
{
    return internal_text(r, PortInUseFacts::name);
}

KindText kind_text(const Record& r, const SelfConnectPreventedFacts& f)
{
    return {"SELF-CONNECT-PREVENTED " + endpoint_text(r) +
                " (its SYN met itself; the guard refused it as a closed port does)",
            f.fix ? "; fix: " + *f.fix : ""};
}

KindText kind_text(const Record& r, const GuardMissedFacts& f)
{
    return {"GUARD-MISSED " + endpoint_text(r) + " (no guard saw this connect's SYN; " +
                (f.error ? "the guard could not be attached to this namespace: " + *f.error
                         : std::string("the guard is now attached to this namespace")) +
                ")",
            ""};
}

KindText kind_text(const Record& r, const SelfConnectRepeatsFacts& f)
{
    char buf[64];
    snprintf(buf, sizeof(buf), ": %llu more in %.3fs since ", static_cast<unsigned long long>(f.repeats),
             f.span_seconds);
    return {"SELF-CONNECT-REPEATED " + endpoint_text(r) + " -> itself" + buf +
                format_rfc3339_utc(wall_time_of(f.since_mono_ns)) + "; last recorded",
            f.open_one_killed ? " [the one open now killed]" : ""};
}

}  // namespace

std::string to_text(const Record& r)
{
    const KindText kind = std::visit([&](const auto& facts) { return kind_text(r, facts); }, r.facts);
    std::string line = format_rfc3339_utc(r.time) + " " + kind.what;
    if (kind.whole)
        return line;
    return line + " " + owner_text(r.owner) + " netns=" + std::to_string(r.netns) + " " + family_name(r.family) +
           " (" + range_text(r) + ")" + kind.after;
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
    case LossPlace::OpenCount:
        return head + " self-connects or closes to the open count: more at once than the kernel's tables hold; " +
               "selfconnect_self_connects_open may read up to as many low until those self-connects close, or " +
               "high until those closes' sockets are read again (in all: " +
               std::to_string(l.of(SC_EVENT_SELF_CONNECT)) + " self-connects, " +
               std::to_string(l.of(SC_EVENT_SELF_CONNECT_CLOSED)) + " closes)";
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
