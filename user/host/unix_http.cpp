#include "host/unix_http.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "host/unique_fd.h"

namespace selfconnect {

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline`, at least 0.
int ms_left(Clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

// A connected socket with `GET target` sent, within `deadline`.
UniqueFd send_get(const std::string& socket_path, const std::string& target, Clock::time_point deadline)
{
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (!fd || socket_path.size() >= sizeof(addr.sun_path))
        throw UnixHttpFailure(": cannot make a socket");
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS &&
        errno != EAGAIN)
        throw UnixHttpFailure(std::string(": ") + strerror(errno));
    const std::string request = "GET " + target + " HTTP/1.0\r\nHost: docker\r\n\r\n";
    size_t sent = 0;
    while (sent < request.size()) {
        pollfd p{fd.get(), POLLOUT, 0};
        if (poll(&p, 1, ms_left(deadline)) <= 0)
            throw UnixHttpFailure(" did not answer in time");
        const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN)
            throw UnixHttpFailure(std::string(": ") + strerror(errno));
        sent += n > 0 ? static_cast<size_t>(n) : 0;
    }
    return fd;
}

// Some of the answer, at most `len` bytes (0: the server closed), waiting
// until `deadline` at most.
size_t receive(int fd, char* buf, size_t len, Clock::time_point deadline)
{
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, ms_left(deadline)) <= 0)
            throw UnixHttpFailure(" did not answer in time");
        const ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0)
            return static_cast<size_t>(n);
        if (errno != EAGAIN)
            throw UnixHttpFailure(std::string(": ") + strerror(errno));
    }
}

}  // namespace

std::string unix_http_get(const std::string& socket_path, const std::string& target,
                          std::chrono::milliseconds timeout, size_t max_answer)
{
    const auto deadline = Clock::now() + timeout;
    const UniqueFd fd = send_get(socket_path, target, deadline);
    std::string answer;
    char buf[16384];
    for (;;) {
        const size_t n = receive(fd.get(), buf, sizeof(buf), deadline);
        if (n == 0)
            return answer;
        answer.append(buf, n);
        if (answer.size() > max_answer)
            throw UnixHttpFailure(" answered more than " + std::to_string(max_answer) + " bytes");
    }
}

UnixHttpStream::UnixHttpStream(const std::string& socket_path, const std::string& target,
                               std::chrono::milliseconds timeout, size_t max_line)
    : max_line_(max_line)
{
    const auto deadline = Clock::now() + timeout;
    fd_ = send_get(socket_path, target, deadline);
    std::string head;
    char c;
    // Byte by byte up to the blank line: what follows is the stream's.
    while (!head.ends_with("\r\n\r\n")) {
        if (receive(fd_.get(), &c, 1, deadline) == 0)
            throw UnixHttpFailure(" closed before its answer's head ended");
        head.push_back(c);
        if (head.size() > max_line_)
            throw UnixHttpFailure(" answered a head longer than " + std::to_string(max_line_) + " bytes");
    }
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12)
        throw UnixHttpFailure(" gave no HTTP answer");
    status_ = head.substr(9, 3);
}

std::vector<std::string> UnixHttpStream::read_lines()
{
    if (ended_)
        throw UnixHttpStreamEnded(" ended its stream");
    std::vector<std::string> lines;
    char buf[4096];
    while (lines.size() < kLinesAtOnce) {
        const ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return lines;
        if (n <= 0) {
            ended_ = true;  // said at the next read, after these lines
            if (lines.empty() && n == 0)
                throw UnixHttpStreamEnded(" ended its stream");
            if (lines.empty())
                throw UnixHttpFailure(std::string(": ") + strerror(errno));
            return lines;
        }
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] != '\n') {
                pending_.push_back(buf[i]);
                if (pending_.size() > max_line_)
                    throw UnixHttpFailure(" sent a line longer than " + std::to_string(max_line_) + " bytes");
                continue;
            }
            lines.push_back(std::move(pending_));
            pending_.clear();
        }
    }
    return lines;
}

}  // namespace selfconnect
