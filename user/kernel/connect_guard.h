// `watch --guard`: bpf/guard.bpf.c, loaded beside the detector and attached
// to the egress of each guarded network namespace's loopback device, where
// it turns a SYN that meets itself into the reset a closed port sends.
//
// Attached at start to every namespace guarded (all of them, or those of
// --netns), and later to each one the detector reports a connect from that
// no guard saw (a namespace made since). Where the kernel has tcx (Linux
// 6.6) each attachment is a BPF link that dies with this process; before
// it, a tc filter (clsact) of a fixed handle and priority, replaced by the
// next watcher and taken off when this one stops. The attaching runs on a
// thread of its own that keeps the capabilities for it (entering namespaces
// and attaching); every other thread drops them.
// Construction fails with one sentence a user can act on (ConnectGuardError).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/privileged_thread.h"
#include "host/unique_fd.h"

struct guard_bpf;

namespace selfconnect {

class KernelProgram;

struct ConnectGuardError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class ConnectGuard {
public:
    // `netns`: the namespaces to guard (inodes); empty guards every one,
    // those made later too.
    ConnectGuard(const KernelProgram& detector, const std::vector<uint32_t>& netns);
    ~ConnectGuard();
    ConnectGuard(const ConnectGuard&) = delete;
    ConnectGuard& operator=(const ConnectGuard&) = delete;

    // Attaches (again) to the loopback of namespace `inode`, reached through
    // /proc/`pid`/ns/net. Nothing on success, else why not.
    std::optional<std::string> cover(uint32_t inode, uint32_t pid);
    // The same for the namespace bind-mounted at `path` (see NetnsMounts).
    std::optional<std::string> cover_path(const std::string& path);

    // Forgets the namespaces that are gone (their loopback, and the tcx
    // link on it, with them), so that their descriptors are closed and the
    // count is of the living; returns how many. (A tc filter, before 6.6,
    // holds no descriptor: its entry stays.)
    size_t forget_gone();

    // How many namespaces are guarded now, and how many could not be.
    size_t namespaces_guarded() const { return attached_.size(); }
    size_t namespaces_failed() const { return failed_.size(); }
    // "tcx" or "tc": how the guard is attached here.
    const char* attach_kind() const { return tcx_ ? "tcx" : "tc"; }
    // The thread that keeps the capabilities to attach.
    int attaching_thread() const { return attacher_.tid(); }
    // One line for the start: what is guarded, and what could not be.
    std::string description() const;

private:
    struct SkeletonDeleter {
        void operator()(guard_bpf* s) const;
    };
    // On the attaching thread, inside the namespace: attach to its loopback.
    void attach_here(uint32_t inode);
    void detach_all();

    std::unique_ptr<guard_bpf, SkeletonDeleter> skel_;
    std::vector<uint32_t> netns_;
    bool tcx_ = true;  // until the kernel says it has none
    std::map<uint32_t, UniqueFd> attached_;  // inode -> its tcx link (-1 with tc)
    std::map<uint32_t, std::string> failed_;  // inode -> why
    PrivilegedThread attacher_;
};

}  // namespace selfconnect
