// Reports the kernel side's losses as records, as they grow: events that
// found the ring buffer full, and runs the kernel skipped.
#pragma once

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
    void poll();
    const LostEvents& totals() const { return reported_; }
    uint64_t skipped_runs() const { return skipped_.total; }

private:
    void poll_skipped();

    const KernelProgram& program_;
    RecordSink& sink_;
    Metrics& metrics_;
    LostEvents reported_;
    LostEvents skipped_;
};

}  // namespace selfconnect
