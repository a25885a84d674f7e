#include "kernel/connect_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "guard.skel.h"
#include "host/capabilities.h"
#include "host/netns.h"
#include "kernel/kernel_features.h"
#include "kernel/kernel_program.h"

namespace selfconnect {

namespace {

// The tcx attach type (Linux 6.6) and its "before every other program"
// flag, newer than the headers Debian 12 builds with
// (include/uapi/linux/bpf.h: enum bpf_attach_type, BPF_F_BEFORE).
constexpr int kTcxEgress = 47;
constexpr uint32_t kBeforeEveryOther = 1U << 3;
// The tc filter's place on kernels without tcx: a handle and priority of
// ours, so that a watcher started again replaces it rather than adding one.
constexpr uint32_t kTcHandle = 0x5e1f;
constexpr uint32_t kTcPriority = 0x5e1f;

std::string errno_text(int err) { return strerror(err < 0 ? -err : err); }

// What the kernel lacks for the guard, as a sentence, or "".
std::string missing_kernel_support()
{
    if (!kernel_btf_has_name("BPF_FUNC_skc_to_tcp_sock"))
        return "this kernel lacks bpf_skc_to_tcp_sock (Linux 5.9) to tell which socket sent a SYN";
    return "";
}

// What the attaching thread keeps: entering another namespace (SYS_ADMIN),
// opening another user's /proc/PID/ns/net (SYS_PTRACE), attaching to a
// device (NET_ADMIN), and bpf() itself where the kernel asks for CAP_BPF.
std::vector<int> capabilities_to_attach()
{
    std::vector<int> keep = capabilities_for_kill();
    for (int cap : capabilities_for_bpf_after_load())
        keep.push_back(cap);
    return keep;
}

// The loopback device is the first of every namespace (LOOPBACK_IFINDEX),
// whatever it is named.
constexpr int kLoopbackIndex = 1;

}  // namespace

void ConnectGuard::SkeletonDeleter::operator()(guard_bpf* s) const { guard_bpf__destroy(s); }

ConnectGuard::ConnectGuard(const KernelProgram& detector, const std::vector<uint32_t>& netns)
    : netns_(netns), attacher_(capabilities_to_attach())
{
    if (auto missing = missing_kernel_support(); !missing.empty())
        throw ConnectGuardError("cannot guard connect(): " + missing);
    skel_.reset(guard_bpf__open());
    if (!skel_)
        throw ConnectGuardError("cannot open the guard's BPF object: " + errno_text(errno));
    if (bpf_map__reuse_fd(skel_->maps.guard_pending, detector.guard_pending_fd()) != 0 ||
        bpf_map__reuse_fd(skel_->maps.guard_refused, detector.guard_refused_fd()) != 0 ||
        bpf_map__reuse_fd(skel_->maps.guard_counts, detector.guard_counts_fd()) != 0)
        throw ConnectGuardError("cannot share the detector's maps with the guard: " + errno_text(errno));
    if (int err = guard_bpf__load(skel_.get()))
        throw ConnectGuardError("the kernel refused the guard (" + errno_text(err) +
                                (err == -EPERM || err == -EACCES ? "; it needs CAP_NET_ADMIN" : "") +
                                "); run with --verbose for the verifier's log");

    // Every namespace there is now (or those named), each through the
    // descriptor the listing opened.
    std::string first_error;
    for (auto& [inode, ns] : list_network_namespaces()) {
        if (!netns_selected(netns_, inode))
            continue;
        try {
            attacher_.run([&, inode = inode, fd = ns.fd.get()] {
                if (inode != current_netns_inode() && !may_administer_system())
                    throw std::runtime_error("entering another network namespace needs CAP_SYS_ADMIN");
                run_in_netns(fd, [&] { attach_here(inode); });
            });
        } catch (const std::exception& e) {
            failed_[inode] = e.what();
            if (first_error.empty())
                first_error = e.what();
        }
    }
    if (attached_.empty())
        throw ConnectGuardError("cannot attach the guard to any loopback device" +
                                (first_error.empty() ? std::string(" (no network namespace was found)")
                                                     : " (" + first_error + ")"));
}

ConnectGuard::~ConnectGuard() { detach_all(); }

void ConnectGuard::attach_here(uint32_t inode)
{
    const int prog = bpf_program__fd(skel_->progs.guard_loopback);
    const int lo = kLoopbackIndex;
    if (tcx_) {
        // First in line: a program before it that ends the chain
        // (TC_ACT_OK) would hide every SYN from it.
        LIBBPF_OPTS(bpf_link_create_opts, first, .flags = kBeforeEveryOther);
        int link = bpf_link_create(prog, lo, static_cast<bpf_attach_type>(kTcxEgress), &first);
        // EEXIST: this very program is on this loopback already (a
        // namespace reached twice): guarded.
        if (link == -EEXIST) {
            failed_.erase(inode);
            return;
        }
        if (link >= 0) {
            attached_[inode] = UniqueFd(link);
            failed_.erase(inode);
            return;
        }
        // EINVAL: a kernel without tcx (before 6.6). Anything else is an
        // answer about this namespace.
        if (link != -EINVAL)
            throw std::runtime_error("cannot attach to its loopback: " + errno_text(link));
        tcx_ = false;
    }
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = lo;
    hook.attach_point = BPF_TC_EGRESS;
    if (int err = bpf_tc_hook_create(&hook); err && err != -EEXIST)
        throw std::runtime_error("cannot add a clsact qdisc to its loopback: " + errno_text(err));
    bpf_tc_opts opts{};
    opts.sz = sizeof(opts);
    opts.handle = kTcHandle;
    opts.priority = kTcPriority;
    opts.prog_fd = prog;
    opts.flags = BPF_TC_F_REPLACE;
    if (int err = bpf_tc_attach(&hook, &opts))
        throw std::runtime_error("cannot attach a tc filter to its loopback: " + errno_text(err));
    attached_[inode] = UniqueFd();
    failed_.erase(inode);
}

std::optional<std::string> ConnectGuard::cover(uint32_t inode, uint32_t pid)
{
    if (!netns_selected(netns_, inode))
        return "not a namespace --netns named";
    try {
        attacher_.run([&] {
            if (inode != current_netns_inode() && !may_administer_system())
                throw std::runtime_error("entering another network namespace needs CAP_SYS_ADMIN");
            UniqueFd ns = open_netns(inode, pid);
            if (!ns)
                throw std::runtime_error("no process is left in it");
            run_in_netns(ns.get(), [&] { attach_here(inode); });
        });
    } catch (const std::exception& e) {
        failed_[inode] = e.what();
        return std::string(e.what());
    }
    return std::nullopt;
}

std::optional<std::string> ConnectGuard::cover_path(const std::string& path)
{
    uint32_t inode = 0;
    try {
        attacher_.run([&] {
            UniqueFd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!ns)
                throw std::runtime_error("cannot open " + path + ": " + errno_text(errno));
            inode = netns_inode_of(ns.get());
            if (!netns_selected(netns_, inode))
                return;
            if (inode != current_netns_inode() && !may_administer_system())
                throw std::runtime_error("entering another network namespace needs CAP_SYS_ADMIN");
            run_in_netns(ns.get(), [&] { attach_here(inode); });
        });
    } catch (const std::exception& e) {
        if (inode)
            failed_[inode] = e.what();
        return std::string(e.what());
    }
    return std::nullopt;
}

// tcx links die with their descriptors. tc filters are taken off by hand,
// in each namespace still there (a namespace gone took its loopback along).
void ConnectGuard::detach_all()
{
    std::vector<uint32_t> filters;
    for (auto& [inode, link] : attached_)
        if (!link)
            filters.push_back(inode);
    attached_.clear();
    if (filters.empty())
        return;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    const uint32_t own_id =
        bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.guard_loopback), &info, &len) == 0 ? info.id : 0;
    try {
        attacher_.run([&] {
            for (uint32_t inode : filters) {
                UniqueFd ns = open_netns(inode);
                if (!ns)
                    continue;
                try {
                    run_in_netns(ns.get(), [&] {
                        bpf_tc_hook hook{};
                        hook.sz = sizeof(hook);
                        hook.ifindex = kLoopbackIndex;
                        hook.attach_point = BPF_TC_EGRESS;
                        bpf_tc_opts opts{};
                        opts.sz = sizeof(opts);
                        opts.handle = kTcHandle;
                        opts.priority = kTcPriority;
                        // Only our own: another watcher's filter there
                        // (it replaced ours) stays.
                        if (bpf_tc_query(&hook, &opts) == 0 && opts.prog_id == own_id) {
                            opts.prog_id = 0;
                            opts.prog_fd = 0;
                            opts.flags = 0;
                            bpf_tc_detach(&hook, &opts);
                        }
                    });
                } catch (const std::exception&) {
                }
            }
        });
    } catch (const std::exception&) {
    }
}

size_t ConnectGuard::forget_gone()
{
    size_t gone = 0;
    for (auto it = attached_.begin(); it != attached_.end();) {
        bpf_link_info info{};
        uint32_t len = sizeof(info);
        // A tcx link's first word past the common fields is its device's
        // index (struct bpf_link_info's tcx, newer than these headers; it
        // lies where netns.netns_ino does), 0 once the device is gone.
        if (it->second && bpf_obj_get_info_by_fd(it->second.get(), &info, &len) == 0 && info.netns.netns_ino == 0) {
            it = attached_.erase(it);
            ++gone;
        } else {
            ++it;
        }
    }
    return gone;
}

std::string ConnectGuard::description() const
{
    std::string s = "guarding connect() on the loopback of " + std::to_string(attached_.size()) + " network namespace" +
                    (attached_.size() == 1 ? "" : "s");
    s += netns_.empty() ? " (every one, and each new one as it is mounted in /run/netns or /run/docker/netns, "
                          "or at its first connect that could meet itself)"
                        : " (those --netns named)";
    s += std::string(", attached with ") + attach_kind();
    if (!failed_.empty())
        s += "; " + std::to_string(failed_.size()) + " could not be guarded (first: namespace " +
             std::to_string(failed_.begin()->first) + ": " + failed_.begin()->second + ")";
    return s;
}

}  // namespace selfconnect
