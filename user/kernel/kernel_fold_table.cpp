#include "kernel/kernel_fold_table.h"

#include <bpf/bpf.h>

namespace selfconnect {

std::optional<sc_fold> KernelFoldTable::read(const sc_command_port& key)
{
    sc_fold fold{};
    if (bpf_map_lookup_elem(fd_, &key, &fold) != 0)
        return std::nullopt;
    return fold;
}

void KernelFoldTable::forget(const sc_command_port& key)
{
    bpf_map_delete_elem(fd_, &key);  // already gone (LRU) is as good
}

}  // namespace selfconnect
