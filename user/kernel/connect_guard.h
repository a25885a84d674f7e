// `watch --guard`: bpf/guard.bpf.c, loaded beside the detector and attached
// to the cgroup v2 root's connect4/connect6 hooks, so that every connect()
// of the host and its containers passes it. Attached as BPF links: other
// programs on the same hooks keep running (multi-attach), and the links
// die with this process, so a killed watcher leaves nothing attached.
// Construction fails with one sentence a user can act on (ConnectGuardError).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct guard_bpf;

namespace selfconnect {

class KernelProgram;

struct ConnectGuardError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class ConnectGuard {
public:
    // `netns`: the namespaces to guard (inodes); empty guards every one.
    ConnectGuard(const KernelProgram& detector, const std::vector<uint32_t>& netns);
    ~ConnectGuard();
    ConnectGuard(const ConnectGuard&) = delete;
    ConnectGuard& operator=(const ConnectGuard&) = delete;

    // Where it is attached, e.g. "/sys/fs/cgroup".
    const std::string& cgroup() const { return cgroup_; }
    // Is that the host's root cgroup (not the root of a cgroup namespace)?
    bool host_root() const { return host_root_; }
    // One line for the start: what is guarded.
    std::string description() const;

private:
    struct SkeletonDeleter {
        void operator()(guard_bpf* s) const;
    };
    std::unique_ptr<guard_bpf, SkeletonDeleter> skel_;
    std::string cgroup_;
    bool host_root_ = false;
    std::vector<uint32_t> netns_;
};

}  // namespace selfconnect
