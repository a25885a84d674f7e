#include "records/record_json.h"

#include <cstdio>

#include "records/event_decoding.h"
#include "records/event_kinds.h"
#include "records/text_format.h"

namespace selfconnect {

namespace {

using nlohmann::json;

// Each kind's own fields. A kind without its overload here does not compile.
void add_kill(json& j, const std::optional<KillOutcome>& kill)
{
    if (!kill)
        return;
    j["killed"] = kill->ok;
    if (!kill->ok)
        j["kill_error"] = kill->error;
}

void add_if(json& j, const char* field, const std::optional<std::string>& value)
{
    if (value)
        j[field] = *value;
}

void add_facts(json& j, const Record&, const SelfConnectFacts& f)
{
    add_if(j, "fix", f.fix);
    add_kill(j, f.kill);
}

void add_facts(json& j, const Record&, const SelfConnectClosedFacts& f)
{
    if (f.lifetime_seconds)
        j["lifetime_seconds"] = *f.lifetime_seconds;
}

void add_facts(json&, const Record&, const ConnectRefusedFacts&) {}

void add_facts(json& j, const Record&, const RetryLoopFacts& f)
{
    j["refusals"] = f.refusals;
    j["window_seconds"] = f.window_seconds;
}

void add_facts(json& j, const Record& r, const ListenerAtRiskFacts& f)
{
    j["connect_tries_first"] = r.connect_tries_first();
    if (f.port_chosen_by_kernel)
        j["port_chosen_by"] = *f.port_chosen_by_kernel ? "kernel" : "program";
    add_if(j, "fix", f.fix);
    add_if(j, "pod_fix", f.pod_fix);
}

void add_facts(json& j, const Record&, const PortReservedFacts& f)
{
    j["reason"] = reserve_reason_name(f.reason);
    add_if(j, "reserved_ports", f.reserved_ports);
    add_if(j, "error", f.error);
    add_if(j, "persist", f.persist);
}

void add_facts(json& j, const Record&, const ListenerBlockedFacts& f)
{
    if (!f.holder)
        return;
    const HeldSocket& h = *f.holder;
    j["holder"] = {{"pid", h.owner.pid},  {"comm", h.owner.comm}, {"uid", h.owner.uid},
                   {"addr", h.peer_addr}, {"port", h.peer_port},  {"self_connected", h.self_connected}};
    if (h.owner.container_id)
        j["holder"]["container_id"] = *h.owner.container_id;
    if (h.owner.container_name)
        j["holder"]["container_name"] = *h.owner.container_name;
}

void add_facts(json&, const Record&, const ListenerClosedFacts&) {}

void add_facts(json&, const Record&, const PortInUseFacts&) {}

void add_facts(json& j, const Record&, const SelfConnectPreventedFacts& f)
{
    add_if(j, "fix", f.fix);
}

void add_facts(json& j, const Record&, const GuardMissedFacts& f)
{
    add_if(j, "error", f.error);
}

void add_facts(json& j, const Record&, const SelfConnectRepeatsFacts& f)
{
    j["repeats"] = f.repeats;
    j["since"] = format_rfc3339_utc(wall_time_of(f.since_mono_ns));
    j["span_seconds"] = f.span_seconds;
    if (f.open_one_killed)
        j["killed"] = true;
}

}  // namespace

nlohmann::json to_json(const Record& r)
{
    json j;
    j["type"] = record_type_name(r.type());
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
        j["pid"] = nullptr;
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
    if (r.bound_ifindex)
        j["bound_ifindex"] = r.bound_ifindex;
    j["in_ephemeral_range"] = r.in_ephemeral_range();
    j["reserved"] = r.reserved;
    j["ephemeral_range"] = {r.range_lo, r.range_hi};
    std::visit([&](const auto& facts) { add_facts(j, r, facts); }, r.facts);
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
    case LossPlace::OpenCount:
        j["where"] = "open_count";
        j["self_connects"] = l.of(SC_EVENT_SELF_CONNECT);
        j["self_connect_closes"] = l.of(SC_EVENT_SELF_CONNECT_CLOSED);
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
    const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // DEL and the C1 controls (U+0080 to U+009F) are valid JSON as they are,
    // but a terminal acts on them and journald keeps a MESSAGE holding one
    // as a blob of bytes: written as \u escapes, the same string. They can
    // only be inside strings: every key is ours.
    std::string line;
    line.reserve(dumped.size());
    for (size_t i = 0; i < dumped.size(); ++i) {
        const auto c = static_cast<unsigned char>(dumped[i]);
        const bool c1 = c == 0xC2 && i + 1 < dumped.size() && static_cast<unsigned char>(dumped[i + 1]) <= 0x9F &&
                        static_cast<unsigned char>(dumped[i + 1]) >= 0x80;
        if (c != 0x7F && !c1) {
            line += dumped[i];
            continue;
        }
        const unsigned code = c == 0x7F ? 0x7Fu : static_cast<unsigned char>(dumped[++i]);
        char escaped[8];
        std::snprintf(escaped, sizeof(escaped), "\\u%04x", code);
        line += escaped;
    }
    return line;
}

}  // namespace selfconnect
