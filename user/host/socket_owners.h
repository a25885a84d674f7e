// Which process holds a socket: a walk of /proc/*/fd for "socket:[inode]".
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace selfconnect {

// Socket inode -> the first process found holding it.
std::unordered_map<uint32_t, uint32_t> socket_owner_pids();

// The process's name (/proc/PID/comm), or "" if it is gone.
std::string process_name(uint32_t pid);

}  // namespace selfconnect
