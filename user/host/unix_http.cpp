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

}  // namespace

std::string unix_http_get(const std::string& socket_path, const std::string& target,
                          std::chrono::milliseconds timeout, size_t max_answer)
{
    const auto deadline = Clock::now() + timeout;
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
    std::string answer;
    char buf[16384];
    for (;;) {
        pollfd p{fd.get(), POLLIN, 0};
        if (poll(&p, 1, ms_left(deadline)) <= 0)
            throw UnixHttpFailure(" did not answer in time");
        const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
        if (n == 0)
            return answer;
        if (n < 0 && errno != EAGAIN)
            throw UnixHttpFailure(std::string(": ") + strerror(errno));
        if (n > 0)
            answer.append(buf, static_cast<size_t>(n));
        if (answer.size() > max_answer)
            throw UnixHttpFailure(" answered more than " + std::to_string(max_answer) + " bytes");
    }
}

}  // namespace selfconnect
