#include "watch/loss_reporter.h"

namespace selfconnect {

void LossReporter::poll()
{
    poll_skipped();
    const auto by_kind = program_.lost_events();
    uint64_t total = 0;
    for (uint64_t n : by_kind)
        total += n;
    if (total <= reported_.total)
        return;
    reported_.when = std::chrono::system_clock::now();
    reported_.count = total - reported_.total;
    reported_.total = total;
    reported_.self_connects = by_kind[SC_EVENT_SELF_CONNECT];
    reported_.closes = by_kind[SC_EVENT_SELF_CONNECT_CLOSED];
    reported_.refusals = by_kind[SC_EVENT_CONNECT_REFUSED];
    metrics_.lost_kernel_self_connects = reported_.self_connects;
    metrics_.lost_kernel_closes = reported_.closes;
    metrics_.lost_kernel_refusals = reported_.refusals;
    sink_.write_lost(reported_);
}

void LossReporter::poll_skipped()
{
    const uint64_t total = program_.skipped_runs();
    if (total <= skipped_.total)
        return;
    skipped_.when = std::chrono::system_clock::now();
    skipped_.count = total - skipped_.total;
    skipped_.total = total;
    skipped_.where = LossPlace::KernelSkipped;
    metrics_.skipped_kernel_runs = total;
    sink_.write_lost(skipped_);
}

}  // namespace selfconnect
