#include "attach_mode.h"

#include <sys/mount.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

namespace selfconnect {

std::string_view attach_mode_name(AttachMode m)
{
    switch (m) {
    case AttachMode::Auto: return "auto";
    case AttachMode::TpBtf: return "tp_btf";
    case AttachMode::Tracepoint: return "tracepoint";
    }
    return "?";
}

std::optional<AttachMode> parse_attach_mode(std::string_view s)
{
    for (auto m : {AttachMode::Auto, AttachMode::TpBtf, AttachMode::Tracepoint})
        if (attach_mode_name(m) == s)
            return m;
    return std::nullopt;
}

bool kernel_offers_tp_btf()
{
    return libbpf_find_vmlinux_btf_id("inet_sock_set_state", BPF_TRACE_RAW_TP) > 0;
}

AttachMode resolve_attach_mode(AttachMode requested)
{
    if (requested != AttachMode::Auto)
        return requested;
    return kernel_offers_tp_btf() ? AttachMode::TpBtf : AttachMode::Tracepoint;
}

std::optional<std::string> ensure_tracefs()
{
    static constexpr const char* kEvent = "events/sock/inet_sock_set_state";
    // libbpf looks under debugfs first when it exists, then tracefs.
    for (const char* root : {"/sys/kernel/debug/tracing/", "/sys/kernel/tracing/"})
        if (access((std::string(root) + kEvent).c_str(), F_OK) == 0)
            return std::nullopt;
    if (access("/sys/kernel/debug/tracing", F_OK) == 0 && access("/sys/kernel/tracing", F_OK) != 0)
        return "tracefs is not reachable: the hook sock/inet_sock_set_state was not found";
    if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 && errno != EBUSY)
        return std::string("cannot mount tracefs on /sys/kernel/tracing: ") + strerror(errno);
    if (access((std::string("/sys/kernel/tracing/") + kEvent).c_str(), F_OK) != 0)
        return "hook not found: this kernel has no tracepoint sock/inet_sock_set_state";
    return std::nullopt;
}

}  // namespace selfconnect
