// The BPF program's table of folded self-connects (self_connect_folds),
// read and forgotten by key.
#pragma once

#include <optional>

#include "events.h"

namespace selfconnect {

class KernelFoldTable {
public:
    explicit KernelFoldTable(int map_fd) : fd_(map_fd) {}
    std::optional<sc_fold> read(const sc_command_port& key);
    // The key is forgotten here: the kernel starts it again at zero.
    void forget(const sc_command_port& key);

private:
    int fd_;  // owned by the program
};

}  // namespace selfconnect
