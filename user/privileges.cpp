#include "privileges.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace selfconnect {

namespace {
constexpr int kCapNetAdmin = 12;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;
}  // namespace

bool has_effective_capability(int cap)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0)
        return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1U;
}

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

std::optional<std::string> missing_kill_capabilities()
{
    if (has_effective_capability(kCapNetAdmin))
        return std::nullopt;
    return std::string("not privileged enough: --kill needs CAP_NET_ADMIN to destroy sockets");
}

}  // namespace selfconnect
