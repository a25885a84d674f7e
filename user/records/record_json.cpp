#include "records/record_json.h"

#include "records/event_decoding.h"
#include "records/event_kinds.h"
#include "records/text_format.h"

namespace selfconnect {

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
        if (r.owner.container_id)
            j["container_id"] = *r.owner.container_id;
        if (r.owner.pod_uid)
            j["pod_uid"] = *r.owner.pod_uid;
        if (r.owner.container_name)
            j["container_name"] = *r.owner.container_name;
        if (r.owner.pod_name)
            j["pod_name"] = *r.owner.pod_name;
        if (r.owner.pod_namespace)
            j["pod_namespace"] = *r.owner.pod_namespace;
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
    if (r.repeats)
        j["repeats"] = *r.repeats;
    if (r.since_mono_ns)
        j["since"] = format_rfc3339_utc(wall_time_of(*r.since_mono_ns));
    if (r.span_seconds)
        j["span_seconds"] = *r.span_seconds;
    if (r.type == RecordType::ListenerAtRisk)
        j["connect_tries_first"] = r.connect_tries_first();
    if (r.port_chosen_by_kernel)
        j["port_chosen_by"] = *r.port_chosen_by_kernel ? "kernel" : "program";
    if (r.fix)
        j["fix"] = *r.fix;
    if (r.pod_fix)
        j["pod_fix"] = *r.pod_fix;
    if (r.reason)
        j["reason"] = reserve_reason_name(*r.reason);
    if (r.reserved_ports)
        j["reserved_ports"] = *r.reserved_ports;
    if (r.error)
        j["error"] = *r.error;
    if (r.persist)
        j["persist"] = *r.persist;
    if (r.holder) {
        const HeldSocket& h = *r.holder;
        j["holder"] = {{"pid", h.owner.pid},   {"comm", h.owner.comm},  {"uid", h.owner.uid},
                       {"addr", h.peer_addr},  {"port", h.peer_port},   {"self_connected", h.self_connected}};
        if (h.owner.container_id)
            j["holder"]["container_id"] = *h.owner.container_id;
        if (h.owner.container_name)
            j["holder"]["container_name"] = *h.owner.container_name;
    }
    if (r.killed)
        j["killed"] = *r.killed;
    if (r.kill_error)
        j["kill_error"] = *r.kill_error;
    return j;
}

nlohmann::json lost_json(const LostEvents& l)
{
    nlohmann::json j{{"type", "events_lost"},
                     {"time", format_rfc3339_utc(l.when)},
                     {"count", l.count},
                     {"total", l.total}};
    switch (l.where) {
    case LossPlace::KernelSkipped:
        j["where"] = "kernel_skipped";
        break;
    case LossPlace::Output:
        j["where"] = "output";
        break;
    case LossPlace::HolderLookup:
        j["where"] = "holder_lookup";
        break;
    case LossPlace::UnknownKind:
        j["where"] = "unknown_kind";
        break;
    case LossPlace::KernelRing:
        j["where"] = "kernel";
        for (const EventKind& k : kEventKinds)
            j[std::string(k.lost_field)] = l.of(k.number);
        break;
    }
    return j;
}

std::string json_line(const nlohmann::json& j)
{
    // Process names may hold any bytes; replace what is not UTF-8 rather than
    // throw, so every line stays valid JSON (comm_hex keeps the raw bytes).
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace selfconnect
