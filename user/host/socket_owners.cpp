#include "host/socket_owners.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

namespace selfconnect {

namespace {

bool is_pid(const char* name)
{
    if (*name == '\0')
        return false;
    for (const char* c = name; *c; ++c)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

struct DirCloser {
    void operator()(DIR* d) const { closedir(d); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

// A directory under `parent_fd` (AT_FDCWD: an absolute path), to list and to
// read links in by name: each link is then one step from an open directory,
// not a walk of /proc/PID/fd/N from the root (most of the cost of a walk of
// a host with 18,000 sockets).
DirHandle open_dir(int parent_fd, const char* path)
{
    const int fd = openat(parent_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nullptr;
    DirHandle dir(fdopendir(fd));
    if (!dir)
        close(fd);
    return dir;
}

}  // namespace

std::string process_name(uint32_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

std::unordered_map<uint32_t, uint32_t> socket_owner_pids()
{
    std::unordered_map<uint32_t, uint32_t> owners;
    const DirHandle proc = open_dir(AT_FDCWD, "/proc");
    if (!proc)
        return owners;
    while (const dirent* p = readdir(proc.get())) {
        if (!is_pid(p->d_name))
            continue;
        const DirHandle fds = open_dir(dirfd(proc.get()), (std::string(p->d_name) + "/fd").c_str());
        if (!fds)
            continue;  // gone, or not ours to read
        const auto pid = static_cast<uint32_t>(std::strtoul(p->d_name, nullptr, 10));
        while (const dirent* f = readdir(fds.get())) {
            if (f->d_name[0] == '.')
                continue;
            char target[64];
            const ssize_t n = readlinkat(dirfd(fds.get()), f->d_name, target, sizeof(target) - 1);
            if (n <= 8)
                continue;
            target[n] = '\0';
            unsigned long inode = 0;
            if (sscanf(target, "socket:[%lu]", &inode) != 1)
                continue;
            owners.emplace(static_cast<uint32_t>(inode), pid);
        }
    }
    return owners;
}

}  // namespace selfconnect
