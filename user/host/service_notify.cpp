#include "host/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "host/unique_fd.h"

namespace selfconnect {

bool notify_service_manager(const std::string& state, std::string& error)
{
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return true;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const size_t len = strlen(path);
    if (len >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) {
        error = "NOTIFY_SOCKET is not a socket path";
        return false;
    }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        error = std::string("socket: ") + strerror(errno);
        return false;
    }
    const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    if (sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
               addr_len) < 0) {
        error = std::string("cannot notify ") + path + ": " + strerror(errno);
        return false;
    }
    return true;
}

}  // namespace selfconnect
