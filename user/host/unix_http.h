// HTTP/1.0 over a Unix socket, as the container runtimes' API sockets speak
// it (Docker, podman's compatible service). Every exchange is bounded in
// time and size: a runtime that hangs or floods costs its caller nothing
// more than the timeout.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace selfconnect {

// Why an exchange failed, worded to follow the socket's description:
// " did not answer in time", ": Connection refused".
struct UnixHttpFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One GET (HTTP/1.0: the server closes after its answer), the whole
// exchange within `timeout`; the answer as it came, head and body, at most
// `max_answer` bytes.
std::string unix_http_get(const std::string& socket_path, const std::string& target,
                          std::chrono::milliseconds timeout, size_t max_answer);

}  // namespace selfconnect
