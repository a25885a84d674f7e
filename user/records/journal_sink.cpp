#include "records/journal_sink.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "records/journal_entry.h"
#include "records/record_json.h"
#include "records/record_text.h"

namespace selfconnect {

JournalSink::JournalSink(JournalSocket journal, OutputForm form, LineWriter& stdout_lines)
    : journal_(std::move(journal)), form_(form), stdout_lines_(stdout_lines)
{
}

void JournalSink::write(const Record& r)
{
    nlohmann::json fields = to_json(r);
    send(fields, form_ == OutputForm::Json ? json_line(fields) : to_text(r));
}

void JournalSink::write_lost(const LostEvents& l)
{
    nlohmann::json fields = lost_json(l);
    send(fields, form_ == OutputForm::Json ? json_line(fields) : lost_text(l));
}

void JournalSink::send(const nlohmann::json& fields, const std::string& line)
{
    const int err = journal_.send(journal_entry(fields, line));
    if (err == 0) {
        if (std::exchange(refused_, false))
            std::fprintf(stderr, "selfconnect: journald takes records with their fields again\n");
        return;
    }
    // journald stopped or restarting: the line still reaches the journal
    // through the stream it keeps for stdout, without its fields.
    if (!std::exchange(refused_, true))
        std::fprintf(stderr, "selfconnect: journald did not take a record (%s): records go to stdout without their "
                             "journal fields until it does\n", std::strerror(err));
    stdout_lines_.write_line(line);
}

std::unique_ptr<RecordSink> make_stdout_sink(OutputForm form, LineWriter& out)
{
    std::unique_ptr<RecordSink> plain = make_sink(form, out);  // also announces lines stdout lost
    if (!is_journal_stream(STDOUT_FILENO, std::getenv("JOURNAL_STREAM")))
        return plain;
    std::optional<JournalSocket> journal = JournalSocket::open();
    if (!journal)
        return plain;
    return std::make_unique<JournalSink>(std::move(*journal), form, out);
}

}  // namespace selfconnect
