#include "socket_owners.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace selfconnect {

namespace {

bool is_pid(const std::string& name)
{
    return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
}

std::string comm_of(const std::string& pid)
{
    std::ifstream in("/proc/" + pid + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

}  // namespace

std::unordered_map<uint32_t, SocketHolder> socket_holders()
{
    namespace fs = std::filesystem;
    std::unordered_map<uint32_t, SocketHolder> holders;
    std::error_code ec;
    for (fs::directory_iterator proc("/proc", ec), end; !ec && proc != end; proc.increment(ec)) {
        const std::string pid = proc->path().filename();
        if (!is_pid(pid))
            continue;
        std::error_code fd_ec;
        std::string comm;
        for (fs::directory_iterator fd(proc->path() / "fd", fd_ec), fd_end; !fd_ec && fd != fd_end;
             fd.increment(fd_ec)) {
            char target[64];
            const ssize_t n = readlink(fd->path().c_str(), target, sizeof(target) - 1);
            if (n <= 8)
                continue;
            target[n] = '\0';
            unsigned long inode = 0;
            if (sscanf(target, "socket:[%lu]", &inode) != 1 || holders.count(static_cast<uint32_t>(inode)))
                continue;
            if (comm.empty())
                comm = comm_of(pid);
            holders[static_cast<uint32_t>(inode)] = {static_cast<uint32_t>(std::stoul(pid)), comm};
        }
    }
    return holders;
}

}  // namespace selfconnect
