// Records for the journal, where systemd runs the watcher: each record goes
// through journald's native protocol with its fields (records/journal_entry.h),
// its MESSAGE the line stdout would have carried. A record journald does
// not take goes to stdout as that line; one neither takes is counted lost
// with stdout's, and announced in the journal once it takes records again.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "host/journal_socket.h"
#include "records/line_writer.h"
#include "records/record_sink.h"

namespace selfconnect {

class JournalSink final : public RecordSink {
public:
    JournalSink(JournalSocket journal, OutputForm form, LineWriter& stdout_lines);
    void write(const Record& r) override;
    void write_lost(const LostEvents& lost) override;

private:
    void send(const nlohmann::json& fields, const std::string& line);
    // Through the native socket: false if journald did not take it.
    bool deliver(const nlohmann::json& fields, const std::string& line);
    // The events_lost (where "output") of lines lost since the last one.
    void announce_losses();

    JournalSocket journal_;
    OutputForm form_;
    LineWriter& stdout_lines_;
    bool refused_ = false;  // the last entry did not go through the socket
};

// The sink for stdout: the journal's, when stdout is the journal's stream
// and its socket can be made; else the form's (make_sink).
std::unique_ptr<RecordSink> make_stdout_sink(OutputForm form, LineWriter& out);

}  // namespace selfconnect
