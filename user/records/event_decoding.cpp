#include "records/event_decoding.h"

#include <sys/socket.h>
#include <time.h>

#include <cstring>
#include <optional>
#include <span>

#include "records/event_kinds.h"
#include "records/text_format.h"

namespace selfconnect {

namespace {

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

std::string address_of(uint16_t family, const uint8_t (&bytes)[16])
{
    return format_address(family, std::span<const uint8_t, 16>(bytes, 16));
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

std::optional<Record> decode_event(const sc_event& e, std::chrono::system_clock::time_point wall)
{
    const EventKind* kind = event_kind(e.kind);
    if (!kind)
        return std::nullopt;
    Record r;
    r.facts = facts_of(kind->type);
    r.time = wall;
    r.mono_ns = e.mono_ns;
    r.owner.known = e.owner == SC_OWNER_CONNECT || e.owner == SC_OWNER_CURRENT;
    if (r.owner.known) {
        r.owner.pid = e.tgid;
        r.owner.tid = e.tid;
        r.owner.uid = e.uid;
        r.owner.comm.assign(e.comm, strnlen(e.comm, sizeof(e.comm)));
        r.owner.cgroup_id = e.cgroup_id;
    }
    r.netns = e.netns;
    r.family = e.family;
    r.addr = address_of(e.family, e.addr);
    r.v4_mapped = is_v4_mapped(e.family, e.addr);
    r.port = e.port;
    r.range_lo = e.range_lo;
    r.range_hi = e.range_hi;
    r.reserved = e.reserved != 0;
    if (r.type() == RecordType::ListenerAtRisk || r.type() == RecordType::ListenerClosed)
        r.socket_inode = e.sock_ino;
    else
        r.bound_ifindex = e.bound_dev_if;
    if (auto* listener = r.if_is<ListenerAtRiskFacts>())
        listener->port_chosen_by_kernel = (e.flags & SC_FLAG_PORT_CHOSEN_BY_KERNEL) != 0;
    return r;
}

Record decode_unwritten_close(const sc_unwritten_close& c, uint64_t mono_ns)
{
    Record r;
    r.facts = facts_of(RecordType::SelfConnectClosed);
    r.mono_ns = mono_ns;
    r.netns = c.netns;
    r.family = c.family;
    r.addr = address_of(c.family, c.addr);
    r.v4_mapped = is_v4_mapped(c.family, c.addr);
    r.port = c.port;
    r.bound_ifindex = c.bound_dev_if;
    return r;
}

HeldSocket decode_holder(const sc_holder& h)
{
    HeldSocket s;
    s.owner.known = true;
    s.owner.pid = h.tgid;
    s.owner.tid = h.tgid;
    s.owner.uid = h.uid;
    s.owner.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
    s.state = h.state;
    s.inode = h.inode;
    s.local_addr = address_of(h.family, h.saddr);
    s.peer_addr = address_of(h.family, h.daddr);
    s.peer_port = h.dport;
    s.self_connected = h.dport == h.sport && s.peer_addr == s.local_addr;
    return s;
}

}  // namespace selfconnect
