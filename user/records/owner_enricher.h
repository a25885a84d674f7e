// The one place where an owner is enriched: its cgroup path, and the
// container and pod that path names. Done once per record, before any
// sink sees it, so every output form says the same.
#pragma once

#include <chrono>

#include "host/cgroup_paths.h"
#include "records/container_namer.h"
#include "records/record.h"

namespace selfconnect {

class OwnerEnricher {
public:
    explicit OwnerEnricher(CgroupPaths paths = CgroupPaths()) : paths_(std::move(paths)) {}
    // Container and pod names from the runtimes, where one is given: what
    // is known now (watch), or what comes within `wait` (audit).
    void use_namer(ContainerNamer* namer, std::chrono::milliseconds wait = std::chrono::milliseconds(0))
    {
        namer_ = namer;
        wait_ = wait;
    }
    // A known owner's cgroup comes from the kernel's cgroup id when the
    // record has one, else from /proc/PID/cgroup (owners found by a scan).
    void enrich(Owner& owner);
    // The record's owner and, for listener_blocked, the holder's.
    void enrich(Record& record);

private:
    CgroupPaths paths_;
    ContainerNamer* namer_ = nullptr;
    std::chrono::milliseconds wait_{0};
};

}  // namespace selfconnect
