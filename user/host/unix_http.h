// HTTP/1.0 over a Unix socket, as the container runtimes' API sockets speak
// it (Docker, podman's compatible service). Every exchange is bounded in
// time and size: a runtime that hangs or floods costs its caller nothing
// more than the timeout.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/unique_fd.h"

namespace selfconnect {

// Why an exchange failed, worded to follow the socket's description:
// " did not answer in time", ": Connection refused".
struct UnixHttpFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A stream that the server ended.
struct UnixHttpStreamEnded : UnixHttpFailure {
    using UnixHttpFailure::UnixHttpFailure;
};

// One GET (HTTP/1.0: the server closes after its answer), the whole
// exchange within `timeout`; the answer as it came, head and body, at most
// `max_answer` bytes.
std::string unix_http_get(const std::string& socket_path, const std::string& target,
                          std::chrono::milliseconds timeout, size_t max_answer);

// A GET whose answer goes on (an event stream): the head is read within
// `timeout`, then the body line by line as it comes, each at most
// `max_line` bytes.
class UnixHttpStream {
public:
    UnixHttpStream(const std::string& socket_path, const std::string& target, std::chrono::milliseconds timeout,
                   size_t max_line);
    // Readable when lines or the end wait.
    int fd() const { return fd_.get(); }
    // The answer's status ("200").
    const std::string& status() const { return status_; }
    // The whole lines that came, without blocking, at most `kLinesAtOnce`
    // (the descriptor stays readable for the rest). Throws
    // UnixHttpStreamEnded once the stream ended.
    static constexpr size_t kLinesAtOnce = 256;
    std::vector<std::string> read_lines();

private:
    UniqueFd fd_;
    std::string status_;
    std::string pending_;  // a line begun
    size_t max_line_;
    bool ended_ = false;
};

}  // namespace selfconnect
