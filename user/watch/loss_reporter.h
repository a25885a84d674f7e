// Reports the watcher's losses as records, as they grow: events that found
// the ring buffer full (or refused bind()s past the kernel's budget), runs
// the kernel skipped, holder lookups that found their queue full, events
// of a kind the loader does not know, and self-connects or their closes
// that found the kernel's tables for the open count full. The
// metrics follow every poll; a record of each kind is written at most once
// a second, with everything since the last, so that a flood of losses is
// not a flood of lines. The last poll (at stop) always writes.
#pragma once

#include <chrono>
#include <cstdint>

#include "kernel/kernel_program.h"
#include "metrics/metrics.h"
#include "records/lost_events.h"
#include "records/record_sink.h"

namespace selfconnect {

class LossReporter {
public:
    LossReporter(const KernelProgram& program, RecordSink& sink, Metrics& metrics)
        : program_(program), sink_(sink), metrics_(metrics)
    {
    }
    // `dropped_lookups`: port conflicts whose holder was not looked for, in
    // all. `final`: write what is left, however recent the last record.
    void poll(uint64_t dropped_lookups, bool final = false);
    const LostEvents& totals() const { return ring_; }
    uint64_t skipped_runs() const { return skipped_place_.seen; }
    // An event of a kind the loader does not know: counted now, reported
    // at the next poll.
    void count_unknown_kind() { ++unknown_place_.seen; }
    uint64_t unknown_kinds() const { return unknown_place_.seen; }
    // What the open count could not follow, as last reported.
    const LostEvents& open_count() const { return open_count_place_.reported; }
    // listen()s and listeners' closes lost, in all.
    uint64_t listener_events_lost() const { return ring_.of(SC_EVENT_LISTEN) + ring_.of(SC_EVENT_LISTENER_CLOSED); }

private:
    // Loss counters are read where they may fail, and then come back as 0:
    // a count only ever grows.
    struct Place {
        LostEvents reported;  // what the last record said
        uint64_t seen = 0;    // the highest count read
        std::chrono::steady_clock::time_point last_record{};
    };
    // Writes a record for `place` if its count grew and it is time to.
    bool due(Place& place, bool final) const;
    void write(Place& place, LossPlace where);

    const KernelProgram& program_;
    RecordSink& sink_;
    Metrics& metrics_;
    Place ring_place_;
    Place skipped_place_;
    Place lookups_place_;
    Place unknown_place_;
    Place open_count_place_;
    LostEvents ring_;  // the ring's losses in all, by kind
};

}  // namespace selfconnect
