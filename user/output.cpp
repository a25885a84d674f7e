#include "output.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "text_format.h"

namespace selfconnect {

void LineWriter::write_line(const std::string& line)
{
    std::string buf = line + '\n';
    size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::write(fd_, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE)
                throw OutputClosed();
            throw std::runtime_error(std::string("cannot write output: ") + strerror(errno));
        }
        done += static_cast<size_t>(n);
    }
}

OutputFile::OutputFile(std::string path, LineWriter& writer) : path_(std::move(path)), writer_(writer)
{
    if (auto err = reopen())
        throw std::runtime_error(*err);
}

std::optional<std::string> OutputFile::reopen()
{
    UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    if (!fd)
        return "cannot open " + path_ + ": " + strerror(errno);
    writer_.redirect(fd.get());
    fd_ = std::move(fd);
    return std::nullopt;
}

std::string json_line(const nlohmann::json& j)
{
    // Process names may hold any bytes; replace what is not UTF-8 rather than
    // throw, so every line stays valid JSON (comm_hex keeps the raw bytes).
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void TextSink::write(const Record& r) { out_.write_line(to_text(r)); }

void JsonSink::write(const Record& r) { out_.write_line(json_line(to_json(r))); }

void TextSink::write_lost(const LostEvents& l)
{
    if (l.skipped_runs) {
        out_.write_line(format_rfc3339_utc(l.when) + " LOST " + std::to_string(l.count) +
                        " runs of the program: the kernel skipped them while another BPF program ran on that CPU "
                        "(in all: " + std::to_string(l.total) + ")");
        return;
    }
    out_.write_line(format_rfc3339_utc(l.when) + " LOST " + std::to_string(l.count) +
                    " events: the kernel's ring buffer was full (in all: " + std::to_string(l.self_connects) +
                    " self-connects, " + std::to_string(l.closes) + " closes, " + std::to_string(l.refusals) +
                    " refusals)");
}

void JsonSink::write_lost(const LostEvents& l)
{
    if (l.skipped_runs) {
        out_.write_line(json_line({{"type", "events_lost"},
                                   {"time", format_rfc3339_utc(l.when)},
                                   {"count", l.count},
                                   {"total", l.total},
                                   {"where", "kernel_skipped"}}));
        return;
    }
    out_.write_line(json_line({{"type", "events_lost"},
                               {"time", format_rfc3339_utc(l.when)},
                               {"count", l.count},
                               {"total", l.total},
                               {"self_connects", l.self_connects},
                               {"self_connect_closes", l.closes},
                               {"refusals", l.refusals},
                               {"where", "kernel"}}));
}

std::unique_ptr<RecordSink> make_sink(bool json, LineWriter& out)
{
    if (json)
        return std::make_unique<JsonSink>(out);
    return std::make_unique<TextSink>(out);
}

}  // namespace selfconnect
