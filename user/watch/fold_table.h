// What SelfConnectFolds asks of the kernel's table of folded self-connects:
// read a key, forget it. An interface, so that the folds and the dispatcher
// know no kernel and their tests stand in for it; the real table is
// kernel/KernelFoldTable, joined to this in watch/host_watch_actions.
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

}  // namespace selfconnect
