// The BPF program's table of folded self-connects (self_connect_folds),
// read and forgotten by key; FoldTable is what SelfConnectFolds asks, so
// that its tests can stand in for the kernel.
#pragma once

#include <optional>

#include "events.h"

namespace selfconnect {

class FoldTable {
public:
    virtual ~FoldTable() = default;
    virtual std::optional<sc_fold> read(const sc_command_port& key) = 0;
    // The key is forgotten here: the kernel starts it again at zero.
    virtual void forget(const sc_command_port& key) = 0;
};

class KernelFoldTable final : public FoldTable {
public:
    explicit KernelFoldTable(int map_fd) : fd_(map_fd) {}
    std::optional<sc_fold> read(const sc_command_port& key) override;
    void forget(const sc_command_port& key) override;

private:
    int fd_;  // owned by the program
};

}  // namespace selfconnect
