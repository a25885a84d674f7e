#include "watch/stop_summary.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace selfconnect {

namespace {

unsigned long long n(uint64_t v)
{
    return static_cast<unsigned long long>(v);
}

// printf's checks stay on: a count and its format cannot disagree.
__attribute__((format(printf, 2, 3))) void append(std::string& out, const char* format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    const int len = std::vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    if (len > 0)
        out.append(line, std::min(static_cast<size_t>(len), sizeof(line) - 1));
}

}  // namespace

std::string stop_summary(const WatchTotals& t)
{
    std::string out;
    // Self-connects lost in the kernel were seen by no filter: with --pid or
    // --comm they may belong to other processes.
    append(out,
           "selfconnect: %llu self-connects detected, %llu retry-loop warnings, %llu events lost "
           "(%llu self-connects, %llu closes, %llu refusals), %llu runs skipped by the kernel, "
           "%llu records not written\n",
           n(t.detections), n(t.retry_loop_warnings), n(t.lost.total), n(t.lost.of(SC_EVENT_SELF_CONNECT)),
           n(t.lost.of(SC_EVENT_SELF_CONNECT_CLOSED)), n(t.lost.of(SC_EVENT_CONNECT_REFUSED)), n(t.skipped_runs),
           n(t.not_written));
    // Said only when it happened: a kind the kernel side writes and this
    // build does not map is a defect, already reported as events_lost.
    if (t.unknown_kinds)
        append(out, "selfconnect: %llu events of a kind this build does not know were lost (events_lost, unknown_kind)\n",
               n(t.unknown_kinds));
    if (t.open_count.total)
        append(out,
               "selfconnect: the count of open self-connects could not follow %llu self-connects and %llu "
               "closes (events_lost, open_count)\n",
               n(t.open_count.of(SC_EVENT_SELF_CONNECT)), n(t.open_count.of(SC_EVENT_SELF_CONNECT_CLOSED)));
    if (t.guard)
        append(out,
               "selfconnect: guard: %llu self-connects prevented, %llu connects that could have met "
               "themselves passed no guard\n",
               n((*t.guard)[SC_GUARD_PREVENTED]), n((*t.guard)[SC_GUARD_MISSED]));
    return out;
}

}  // namespace selfconnect
