// Which process holds a socket: a walk of /proc/*/fd for "socket:[inode]".
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace selfconnect {

struct SocketHolder {
    uint32_t pid = 0;
    std::string comm;
};

// Socket inode -> the first process found holding it.
std::unordered_map<uint32_t, SocketHolder> socket_holders();

}  // namespace selfconnect
