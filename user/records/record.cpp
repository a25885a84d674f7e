#include "records/record.h"

#include <sys/socket.h>

#include <stdexcept>
#include <type_traits>
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

// Where a kind's facts sit in RecordFacts; a type that is not there does not compile.
template <typename Facts, size_t... I>
constexpr size_t index_in_variant(std::index_sequence<I...>)
{
    size_t index = sizeof...(I);
    ((std::is_same_v<Facts, std::variant_alternative_t<I, RecordFacts>> ? (index = I, true) : false) || ...);
    return index;
}
template <typename Facts>
constexpr size_t facts_index()
{
    constexpr size_t index = index_in_variant<Facts>(std::make_index_sequence<std::variant_size_v<RecordFacts>>{});
    static_assert(index < std::variant_size_v<RecordFacts>, "these facts are not in RecordFacts");
    return index;
}

// Each RecordType's facts. A type added to the enum without its case here
// fails to compile (-Werror=switch), and its case needs its facts in
// RecordFacts: no type can be left without its own fields.
size_t facts_index_of(RecordType type)
{
    switch (type) {
    case RecordType::SelfConnect: return facts_index<SelfConnectFacts>();
    case RecordType::SelfConnectClosed: return facts_index<SelfConnectClosedFacts>();
    case RecordType::ConnectRefused: return facts_index<ConnectRefusedFacts>();
    case RecordType::RetryLoop: return facts_index<RetryLoopFacts>();
    case RecordType::ListenerAtRisk: return facts_index<ListenerAtRiskFacts>();
    case RecordType::PortReserved: return facts_index<PortReservedFacts>();
    case RecordType::ListenerBlocked: return facts_index<ListenerBlockedFacts>();
    case RecordType::ListenerClosed: return facts_index<ListenerClosedFacts>();
    case RecordType::PortInUse: return facts_index<PortInUseFacts>();
    case RecordType::SelfConnectPrevented: return facts_index<SelfConnectPreventedFacts>();
    case RecordType::GuardMissed: return facts_index<GuardMissedFacts>();
    case RecordType::SelfConnectRepeats: return facts_index<SelfConnectRepeatsFacts>();
    }
    throw std::logic_error("a record type with no facts");
}

template <size_t... I>
RecordFacts facts_at(size_t index, std::index_sequence<I...>)
{
    RecordFacts facts;
    if (!((index == I ? (facts.emplace<I>(), true) : false) || ...))
        throw std::logic_error("a record type with no facts");
    return facts;
}

template <size_t... I>
const char* name_at(size_t index, std::index_sequence<I...>)
{
    const char* name = "unknown";
    ((index == I ? (name = std::variant_alternative_t<I, RecordFacts>::name, true) : false) || ...);
    return name;
}

constexpr auto kKinds = std::make_index_sequence<std::variant_size_v<RecordFacts>>{};

}  // namespace

RecordFacts facts_of(RecordType type)
{
    return facts_at(facts_index_of(type), kKinds);
}

const char* record_type_name(RecordType t)
{
    return name_at(facts_index_of(t), kKinds);
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
