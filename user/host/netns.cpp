#include "host/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace selfconnect {

namespace {

uint32_t inode_of(int fd)
{
    struct stat st{};
    return fstat(fd, &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

template <typename Visit>
void for_each_netns_path(Visit visit)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& dir : {"/proc", "/run/netns"}) {
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename();
            if (std::string(dir) == "/proc") {
                if (name.find_first_not_of("0123456789") != std::string::npos)
                    continue;
                if (!visit(it->path().string() + "/ns/net"))
                    return;
            } else if (!visit(it->path().string())) {
                return;
            }
        }
        ec.clear();
    }
}

}  // namespace

uint32_t current_netns_inode()
{
    struct stat st{};
    return stat("/proc/self/ns/net", &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

bool netns_selected(const std::vector<uint32_t>& only, uint32_t inode)
{
    return only.empty() || std::find(only.begin(), only.end(), inode) != only.end();
}

uint32_t netns_inode_of(int netns_fd) { return inode_of(netns_fd); }

std::map<uint32_t, NetnsHandle> list_network_namespaces()
{
    std::map<uint32_t, NetnsHandle> found;
    for_each_netns_path([&](const std::string& path) {
        struct stat st{};
        if (stat(path.c_str(), &st) != 0 || found.count(static_cast<uint32_t>(st.st_ino)))
            return true;
        UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd)
            return true;
        const uint32_t inode = inode_of(fd.get());  // before fd is moved away
        found.emplace(inode, NetnsHandle{std::move(fd), path});
        return true;
    });
    return found;
}

UniqueFd open_netns(uint32_t inode, uint32_t pid_hint)
{
    if (inode == current_netns_inode())
        return UniqueFd(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    if (pid_hint) {
        UniqueFd fd(open(("/proc/" + std::to_string(pid_hint) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
        if (fd && inode_of(fd.get()) == inode)
            return fd;
    }
    UniqueFd result;
    for_each_netns_path([&](const std::string& path) {
        struct stat st{};
        if (stat(path.c_str(), &st) != 0 || st.st_ino != inode)
            return true;
        result.reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
        return !result;
    });
    return result;
}

std::optional<uint64_t> netns_cookie(int netns_fd)
{
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
    std::optional<uint64_t> cookie;
    try {
        run_in_netns(netns_fd, [&] {
            UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            uint64_t value = 0;
            socklen_t len = sizeof(value);
            if (s && getsockopt(s.get(), SOL_SOCKET, SO_NETNS_COOKIE, &value, &len) == 0 && len == sizeof(value))
                cookie = value;
        });
    } catch (const std::exception&) {
    }
    return cookie;
}

void run_in_netns(int netns_fd, const std::function<void()>& fn)
{
    std::exception_ptr failure;
    std::thread worker([&] {
        try {
            // Our own namespace needs no setns(), nor the capability for it.
            if (netns_fd >= 0 && inode_of(netns_fd) != current_netns_inode() && setns(netns_fd, CLONE_NEWNET) != 0)
                throw std::runtime_error(std::string("cannot enter network namespace: ") + strerror(errno));
            fn();
        } catch (...) {
            failure = std::current_exception();
        }
    });
    worker.join();
    if (failure)
        std::rethrow_exception(failure);
}

}  // namespace selfconnect
