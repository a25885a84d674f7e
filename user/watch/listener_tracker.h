// The listeners on ports of their namespace's ephemeral range, as watch
// learns of them: found at start, added when a socket starts listening
// there, removed when it closes. Those whose port is not reserved are at
// risk; a reservation makes one safe, and it stays known as such (the risk
// map shows it fixed). A listener is a (namespace, address, port), written
// once; the sockets listening there (several with SO_REUSEPORT) are told
// apart by their inode, so one seen by the start scan and again as it
// starts counts once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "records/record.h"

namespace selfconnect {

class ListenerTracker {
public:
    // True if this listener is at risk and was not known yet. A listener on
    // a reserved port (r.reserved) is known as safe.
    bool add(const Record& listener);
    void closed(const Record& listener);
    // Its port was reserved: every listener on it in that namespace is safe.
    void reserved(uint32_t netns, uint16_t port);
    // After events were lost or a policy changed: the listeners a scan of
    // the namespaces `scanned` found now replace what was known of those
    // namespaces, and those of namespaces that hold no socket now (ended, or
    // emptied: their closes may have been lost) are forgotten. Returns those at risk that were
    // not known to be (their start was lost, or their reservation was taken
    // away).
    std::vector<Record> resync(const std::vector<Record>& listening_now, const std::vector<uint32_t>& scanned,
                               const std::function<bool(uint32_t)>& holds_no_socket = nullptr);
    size_t at_risk() const { return at_risk_; }
    // Each listener known, by one of its sockets still listening, and
    // whether its port is reserved.
    void each(const std::function<void(const Record&, bool reserved)>& visit) const;

private:
    using Key = std::tuple<uint32_t, uint16_t, std::string>;  // netns, port, address
    static Key key_of(const Record& r) { return {r.netns, r.port, r.addr}; }
    struct Listener {
        bool reserved = false;
        // Its sockets by inode, each with the record it was seen by (its
        // owner: a socket handed over with SO_REUSEPORT has another); 0
        // stands for each one whose inode the kernel could not read.
        std::multimap<uint32_t, Record> sockets;
    };
    // The record kept of a socket: what names it, not its fix lines.
    static Record kept(const Record& r);
    void count();  // at_risk_, after a change of many
    std::map<Key, Listener> listeners_;
    size_t at_risk_ = 0;
};

}  // namespace selfconnect
