// Each kind of event the BPF program writes (bpf/events.h), declared once:
// the record it becomes and the names its losses go by. Decoding, the loss
// records and the loss metrics walk this table, in its order; a kind the
// kernel side writes without a line here is no record but a loss of its
// own (unknown_kind), never taken for another.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "events.h"
#include "records/record.h"

namespace selfconnect {

struct EventKind {
    uint8_t number;                 // enum sc_event_kind
    RecordType type;                // the record it becomes
    std::string_view lost_field;    // events_lost (where kernel): the JSON field of its count
    std::string_view lost_words;    // the same count in the text line
    std::string_view metric_label;  // selfconnect_events_lost_total{where="kernel",kind=...}
};

inline constexpr std::array<EventKind, 8> kEventKinds = {{
    {SC_EVENT_SELF_CONNECT, RecordType::SelfConnect, "self_connects", "self-connects", "self_connect"},
    {SC_EVENT_SELF_CONNECT_CLOSED, RecordType::SelfConnectClosed, "self_connect_closes", "closes",
     "self_connect_closed"},
    {SC_EVENT_CONNECT_REFUSED, RecordType::ConnectRefused, "refusals", "refusals", "connect_refused"},
    {SC_EVENT_LISTEN, RecordType::ListenerAtRisk, "listens", "listens", "listen"},
    {SC_EVENT_LISTENER_CLOSED, RecordType::ListenerClosed, "listener_closes", "listener closes", "listener_closed"},
    {SC_EVENT_PORT_IN_USE, RecordType::PortInUse, "ports_in_use", "refused bind()/listen() calls", "port_in_use"},
    {SC_EVENT_SELF_CONNECT_PREVENTED, RecordType::SelfConnectPrevented, "self_connects_prevented",
     "self-connects prevented", "self_connect_prevented"},
    {SC_EVENT_GUARD_MISSED, RecordType::GuardMissed, "guard_missed", "connects the guard missed", "guard_missed"},
}};

// Every kind of bpf/events.h has its line: numbers 1 to SC_EVENT_KINDS - 1.
static_assert(kEventKinds.size() == SC_EVENT_KINDS - 1, "a kind of bpf/events.h has no line in kEventKinds");

// The line of kernel kind `number`, or nothing for a kind this build does not know.
constexpr const EventKind* event_kind(uint8_t number)
{
    for (const EventKind& k : kEventKinds)
        if (k.number == number)
            return &k;
    return nullptr;
}

}  // namespace selfconnect
