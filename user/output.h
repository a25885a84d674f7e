// Where records go. One line per record, written with one write(2) so a
// reader never sees half a line, flushed as it is written.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "record.h"
#include "unique_fd.h"

namespace selfconnect {

// The reader went away (EPIPE): `watch --json | head -1`. Not an error.
struct OutputClosed : std::runtime_error {
    OutputClosed() : std::runtime_error("output closed") {}
};

// What a write that fails for another reason than EPIPE does.
enum class OnWriteError {
    Throw,         // runtime_error: a one-shot command (audit) ends with it
    CountAndGoOn,  // the daemon (watch): the line is counted lost, later lines are tried
};

// Writes lines whole or not at all: a write to a file that ends short (a
// full disk) is cut back, so a reader never sees half a line.
class LineWriter {
public:
    explicit LineWriter(int fd, OnWriteError policy = OnWriteError::Throw) : policy_(policy) { redirect(fd); }
    // Writes line + '\n'. Throws OutputClosed on EPIPE; other failures as
    // the policy says. After lines were lost, the first line written is the
    // loss notice (see set_loss_notice), then the line itself.
    void write_line(const std::string& line);
    // Later lines go to `fd` (after a reopen); the caller owns it.
    void redirect(int fd);
    // The line that tells a reader how many lines were lost: since the last
    // notice, and in all.
    using LossNotice = std::function<std::string(uint64_t count, uint64_t total)>;
    void set_loss_notice(LossNotice notice) { notice_ = std::move(notice); }
    uint64_t lost() const { return lost_total_; }

private:
    // 0, or the errno of a write that failed (the file is as it was before).
    int write_whole(const std::string& buf);
    void count_loss(int err);

    int fd_ = -1;
    bool regular_ = false;  // a file, whose short writes can be cut back
    bool append_ = false;   // opened O_APPEND: a line starts at the end
    OnWriteError policy_;
    LossNotice notice_;
    uint64_t lost_total_ = 0;
    uint64_t lost_pending_ = 0;  // lost since the last notice was written
};

// --output FILE: records appended to a file that logrotate may move away.
// reopen() (on SIGHUP) opens the name again; lines are whole writes, made
// on the same thread, so none is split or lost across the switch.
class OutputFile {
public:
    OutputFile(std::string path, LineWriter& writer);
    // Returns an error sentence, or nothing; on error the old file stays.
    std::optional<std::string> reopen();

private:
    std::string path_;
    LineWriter& writer_;
    UniqueFd fd_;
};

// Records lost, by where they were lost: how many since the last report,
// and in all.
enum class LossPlace {
    KernelRing,     // the kernel's ring buffer was full (counted by kind too)
    KernelSkipped,  // runs of the program the kernel skipped while a BPF program
                    // ran on that CPU: what each would have reported is unknown
    Output,         // records that could not be written
};

struct LostEvents {
    std::chrono::system_clock::time_point when;
    LossPlace where = LossPlace::KernelRing;
    uint64_t count = 0;
    uint64_t total = 0;
    uint64_t self_connects = 0;  // KernelRing only: in all, by kind
    uint64_t closes = 0;
    uint64_t refusals = 0;
};

// The one record for a loss, in each output form.
std::string lost_text(const LostEvents& l);
nlohmann::json lost_json(const LostEvents& l);

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

// The one JSON line for a record: always valid UTF-8 JSON.
std::string json_line(const nlohmann::json& j);

std::unique_ptr<RecordSink> make_sink(bool json, LineWriter& out);

}  // namespace selfconnect
