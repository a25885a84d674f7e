// Which capabilities the process holds, checked before anything is loaded so
// the user gets one sentence instead of a verifier log.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace selfconnect {

bool has_effective_capability(int cap);

// The capabilities missing to load and attach the detector, as a sentence,
// or nothing if it may proceed. CAP_BPF + CAP_PERFMON (5.8+) or CAP_SYS_ADMIN.
std::optional<std::string> missing_load_capabilities();

// CAP_NET_ADMIN, needed by --kill (SOCK_DESTROY).
std::optional<std::string> missing_kill_capabilities();

}  // namespace selfconnect
