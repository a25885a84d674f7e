#include "host/capabilities.h"

#include <vector>

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace selfconnect {

namespace {
constexpr int kCapNetAdmin = 12;
constexpr int kCapSysPtrace = 19;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

bool has_effective_capability(int cap)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0)
        return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1U;
}

// Sets the calling thread's effective and permitted sets to `keep` (capset
// acts on the calling thread only).
bool keep_only(const std::vector<int>& keep)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int cap : keep) {
        data[cap / 32].effective |= 1U << (cap % 32);
        data[cap / 32].permitted |= 1U << (cap % 32);
    }
    return syscall(SYS_capset, &header, data) == 0;
}

}  // namespace

std::optional<std::string> missing_load_capabilities()
{
    if (has_effective_capability(kCapSysAdmin))
        return std::nullopt;
    const bool bpf = has_effective_capability(kCapBpf);
    const bool perfmon = has_effective_capability(kCapPerfmon);
    if (bpf && perfmon)
        return std::nullopt;
    std::string missing;
    if (!bpf)
        missing = "CAP_BPF";
    if (!perfmon)
        missing += missing.empty() ? "CAP_PERFMON" : " and CAP_PERFMON";
    return "not privileged enough: missing " + missing +
           " (or CAP_SYS_ADMIN) to load the BPF program; run as root";
}

bool may_administer_system() { return has_effective_capability(kCapSysAdmin); }

std::vector<int> capabilities_for_bpf_after_load() { return {kCapBpf}; }

std::vector<int> capabilities_for_kill() { return {kCapNetAdmin, kCapSysAdmin, kCapSysPtrace}; }

std::optional<std::string> drop_capabilities_except(const std::vector<int>& keep)
{
    const auto kept = [&](int cap) { return std::find(keep.begin(), keep.end(), cap) != keep.end(); };
    // The bounding set first: dropping from it needs CAP_SETPCAP, which is
    // about to go. Capabilities the running kernel does not know end the loop.
    for (int cap = 0; cap <= 63; ++cap) {
        if (kept(cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
            break;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (!keep_only(keep))
        return std::string("cannot drop capabilities: ") + strerror(errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return std::string("cannot set no_new_privs: ") + strerror(errno);
    return std::nullopt;
}

std::optional<std::string> drop_this_threads_capabilities(const std::vector<int>& keep)
{
    if (!keep_only(keep))
        return std::string("cannot drop the capabilities of a thread: ") + strerror(errno);
    return std::nullopt;
}

std::optional<std::string> missing_kill_capabilities()
{
    if (has_effective_capability(kCapNetAdmin))
        return std::nullopt;
    return std::string("not privileged enough: --kill needs CAP_NET_ADMIN to destroy sockets");
}

std::optional<std::string> missing_guard_capabilities()
{
    if (has_effective_capability(kCapNetAdmin))
        return std::nullopt;
    return std::string("not privileged enough: --guard needs CAP_NET_ADMIN to attach to loopback devices");
}

}  // namespace selfconnect
