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

std::optional<std::string> notify_service_manager(const std::string& state)
{
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return std::nullopt;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const size_t len = strlen(path);
    if (len >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@'))
        return "NOTIFY_SOCKET is not a socket path";
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return std::string("socket: ") + strerror(errno);
    const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    if (sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
               addr_len) < 0)
        return std::string("cannot notify ") + path + ": " + strerror(errno);
    return std::nullopt;
}

}  // namespace selfconnect
