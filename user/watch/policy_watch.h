// A namespace's ephemeral range or reserved ports changed under a running
// watcher (sysctl -w during an incident, the usual widening of the range):
// its listeners are judged again, so a listener the change put at risk is
// reported (and protected, with --protect) and one it made safe leaves the
// gauge. No kernel event announces a sysctl write to a program without
// CAP_NET_ADMIN, so each namespace's two sysctls are read every two
// seconds: the watcher's own always, the others only where it keeps
// CAP_SYS_ADMIN after attaching (with --protect or --kill), which entering
// them takes; which namespaces there are is read again every 30 seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "prevent/risk_scan.h"
#include "watch/event_dispatcher.h"

namespace selfconnect {

class PolicyWatch {
public:
    // Reads every policy now: what a later read is compared with.
    // `may_enter_others`: the watcher keeps CAP_SYS_ADMIN once attached.
    PolicyWatch(std::vector<uint32_t> only_netns, PortOrigin origin, bool may_enter_others);
    // Call often; it reads at most every two seconds, and scans again only
    // the namespaces whose policy changed, each at most every ten seconds.
    void after(EventDispatcher& dispatcher);

private:
    void list_namespaces();
    // Each listed namespace's policy now; those that cannot be read any
    // more are left out (and listed again if they come back).
    std::map<uint32_t, PortPolicy> read_all();

    std::vector<uint32_t> only_;
    PortOrigin origin_;
    bool may_enter_others_;
    std::map<uint32_t, std::string> paths_;  // inode -> a path that reached it
    std::map<uint32_t, PortPolicy> last_;
    std::map<uint32_t, std::chrono::steady_clock::time_point> scanned_at_;  // its last rescan
    std::chrono::steady_clock::time_point read_at_;
    std::chrono::steady_clock::time_point listed_at_;
};

}  // namespace selfconnect
