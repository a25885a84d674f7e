// `selfconnect audit`: what is broken or exposed on this host right now.
#pragma once

#include "command_line.h"

#include <cstdint>
#include <vector>

#include "record.h"

namespace selfconnect {

// 0: nothing found (or, with --fix, every fix applied), 1: findings,
// 2: error (or a fix that failed).
int run_audit(const AuditOptions& options);

// The listeners at risk and the self-connected sockets now, as audit
// reports them (owner, fix line), in every namespace or only in those
// listed. For watch, at its start.
std::vector<Record> scan_now(const std::vector<uint32_t>& only_netns);


}  // namespace selfconnect
