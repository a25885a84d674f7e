// The watcher's last words on stderr: every count it was given, in the
// order the README documents, and the guard's line only when it ran.
#include <gtest/gtest.h>

#include "watch/stop_summary.h"

using namespace selfconnect;

TEST(StopSummary, SaysEveryCountInItsPlace)
{
    WatchTotals t;
    t.detections = 1;
    t.retry_loop_warnings = 2;
    t.lost.total = 3;
    t.lost.by_kind[SC_EVENT_SELF_CONNECT] = 4;
    t.lost.by_kind[SC_EVENT_SELF_CONNECT_CLOSED] = 5;
    t.lost.by_kind[SC_EVENT_CONNECT_REFUSED] = 6;
    t.skipped_runs = 7;
    t.not_written = 18446744073709551615ULL;
    EXPECT_EQ(stop_summary(t),
              "selfconnect: 1 self-connects detected, 2 retry-loop warnings, 3 events lost (4 self-connects, "
              "5 closes, 6 refusals), 7 runs skipped by the kernel, 18446744073709551615 records not written\n");
}

TEST(StopSummary, TheGuardsLineOnlyWhenItRan)
{
    WatchTotals t;
    const std::string without = stop_summary(t);
    EXPECT_EQ(without.find("guard"), std::string::npos) << without;
    t.guard = std::array<uint64_t, SC_GUARD_COUNTS>{};
    (*t.guard)[SC_GUARD_PREVENTED] = 8;
    (*t.guard)[SC_GUARD_MISSED] = 9;
    const std::string with = stop_summary(t);
    EXPECT_TRUE(with.starts_with(without)) << with;
    EXPECT_EQ(with.substr(without.size()),
              "selfconnect: guard: 8 self-connects prevented, 9 connects that could have met themselves passed no "
              "guard\n");
}

// A kernel kind this build does not map is a defect: the summary says how
// many such events went unreported, and says nothing when there were none.
TEST(StopSummary, EventsOfAnUnknownKindAreSaidOnlyWhenThereWereSome)
{
    WatchTotals t;
    const std::string none = stop_summary(t);
    EXPECT_EQ(none.find("does not know"), std::string::npos) << none;
    t.unknown_kinds = 3;
    const std::string some = stop_summary(t);
    EXPECT_TRUE(some.starts_with(none)) << some;
    EXPECT_EQ(some.substr(none.size()), "selfconnect: 3 events of a kind this build does not know were lost (events_lost, unknown_kind)\n");
}

// What the count of open self-connects could not follow is said at stop,
// by kind, and nothing when there was none.
TEST(StopSummary, WhatTheOpenCountCouldNotFollowIsSaidOnlyWhenThereWasSome)
{
    WatchTotals t;
    const std::string none = stop_summary(t);
    EXPECT_EQ(none.find("open_count"), std::string::npos) << none;
    t.open_count.total = 7;
    t.open_count.by_kind[SC_EVENT_SELF_CONNECT] = 2;
    t.open_count.by_kind[SC_EVENT_SELF_CONNECT_CLOSED] = 5;
    const std::string some = stop_summary(t);
    EXPECT_TRUE(some.starts_with(none)) << some;
    EXPECT_EQ(some.substr(none.size()),
              "selfconnect: the count of open self-connects could not follow 2 self-connects and 5 closes "
              "(events_lost, open_count)\n");
}
