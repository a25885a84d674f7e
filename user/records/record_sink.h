// Where records go: one sink per output form, each writing whole lines.
#pragma once

#include <memory>

#include "records/line_writer.h"
#include "records/lost_events.h"
#include "records/record.h"

namespace selfconnect {

class RecordSink {
public:
    virtual ~RecordSink() = default;
    virtual void write(const Record& r) = 0;
    virtual void write_lost(const LostEvents& lost) = 0;
};

class TextSink final : public RecordSink {
public:
    explicit TextSink(LineWriter& out) : out_(out) {}
    void write(const Record& r) override;
    void write_lost(const LostEvents& lost) override;

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

// The sink for the form asked for; it also teaches `out` to announce lines
// it could not write in that form.
std::unique_ptr<RecordSink> make_sink(bool json, LineWriter& out);

}  // namespace selfconnect
