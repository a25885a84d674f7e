#include "output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "text_format.h"

namespace selfconnect {

void LineWriter::write_line(const std::string& line)
{
    if (lost_pending_ && notice_) {
        if (int err = write_whole(notice_(lost_pending_, lost_total_) + '\n')) {
            count_loss(err);
            return;
        }
        std::fprintf(stderr, "selfconnect: writing output again; %llu records could not be written\n",
                     static_cast<unsigned long long>(lost_pending_));
        lost_pending_ = 0;
    }
    if (int err = write_whole(line + '\n'))
        count_loss(err);
}

void LineWriter::redirect(int fd)
{
    // Asked once per descriptor: a pipe's lines then cost one write each.
    struct stat st{};
    fd_ = fd;
    regular_ = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    append_ = (fcntl(fd, F_GETFL) & O_APPEND) != 0;
}

int LineWriter::write_whole(const std::string& buf)
{
    // Where this line starts, to cut a short write back to it. With
    // O_APPEND that is the end of the file, else the current offset.
    const bool regular = regular_, append = append_;
    struct stat st{};
    const off_t start = !regular ? 0 : append ? (fstat(fd_, &st) == 0 ? st.st_size : 0) : lseek(fd_, 0, SEEK_CUR);
    size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::write(fd_, buf.data() + done, buf.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EPIPE)
            throw OutputClosed();
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            if (done && regular) {
                (void)!ftruncate(fd_, start);
                if (!append)
                    lseek(fd_, start, SEEK_SET);
            }
            return err;
        }
        done += static_cast<size_t>(n);
    }
    return 0;
}

void LineWriter::count_loss(int err)
{
    if (policy_ == OnWriteError::Throw)
        throw std::runtime_error(std::string("cannot write output: ") + strerror(err));
    if (!lost_pending_)
        std::fprintf(stderr,
                     "selfconnect: cannot write output: %s; records are counted as lost until it can again\n",
                     strerror(err));
    ++lost_pending_;
    ++lost_total_;
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

std::string lost_text(const LostEvents& l)
{
    const std::string head = format_rfc3339_utc(l.when) + " LOST " + std::to_string(l.count);
    const std::string in_all = " (in all: " + std::to_string(l.total) + ")";
    switch (l.where) {
    case LossPlace::KernelSkipped:
        return head + " runs of the program: the kernel skipped them while another BPF program ran on that CPU" +
               in_all;
    case LossPlace::Output:
        return head + " records: they could not be written" + in_all;
    case LossPlace::KernelRing:
        break;
    }
    return head + " events: the kernel's ring buffer was full (in all: " + std::to_string(l.self_connects) +
           " self-connects, " + std::to_string(l.closes) + " closes, " + std::to_string(l.refusals) + " refusals)";
}

nlohmann::json lost_json(const LostEvents& l)
{
    nlohmann::json j{{"type", "events_lost"},
                     {"time", format_rfc3339_utc(l.when)},
                     {"count", l.count},
                     {"total", l.total}};
    switch (l.where) {
    case LossPlace::KernelSkipped:
        j["where"] = "kernel_skipped";
        break;
    case LossPlace::Output:
        j["where"] = "output";
        break;
    case LossPlace::KernelRing:
        j["where"] = "kernel";
        j["self_connects"] = l.self_connects;
        j["self_connect_closes"] = l.closes;
        j["refusals"] = l.refusals;
        break;
    }
    return j;
}

void TextSink::write_lost(const LostEvents& l) { out_.write_line(lost_text(l)); }

void JsonSink::write_lost(const LostEvents& l) { out_.write_line(json_line(lost_json(l))); }

std::unique_ptr<RecordSink> make_sink(bool json, LineWriter& out)
{
    out.set_loss_notice([json](uint64_t count, uint64_t total) {
        const LostEvents l{std::chrono::system_clock::now(), LossPlace::Output, count, total};
        return json ? json_line(lost_json(l)) : lost_text(l);
    });
    if (json)
        return std::make_unique<JsonSink>(out);
    return std::make_unique<TextSink>(out);
}

}  // namespace selfconnect
