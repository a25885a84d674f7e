#include "records/record.h"

#include <sys/socket.h>

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

template <size_t... I>
RecordFacts facts_at(size_t index, std::index_sequence<I...>)
{
    RecordFacts facts;
    ((index == I ? (facts.emplace<I>(), true) : false) || ...);
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
    return facts_at(static_cast<size_t>(type), kKinds);
}

const char* record_type_name(RecordType t)
{
    return name_at(static_cast<size_t>(t), kKinds);
}

std::optional<std::string>* fix_line(Record& r)
{
    if (auto* self_connect = r.if_is<SelfConnectFacts>())
        return &self_connect->fix;
    if (auto* listener = r.if_is<ListenerAtRiskFacts>())
        return &listener->fix;
    if (auto* prevented = r.if_is<SelfConnectPreventedFacts>())
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
