// The listeners at risk now, as watch learns of them: found at start,
// added when a socket starts listening inside its namespace's ephemeral
// range, removed when it closes or its port is reserved. A listener is a
// (namespace, address, port), written once; the sockets listening there
// (several with SO_REUSEPORT) are told apart by their inode, so one seen
// by the start scan and again as it starts counts once.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "records/record.h"

namespace selfconnect {

class ListenerTracker {
public:
    // True if this listener was not known yet.
    bool add(const Record& listener);
    void closed(const Record& listener);
    // Its port was reserved: every listener on it in that namespace is safe.
    void reserved(uint32_t netns, uint16_t port);
    // After events were lost: the listeners a scan of the namespaces
    // `scanned` found now replace what was known of those namespaces.
    // Returns those that were not known (their start was lost).
    std::vector<Record> resync(const std::vector<Record>& listening_now, const std::vector<uint32_t>& scanned);
    size_t at_risk() const { return listeners_.size(); }

private:
    using Key = std::tuple<uint32_t, uint16_t, std::string>;  // netns, port, address
    static Key key_of(const Record& r) { return {r.netns, r.port, r.addr}; }
    // The sockets of each listener by inode; 0 stands for each one whose
    // inode the kernel could not read.
    std::map<Key, std::multiset<uint32_t>> listeners_;
};

}  // namespace selfconnect
