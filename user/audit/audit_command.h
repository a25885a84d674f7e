// `selfconnect audit`: what is broken or exposed on this host right now.
#pragma once

#include "audit/audit_options.h"

namespace selfconnect {

// 0: nothing found (or, with --fix, every fix applied), 1: findings,
// 2: error (or a fix that failed).
int run_audit(const AuditOptions& options);

}  // namespace selfconnect
