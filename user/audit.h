// `selfconnect audit`: what is broken or exposed on this host right now.
#pragma once

#include "command_line.h"

namespace selfconnect {

// 0: nothing found, 1: findings, 2: error.
int run_audit(const AuditOptions& options);

}  // namespace selfconnect
