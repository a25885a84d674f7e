#include "watch/loss_reporter.h"

#include <algorithm>

namespace selfconnect {

namespace {
constexpr auto kRecordEvery = std::chrono::seconds(1);
}

void LossReporter::poll(uint64_t dropped_lookups, bool final)
{

    skipped_place_.seen = std::max(skipped_place_.seen, program_.skipped_runs());
    metrics_.skipped_kernel_runs = skipped_place_.seen;
    if (due(skipped_place_, final))
        write(skipped_place_, LossPlace::KernelSkipped);

    lookups_place_.seen = std::max(lookups_place_.seen, dropped_lookups);
    metrics_.lost_holder_lookups = lookups_place_.seen;
    if (due(lookups_place_, final))
        write(lookups_place_, LossPlace::HolderLookup);

    metrics_.lost_unknown_kinds = unknown_place_.seen;
    if (due(unknown_place_, final))
        write(unknown_place_, LossPlace::UnknownKind);

    // Counters of the program's own memory: read, they never fail.
    const uint64_t untracked = program_.self_connects_untracked();
    const uint64_t unkept = program_.unwritten_closes_unkept();
    open_count_place_.seen = untracked + unkept;
    metrics_.lost_open_count_self_connects = untracked;
    metrics_.lost_open_count_closes = unkept;
    if (due(open_count_place_, final)) {
        open_count_place_.reported.by_kind[SC_EVENT_SELF_CONNECT] = untracked;
        open_count_place_.reported.by_kind[SC_EVENT_SELF_CONNECT_CLOSED] = unkept;
        write(open_count_place_, LossPlace::OpenCount);
    }

    metrics_.refusals_folded = program_.folded_refusals();
    const auto folded = program_.folded_self_connects();
    metrics_.self_connects_folded_ipv4 = folded[0];
    metrics_.self_connects_folded_ipv6 = folded[1];
    metrics_.self_connects_open_unwritten = program_.unwritten_open_self_connects();

    const auto by_kind = program_.lost_events();
    uint64_t total = 0;
    for (uint64_t n : by_kind)
        total += n;
    if (total > ring_place_.seen) {
        ring_place_.seen = total;
        ring_.total = total;
        ring_.by_kind = by_kind;
        for (size_t kind = 0; kind < by_kind.size(); ++kind)
            metrics_.lost_kernel_by_kind[kind] = by_kind[kind];
    }
    if (due(ring_place_, final)) {
        LostEvents& r = ring_place_.reported;
        const uint64_t before = r.total;
        r = ring_;
        r.total = before;
        write(ring_place_, LossPlace::KernelRing);
    }
}

bool LossReporter::due(Place& place, bool final) const
{
    if (place.seen <= place.reported.total)
        return false;
    return final || std::chrono::steady_clock::now() - place.last_record >= kRecordEvery;
}

void LossReporter::write(Place& place, LossPlace where)
{
    LostEvents& r = place.reported;
    r.when = std::chrono::system_clock::now();
    r.where = where;
    r.count = place.seen - r.total;
    r.total = place.seen;
    place.last_record = std::chrono::steady_clock::now();
    sink_.write_lost(r);
}

}  // namespace selfconnect
