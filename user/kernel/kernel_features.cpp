#include "kernel/kernel_features.h"

#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/btf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "host/capabilities.h"

namespace selfconnect {

std::vector<bool> kernel_btf_has_names(const std::vector<std::string_view>& names)
{
    // Looking names up in the BTF string table costs one read of that table;
    // a full parse (libbpf_find_vmlinux_btf_id) costs tens of milliseconds,
    // and libbpf parses it once more at load anyway. The table (megabytes)
    // is read in small chunks: held whole, it raised the daemon's peak RSS
    // by 2 MiB. All the names are looked for in one pass over it.
    std::vector<bool> found(names.size(), false);
    std::ifstream btf("/sys/kernel/btf/vmlinux", std::ios::binary);
    btf_header hdr{};
    if (!btf.read(reinterpret_cast<char*>(&hdr), sizeof(hdr)) || hdr.magic != BTF_MAGIC)
        return found;
    // NUL-delimited in the table: each name with a NUL on either side.
    std::vector<std::string> needles;
    size_t longest = 0;
    for (std::string_view name : names) {
        needles.push_back(std::string(1, '\0').append(name).append(1, '\0'));
        longest = std::max(longest, needles.back().size());
    }
    btf.seekg(hdr.hdr_len + hdr.str_off);
    std::string window;  // the tail of the previous chunk, so no match is split
    std::vector<char> chunk(64 * 1024);
    size_t missing = names.size();
    for (uint32_t left = hdr.str_len; left > 0 && missing > 0;) {
        const auto n = std::min<uint32_t>(left, static_cast<uint32_t>(chunk.size()));
        if (!btf.read(chunk.data(), n))
            return found;
        window.append(chunk.data(), n);
        for (size_t i = 0; i < needles.size(); ++i)
            if (!found[i] && window.find(needles[i]) != std::string::npos) {
                found[i] = true;
                --missing;
            }
        if (window.size() >= longest)
            window.erase(0, window.size() - (longest - 1));
        left -= n;
    }
    return found;
}

namespace {
// Every name the loader and the guard ask about, looked up together once:
// each lookup alone read the whole table again (four reads at start).
constexpr std::array<std::string_view, 4> kNamesAskedAtStart = {
    "btf_trace_inet_sock_set_state",  // the raw tracepoint with BTF (tp_btf)
    "BPF_FUNC_sock_from_file",        // the holder iterator (5.11)
    "bpf_iter__tcp",                  // the listener-origin iterator (5.9)
    "BPF_FUNC_skc_to_tcp_sock",       // the guard (5.9)
};
}  // namespace

bool kernel_btf_has_name(std::string_view name)
{
    static const std::vector<bool> asked_at_start =
        kernel_btf_has_names({kNamesAskedAtStart.begin(), kNamesAskedAtStart.end()});
    const auto it = std::find(kNamesAskedAtStart.begin(), kNamesAskedAtStart.end(), name);
    if (it != kNamesAskedAtStart.end())
        return asked_at_start[static_cast<size_t>(it - kNamesAskedAtStart.begin())];
    return kernel_btf_has_names({name}).front();
}

bool kernel_offers_tp_btf()
{
    // The kernel describes a BTF-enabled raw tracepoint with a typedef named
    // btf_trace_<name>.
    return kernel_btf_has_name("btf_trace_inet_sock_set_state");
}

bool trampoline_probe_says_yes(int err, std::string_view verifier_log)
{
    // The verifier's words since 5.5 for a tracing program without a target.
    return err == EINVAL && verifier_log.find("btf_id") != std::string_view::npos;
}

bool kernel_may_offer_trampolines()
{
    const bpf_insn return_zero[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    char log[512] = {};
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FEXIT, .attach_btf_id = 0,
                .log_level = 1, .log_size = sizeof(log), .log_buf = log);
    const int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "sc_probe", "GPL", return_zero, 2, &opts);
    const int err = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return trampoline_probe_says_yes(err, log);
}

AttachMode resolve_attach_mode(AttachMode requested)
{
    if (requested != AttachMode::Auto)
        return requested;
    return kernel_offers_tp_btf() ? AttachMode::TpBtf : AttachMode::Tracepoint;
}

namespace {
constexpr const char* kEvent = "events/sock/inet_sock_set_state";
}

std::optional<std::string> check_tracepoint_layout(const std::string& format_text)
{
    // The offsets of struct trace_event_raw_inet_sock_set_state in vmlinux.h.
    static const std::pair<const char*, int> expected[] = {
        {"skaddr;", 8},  {"oldstate;", 16}, {"newstate;", 20},  {"sport;", 24},       {"dport;", 26},
        {"family;", 28}, {"protocol;", 30}, {"saddr[4];", 32}, {"daddr[4];", 36},    {"saddr_v6[16];", 40},
        {"daddr_v6[16];", 56}};
    for (const auto& [field, offset] : expected) {
        const auto at = format_text.find(std::string(" ") + field);
        if (at == std::string::npos)
            return std::string("the tracepoint inet_sock_set_state has no field ") + field;
        const auto off = format_text.find("offset:", at);
        if (off == std::string::npos || std::atoi(format_text.c_str() + off + 7) != offset)
            return std::string("the tracepoint inet_sock_set_state has an unexpected layout (field ") + field +
                   "); use --attach-mode tp_btf";
    }
    return std::nullopt;
}

std::optional<std::string> check_tracepoint_layout()
{
    for (const char* root : {"/sys/kernel/debug/tracing/", "/sys/kernel/tracing/"}) {
        std::ifstream in(std::string(root) + kEvent + "/format");
        if (!in)
            continue;
        std::stringstream text;
        text << in.rdbuf();
        return check_tracepoint_layout(text.str());
    }
    return "hook not found: cannot read the format of tracepoint sock/inet_sock_set_state";
}

std::optional<std::string> ensure_tracefs()
{
    // libbpf looks under debugfs first when it exists, then tracefs.
    for (const char* root : {"/sys/kernel/debug/tracing/", "/sys/kernel/tracing/"})
        if (access((std::string(root) + kEvent).c_str(), F_OK) == 0)
            return std::nullopt;
    if (access("/sys/kernel/debug/tracing", F_OK) == 0 && access("/sys/kernel/tracing", F_OK) != 0)
        return "tracefs is not reachable: the hook sock/inet_sock_set_state was not found";
    if (!may_administer_system())
        return "tracefs is not mounted, and mounting it on /sys/kernel/tracing needs CAP_SYS_ADMIN";
    if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 && errno != EBUSY)
        return std::string("cannot mount tracefs on /sys/kernel/tracing: ") + strerror(errno);
    if (access((std::string("/sys/kernel/tracing/") + kEvent).c_str(), F_OK) != 0)
        return "hook not found: this kernel has no tracepoint sock/inet_sock_set_state";
    return std::nullopt;
}

bool kernel_has_tracepoint(const std::string& event)
{
    for (const char* root : {"/sys/kernel/debug/tracing/events/", "/sys/kernel/tracing/events/"})
        if (access((root + event).c_str(), F_OK) == 0)
            return true;
    return false;
}

int seccomp_mode()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("Seccomp:"))
            return std::atoi(line.c_str() + 8);
    return -1;
}

std::string explain_ring_buffer_probe(int err, int seccomp)
{
    if (err == 0)
        return {};
    if (err == EPERM || err == EACCES) {
        // The capabilities were checked before: something else said no.
        if (seccomp == 2)
            return "bpf() was refused (" + std::string(strerror(err)) +
                   ") by this process's seccomp filter: some container runtimes' default profiles (podman's, "
                   "CRI-O's) allow bpf() only with CAP_SYS_ADMIN; run it with deploy/seccomp/selfconnect.json "
                   "(Kubernetes: seccompProfile type Localhost) or add CAP_SYS_ADMIN";
        return "bpf() was refused (" + std::string(strerror(err)) +
               ") although the needed capabilities are held: a Linux security module (lockdown, SELinux, "
               "AppArmor) or a user namespace's capabilities (a rootless container) do not count; run it "
               "as root in the host's user namespace";
    }
    if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP)
        return "this kernel has no BPF ring buffer (needs Linux 5.8 or newer)";
    return "cannot create a BPF ring buffer: " + std::string(strerror(err));
}

std::string probe_ring_buffer()
{
    const int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sc_probe", 0, 0, static_cast<__u32>(getpagesize()), nullptr);
    if (fd >= 0) {
        close(fd);
        return {};
    }
    const int err = errno;
    return explain_ring_buffer_probe(err, seccomp_mode());
}

namespace {
// Is the kernel `release` (uname -r) older than major.minor? An unknown
// release is taken as older: what older kernels need is safe on any.
bool release_before(const std::string& release, unsigned major, unsigned minor)
{
    unsigned its_major = 0, its_minor = 0;
    if (std::sscanf(release.c_str(), "%u.%u", &its_major, &its_minor) != 2)
        return true;
    return its_major < major || (its_major == major && its_minor < minor);
}

std::string running_release()
{
    utsname u{};
    return uname(&u) == 0 ? u.release : "";
}
}  // namespace

bool bpf_commands_need_capability(const std::string& release)
{
    return release_before(release, 5, 19);  // unknown: keep what reading the counters needs
}

bool bpf_commands_need_capability() { return bpf_commands_need_capability(running_release()); }

bool tracepoints_need_preallocated_maps(const std::string& release) { return release_before(release, 6, 1); }

bool tracepoints_need_preallocated_maps() { return tracepoints_need_preallocated_maps(running_release()); }

std::string check_kernel_support()
{
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): "
               "selfconnect needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or newer)";
    return probe_ring_buffer();
}

}  // namespace selfconnect
