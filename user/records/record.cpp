#include "records/record.h"

#include <sys/socket.h>

#include <stdexcept>
#include <utility>

namespace selfconnect {

namespace {

// Each alternative of RecordFacts sits at the index of its own type.
template <size_t... I>
constexpr bool facts_in_type_order(std::index_sequence<I...>)
{
    return ((static_cast<size_t>(std::variant_alternative_t<I, RecordFacts>::type) == I) && ...);
}
static_assert(facts_in_type_order(std::make_index_sequence<std::variant_size_v<RecordFacts>>{}),
              "RecordFacts lists the kinds in the order of RecordType");

}  // namespace

// Each RecordType's facts. A type added to the enum without its case here
// fails to compile (-Werror=switch), and its case needs its facts in
// RecordFacts (nothing else converts to it): no type is left without its
// own fields.
RecordFacts facts_of(RecordType type)
{
    switch (type) {
    case RecordType::SelfConnect: return SelfConnectFacts{};
    case RecordType::SelfConnectClosed: return SelfConnectClosedFacts{};
    case RecordType::ConnectRefused: return ConnectRefusedFacts{};
    case RecordType::RetryLoop: return RetryLoopFacts{};
    case RecordType::ListenerAtRisk: return ListenerAtRiskFacts{};
    case RecordType::PortReserved: return PortReservedFacts{};
    case RecordType::ListenerBlocked: return ListenerBlockedFacts{};
    case RecordType::ListenerClosed: return ListenerClosedFacts{};
    case RecordType::PortInUse: return PortInUseFacts{};
    case RecordType::SelfConnectPrevented: return SelfConnectPreventedFacts{};
    case RecordType::GuardMissed: return GuardMissedFacts{};
    case RecordType::SelfConnectRepeats: return SelfConnectRepeatsFacts{};
    }
    throw std::logic_error("a record type with no facts");
}

const char* record_type_name(RecordType t)
{
    return std::visit([](const auto& facts) { return facts.name; }, facts_of(t));
}

const std::optional<std::string>* fix_line(const Record& r)
{
    if (const auto* self_connect = r.if_is<SelfConnectFacts>())
        return &self_connect->fix;
    if (const auto* listener = r.if_is<ListenerAtRiskFacts>())
        return &listener->fix;
    if (const auto* prevented = r.if_is<SelfConnectPreventedFacts>())
        return &prevented->fix;
    return nullptr;
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
