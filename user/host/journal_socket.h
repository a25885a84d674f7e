// journald's native protocol, without libsystemd: one datagram of fields
// (NAME=value lines) to /run/systemd/journal/socket, so that each field
// becomes a journal field of its own rather than part of one MESSAGE.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <string>

#include "host/unique_fd.h"

namespace selfconnect {

// Is `fd` the stream systemd connected to the journal? systemd says so in
// JOURNAL_STREAM ("device:inode"), which children inherit whatever their
// stdout became, so the descriptor itself is compared with it.
bool is_journal_stream(int fd, const char* journal_stream);

class JournalSocket {
public:
    static constexpr const char* kDefaultPath = "/run/systemd/journal/socket";
    // A datagram socket for `path`; nothing if none can be made or the path
    // is too long. Each send names the path, so a socket made anew (journald
    // stopped with its socket units and started again) takes the next entry.
    // A send blocks while journald is slow, as a write to its stream does.
    static std::optional<JournalSocket> open(const std::string& path = kDefaultPath);
    // 0, or the errno of the send that failed. An entry too large for one
    // datagram goes as a sealed memfd, as journald takes it.
    int send(const std::string& entry) const;

private:
    JournalSocket(UniqueFd fd, const sockaddr_un& addr, socklen_t len);
    int send_as_memfd(const std::string& entry) const;
    // sendmsg() to journald's socket, again if a signal cut it: 0 or the errno.
    int send_to_journald(msghdr& m) const;

    UniqueFd fd_;
    sockaddr_un addr_{};
    socklen_t addr_len_ = 0;
};

}  // namespace selfconnect
