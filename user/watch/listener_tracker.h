// The listeners at risk now, as watch learns of them: found at start,
// added when a socket starts listening inside its namespace's ephemeral
// range, removed when it closes or its port is reserved. One entry per
// (namespace, address, port): a record is written once per listener.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "records/record.h"

namespace selfconnect {

class ListenerTracker {
public:
    // True if this listener was not known yet.
    bool add(const Record& listener);
    void closed(const Record& listener);
    // Its port was reserved: every listener on it in that namespace is safe.
    void reserved(uint32_t netns, uint16_t port);
    size_t at_risk() const { return listeners_.size(); }

private:
    using Key = std::tuple<uint32_t, uint16_t, std::string>;  // netns, port, address
    std::map<Key, int> listeners_;  // how many sockets listen there (SO_REUSEPORT)
};

}  // namespace selfconnect
