#include "host/socket_owners.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace selfconnect {

namespace {

bool is_pid(const std::string& name)
{
    return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
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
    namespace fs = std::filesystem;
    std::unordered_map<uint32_t, uint32_t> owners;
    std::error_code ec;
    for (fs::directory_iterator proc("/proc", ec), end; !ec && proc != end; proc.increment(ec)) {
        const std::string pid = proc->path().filename();
        if (!is_pid(pid))
            continue;
        std::error_code fd_ec;
        for (fs::directory_iterator fd(proc->path() / "fd", fd_ec), fd_end; !fd_ec && fd != fd_end;
             fd.increment(fd_ec)) {
            char target[64];
            const ssize_t n = readlink(fd->path().c_str(), target, sizeof(target) - 1);
            if (n <= 8)
                continue;
            target[n] = '\0';
            unsigned long inode = 0;
            if (sscanf(target, "socket:[%lu]", &inode) != 1)
                continue;
            owners.emplace(static_cast<uint32_t>(inode), static_cast<uint32_t>(std::stoul(pid)));
        }
    }
    return owners;
}

}  // namespace selfconnect
