// The number of descriptors this process may hold.
#pragma once

namespace selfconnect {

// Raises the soft limit of open descriptors (RLIMIT_NOFILE) to the hard
// one. Audit and the watcher's scans hold one descriptor for each network
// namespace of the host at once, and a node of a thousand pods has more
// than the usual soft limit (1024); the soft limit is kept low for
// programs that use select(), which this one does not. A limit that cannot
// be raised is left as it is.
void use_the_hard_descriptor_limit();

}  // namespace selfconnect
