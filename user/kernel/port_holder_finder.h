// Who holds a port: runs the holder iterator (find_port_holders in
// bpf/holder_iterator.bpf.h), attached with the rest while the watcher
// still has its capabilities, read afterwards without any. Used when a
// bind() or listen() failed with EADDRINUSE.
#pragma once

#include <cstdint>
#include <vector>

#include "records/record.h"

namespace selfconnect {

class KernelProgram;

class PortHolderFinder {
public:
    explicit PortHolderFinder(KernelProgram& program) : program_(program) {}
    // False on a kernel without bpf_sock_from_file (before 5.11).
    bool available() const;
    // Every open TCP socket of namespace `netns` whose local port is `port`,
    // each once however many processes share it.
    std::vector<HeldSocket> find(uint32_t netns, uint16_t port);

private:
    KernelProgram& program_;
};

}  // namespace selfconnect
