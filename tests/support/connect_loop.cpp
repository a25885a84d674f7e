#include "connect_loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>

namespace selfconnect::testing {

namespace {

// Did this connected socket meet itself?
bool met_itself(int fd)
{
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof(local), pl = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0)
        return false;
    return ll == pl && std::equal(reinterpret_cast<const char*>(&local), reinterpret_cast<const char*>(&local) + ll,
                                  reinterpret_cast<const char*>(&peer));
}

}  // namespace

ConnectLoopResult connect_loop(int family, const std::string& addr, uint16_t port, int tries,
                               const std::function<void(int fd)>& setup)
{
    ConnectLoopResult r;
    sockaddr_storage to{};
    socklen_t len = 0;
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&to);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, addr.c_str(), &a->sin_addr);
        len = sizeof(*a);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&to);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr);
        len = sizeof(*a);
    }
    for (int i = 0; i < tries; ++i) {
        const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            ++r.other;
            r.last_errno = errno;
            continue;
        }
        ++r.tries;
        if (setup)
            setup(fd);
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), len) == 0) {
            ++(met_itself(fd) ? r.self_connects : r.other);
        } else if (errno == ECONNREFUSED) {
            ++r.refused;
        } else {
            ++r.other;
            r.last_errno = errno;
        }
        close(fd);
    }
    return r;
}

bool set_port_range(uint16_t lo, uint16_t hi)
{
    FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "w");
    if (!f)
        return false;
    const bool ok = std::fprintf(f, "%u %u\n", lo, hi) > 0;
    return std::fclose(f) == 0 && ok;
}

}  // namespace selfconnect::testing
