// What `selfconnect audit` was asked to do, parsed and checked by cli/.
#pragma once

#include <cstdint>
#include <vector>

#include "records/name_options.h"

namespace selfconnect {

struct AuditOptions {
    bool json = false;
    bool kill = false;
    bool fix = false;                    // apply each namespace's fix line
    bool verbose = false;
    std::vector<uint32_t> netns;         // empty: every namespace
    NameOptions names;
};

}  // namespace selfconnect
