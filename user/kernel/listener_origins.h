// Who chose the port of each listener of a namespace, the program or the
// kernel: runs the listener-origin iterator (bpf/listener_origins.bpf.h),
// attached with the rest, read afterwards without any capability. For the
// listeners found at start, of which sock_diag cannot tell.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace selfconnect {

class KernelProgram;

// Socket inode -> true where the kernel chose the port.
using ListenerOriginMap = std::unordered_map<uint64_t, bool>;

class ListenerOrigins {
public:
    explicit ListenerOrigins(const KernelProgram& program) : program_(program) {}
    // False on a kernel without the tcp iterator (before 5.9).
    bool available() const;
    // Every TCP listener of the namespace `netns_fd`; nothing if it could
    // not be read.
    std::optional<ListenerOriginMap> of_namespace(int netns_fd) const;

private:
    const KernelProgram& program_;
};

}  // namespace selfconnect
