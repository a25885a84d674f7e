// Where lines go: one line per record, written with one write(2) so a
// reader never sees half a line, flushed as it is written.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

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
    // A line that another way of writing (the journal's) could not write
    // either: counted with this writer's, as the policy says.
    void count_loss(int err);
    // Lines lost since the last notice, and in all: for a notice written
    // another way. Once it is written, loss_announced().
    struct PendingLoss {
        uint64_t count;
        uint64_t total;
    };
    std::optional<PendingLoss> pending_loss() const;
    void loss_announced();

private:
    // 0, or the errno of a write that failed (the file is as it was before).
    int write_whole(const std::string& buf);

    int fd_ = -1;
    bool regular_ = false;  // a file, whose short writes can be cut back
    bool append_ = false;   // opened O_APPEND: a line starts at the end
    OnWriteError policy_;
    LossNotice notice_;
    uint64_t lost_total_ = 0;
    uint64_t lost_pending_ = 0;  // lost since the last notice was written
};

}  // namespace selfconnect
