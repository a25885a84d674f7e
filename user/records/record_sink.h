// Where records go: one sink per output form, each writing whole lines.
// Every line of output passes through one: records, loss notices and
// audit's report alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "records/line_writer.h"
#include "records/lost_events.h"
#include "records/record.h"

namespace selfconnect {

enum class OutputForm {
    Text,  // one line a record, for people
    Json,  // one JSON object a line (NDJSON), for log collectors
};

// What `selfconnect audit` found, in the order it is reported.
struct AuditReport {
    size_t namespaces = 0;       // network namespaces read
    uint64_t self_connects = 0;  // self-connected sockets found
    uint64_t listeners = 0;      // listeners at risk found
    std::vector<Record> records;
};

class RecordSink {
public:
    virtual ~RecordSink() = default;
    virtual void write(const Record& r) = 0;
    virtual void write_lost(const LostEvents& lost) = 0;
    // Audit's report: its records, in order; a form may add a summary.
    virtual void write_audit(const AuditReport& report)
    {
        for (const Record& r : report.records)
            write(r);
    }
};

class TextSink final : public RecordSink {
public:
    explicit TextSink(LineWriter& out) : out_(out) {}
    void write(const Record& r) override;
    void write_lost(const LostEvents& lost) override;
    // A summary line first, and each namespace's fix once, under its
    // first record, rather than on every line.
    void write_audit(const AuditReport& report) override;

private:
    LineWriter& out_;
};

class JsonSink final : public RecordSink {
public:
    explicit JsonSink(LineWriter& out) : out_(out) {}
    void write(const Record& r) override;
    void write_lost(const LostEvents& lost) override;

private:
    LineWriter& out_;
};

// The line that says `lost` in that form.
std::string lost_line(OutputForm form, const LostEvents& lost);

// The sink for the form asked for; it also teaches `out` to announce lines
// it could not write in that form.
std::unique_ptr<RecordSink> make_sink(OutputForm form, LineWriter& out);

}  // namespace selfconnect
