#include "records/journal_sink.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
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
    const nlohmann::json fields = to_json(r);
    send(fields, form_ == OutputForm::Json ? json_line(fields) : to_text(r));
}

void JournalSink::write_lost(const LostEvents& l) { send(lost_json(l), lost_line(form_, l)); }

void JournalSink::send(const nlohmann::json& fields, const std::string& line)
{
    announce_losses();
    if (deliver(fields, line))
        return;
    // journald's socket is away but its stream for stdout may not be (a
    // socket not mounted where the watcher runs). When journald stopped,
    // the stream is closed for good: the line is lost, counted, and the
    // watcher goes on (systemd would not restart a watcher that ended well).
    try {
        stdout_lines_.write_line(line);
    } catch (const OutputClosed&) {
        stdout_lines_.count_loss(EPIPE);
    }
}

bool JournalSink::deliver(const nlohmann::json& fields, const std::string& line)
{
    const int err = journal_.send(journal_entry(fields, line));
    if (err == 0) {
        if (std::exchange(refused_, false))
            std::fprintf(stderr, "selfconnect: journald takes records with their fields again\n");
        return true;
    }
    if (!std::exchange(refused_, true))
        std::fprintf(stderr, "selfconnect: journald did not take a record (%s): records go to stdout without their "
                             "journal fields until it does\n", std::strerror(err));
    return false;
}

void JournalSink::announce_losses()
{
    const auto pending = stdout_lines_.pending_loss();
    if (!pending)
        return;
    const LostEvents l{std::chrono::system_clock::now(), LossPlace::Output, pending->count, pending->total};
    if (deliver(lost_json(l), lost_line(form_, l)))
        stdout_lines_.loss_announced();
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
