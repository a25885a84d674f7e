#include "bpf_probe.h"

#include <unistd.h>

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace selfconnect {

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

}  // namespace selfconnect
