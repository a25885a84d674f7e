#include "records/record.h"

#include <sys/socket.h>

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
    case RecordType::SelfConnectPrevented: return "self_connect_prevented";
    case RecordType::GuardMissed: return "guard_missed";
    case RecordType::SelfConnectRepeats: return "self_connect_repeats";
    }
    return "unknown";
}

const char* reserve_reason_name(ReserveReason r)
{
    switch (r) {
    case ReserveReason::ListenerAtRisk: return "listener_at_risk";
    case ReserveReason::RetryLoop: return "retry_loop";
    case ReserveReason::SelfConnect: return "self_connect";
    }
    return "?";
}

const char* family_name(uint16_t family)
{
    return family == AF_INET6 ? "ipv6" : "ipv4";
}

}  // namespace selfconnect
