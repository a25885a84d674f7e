// Reaching other network namespaces: by inode (what BPF reports), and
// listing every namespace of the host (for audit).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host/unique_fd.h"

namespace selfconnect {

uint32_t current_netns_inode();

// The inode of the namespace an open descriptor names (0 if unknown).
uint32_t netns_inode_of(int netns_fd);

// Is the namespace `inode` among those chosen with --netns (every one when
// none was)?
bool netns_selected(const std::vector<uint32_t>& only, uint32_t inode);

struct NetnsHandle {
    UniqueFd fd;
    std::string path;  // how it was reached: /proc/PID/ns/net or /run/netns/NAME
};

// Every network namespace reachable through /proc/*/ns/net and /run/netns,
// by inode, each with one open descriptor.
std::map<uint32_t, NetnsHandle> list_network_namespaces();

// An open descriptor for the namespace with this inode (our own is always
// reachable); `pid_hint` is tried first. Invalid if no process or bind
// mount holds it any more.
UniqueFd open_netns(uint32_t inode, uint32_t pid_hint = 0);

// What names the namespace `netns_fd` for as long as the host runs: its
// cookie (SO_NETNS_COOKIE, Linux 5.14), which is never handed out again,
// unlike its inode, which the kernel reuses once it is gone. Nothing on
// older kernels.
std::optional<uint64_t> netns_cookie(int netns_fd);

// Runs `fn` on a short-lived thread that has joined the namespace `netns_fd`
// (-1, or a descriptor of our own namespace: no setns() at all), so the
// caller's own namespace never changes. Sockets made
// inside belong to that namespace for their whole life.
void run_in_netns(int netns_fd, const std::function<void()>& fn);

}  // namespace selfconnect
