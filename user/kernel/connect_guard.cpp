#include "kernel/connect_guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "guard.skel.h"
#include "host/cgroup_paths.h"
#include "host/unique_fd.h"
#include "kernel/kernel_features.h"
#include "kernel/kernel_program.h"

namespace selfconnect {

namespace {

std::string errno_text(int err) { return strerror(err < 0 ? -err : err); }

// The root of a cgroup v2 hierarchy has inode 1; the root of a cgroup
// namespace, mounted inside a container, is some cgroup below it.
bool is_hierarchy_root(const std::string& path)
{
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && st.st_ino == 1;
}

// What the kernel lacks for the guard, as a sentence, or "".
std::string missing_kernel_support()
{
    if (!kernel_btf_has_name("BPF_FUNC_skc_to_tcp_sock"))
        return "this kernel lacks bpf_skc_to_tcp_sock (Linux 5.9) to read a connecting socket's namespace";
    if (!kernel_btf_has_name("BPF_CGROUP_INET4_CONNECT"))
        return "this kernel has no cgroup connect hooks";
    return "";
}

}  // namespace

void ConnectGuard::SkeletonDeleter::operator()(guard_bpf* s) const { guard_bpf__destroy(s); }

ConnectGuard::ConnectGuard(const KernelProgram& detector, const std::vector<uint32_t>& netns) : netns_(netns)
{
    if (auto missing = missing_kernel_support(); !missing.empty())
        throw ConnectGuardError("cannot guard connect(): " + missing);
    cgroup_ = cgroup2_mount_point();
    if (cgroup_.empty())
        throw ConnectGuardError("cannot guard connect(): no cgroup v2 hierarchy is mounted (the guard attaches "
                                "to its root; mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup/unified)");
    host_root_ = is_hierarchy_root(cgroup_);

    skel_.reset(guard_bpf__open());
    if (!skel_)
        throw ConnectGuardError("cannot open the connect guard's BPF object: " + errno_text(errno));
    skel_->rodata->guard_netns = netns.size() == 1 ? netns.front() : 0;
    skel_->rodata->guard_scoped = netns.size() > 1;
    if (int err = bpf_map__set_max_entries(skel_->maps.guarded_namespaces,
                                           netns.size() > 1 ? static_cast<uint32_t>(netns.size()) : 1))
        throw ConnectGuardError("cannot size the guard's namespace list: " + errno_text(err));
    if (bpf_map__reuse_fd(skel_->maps.steered_sockets, detector.steered_sockets_fd()) != 0 ||
        bpf_map__reuse_fd(skel_->maps.guard_counts, detector.guard_counts_fd()) != 0)
        throw ConnectGuardError("cannot share the detector's maps with the connect guard: " + errno_text(errno));
    if (int err = guard_bpf__load(skel_.get()))
        throw ConnectGuardError("the kernel refused the connect guard (" + errno_text(err) +
                                (err == -EPERM || err == -EACCES ? "; it needs CAP_NET_ADMIN" : "") +
                                "); run with --verbose for the verifier's log");
    if (netns.size() > 1) {
        const uint8_t yes = 1;
        for (uint32_t ns : netns)
            bpf_map_update_elem(bpf_map__fd(skel_->maps.guarded_namespaces), &ns, &yes, BPF_ANY);
    }

    UniqueFd cgroup_fd(open(cgroup_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup_fd)
        throw ConnectGuardError("cannot open the cgroup " + cgroup_ + ": " + errno_text(errno));
    for (auto [prog, link] : {std::pair{skel_->progs.guard_connect4, &skel_->links.guard_connect4},
                              std::pair{skel_->progs.guard_connect6, &skel_->links.guard_connect6}}) {
        *link = bpf_program__attach_cgroup(prog, cgroup_fd.get());
        if (!*link) {
            const int err = errno;
            throw ConnectGuardError("cannot attach the connect guard to " + cgroup_ + " (" + errno_text(err) + ")" +
                                    (err == EPERM ? ": it needs CAP_NET_ADMIN, and a program attached there "
                                                    "without BPF_F_ALLOW_MULTI excludes others"
                                                  : ""));
        }
    }
}

ConnectGuard::~ConnectGuard() = default;

std::string ConnectGuard::description() const
{
    const std::string where = netns_.empty() ? "in every network namespace"
                              : netns_.size() == 1 ? "in network namespace " + std::to_string(netns_.front())
                                                   : "in " + std::to_string(netns_.size()) + " network namespaces";
    std::string s = "guarding connect() " + where + ", for every process of cgroup " + cgroup_;
    s += host_root_ ? " (the host's root: this host and its containers)"
                    : " (not the host's root cgroup, but a cgroup namespace's: only processes below it)";
    return s;
}

}  // namespace selfconnect
