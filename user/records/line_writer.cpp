#include "records/line_writer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>


namespace selfconnect {

namespace {

// Up to a second for room on a descriptor that said EAGAIN.
bool wait_writable(int fd)
{
    pollfd p{fd, POLLOUT, 0};
    return poll(&p, 1, 1000) > 0;
}

}  // namespace

void LineWriter::write_line(const std::string& line)
{
    if (lost_pending_ && notice_) {
        if (int err = write_whole(notice_(lost_pending_, lost_total_) + '\n')) {
            count_loss(err);
            return;
        }
        loss_announced();
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
        // A non-blocking pipe that is full: wait for room. Once part of the
        // line is out, the rest follows however long the reader takes, as
        // on a blocking pipe: half a line is never left.
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_writable(fd_) || done)
                continue;
            return EAGAIN;
        }
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

std::optional<LineWriter::PendingLoss> LineWriter::pending_loss() const
{
    if (!lost_pending_)
        return std::nullopt;
    return PendingLoss{lost_pending_, lost_total_};
}

void LineWriter::loss_announced()
{
    if (!lost_pending_)
        return;
    std::fprintf(stderr, "selfconnect: writing output again; %llu records could not be written\n",
                 static_cast<unsigned long long>(lost_pending_));
    lost_pending_ = 0;
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

}  // namespace selfconnect
