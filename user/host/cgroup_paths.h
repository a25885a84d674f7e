// Turns a cgroup v2 id (what the kernel reports) into its path, e.g.
// "/system.slice/nginx.service". On cgroup v2 the id is the inode number of
// the cgroup's directory, so a walk of the hierarchy finds it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace selfconnect {

// Where cgroup v2 is mounted, from /proc/self/mountinfo; "" if nowhere
// (a cgroup v1-only host, where BPF still reports v2 ids but they name nothing).
std::string cgroup2_mount_point();

// The process's cgroup v2 path (the "0::" line of /proc/PID/cgroup), or "".
std::string cgroup_path_of_pid(uint32_t pid);

// Cgroup ids to paths, cached: a walk of the hierarchy on a miss, at most
// once a second.
class CgroupPaths {
public:
    explicit CgroupPaths(std::string root = cgroup2_mount_point()) : root_(std::move(root)) {}
    // "" if not found (cgroup v1 only, or the cgroup is gone).
    std::string path_of(uint64_t id);

private:
    void rescan();

    std::string root_;
    std::unordered_map<uint64_t, std::string> paths_;
    std::chrono::steady_clock::time_point last_scan_{};
};

}  // namespace selfconnect
