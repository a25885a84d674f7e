// The one place where an owner is enriched: its cgroup path, and the
// container and pod that path names. Done once per record, before any
// sink sees it, so every output form says the same.
#pragma once

#include "host/cgroup_paths.h"
#include "records/record.h"

namespace selfconnect {

class OwnerEnricher {
public:
    explicit OwnerEnricher(CgroupPaths paths = CgroupPaths()) : paths_(std::move(paths)) {}
    // A known owner's cgroup comes from the kernel's cgroup id when the
    // record has one, else from /proc/PID/cgroup (owners found by a scan).
    void enrich(Owner& owner);
    // The record's owner and, for listener_blocked, the holder's.
    void enrich(Record& record);

private:
    CgroupPaths paths_;
};

}  // namespace selfconnect
