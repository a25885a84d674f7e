// How long each self-connect lived, and how many are open now.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "records/record.h"

namespace selfconnect {

// Remembers when each reported self-connect began, to tell how long it lived.
class SelfConnectLifetimes {
public:
    void on_established(const Record& r);
    // One that was there before watching began: open, its start unknown.
    void on_existing(const Record& r);
    // Seconds from establishment to close, if the establishment was seen.
    std::optional<double> on_closed(const Record& r);
    // Self-connected sockets seen (or found at start) and not seen closed.
    size_t open() const { return open_.size(); }
    // Each of those, by the record it was seen by.
    template <typename Visit>
    void each_open(Visit visit) const
    {
        for (const auto& [key, self_connect] : open_)
            visit(self_connect.record);
    }

private:
    using Key = std::tuple<uint32_t, uint16_t, std::string, uint16_t>;
    static Key key_of(const Record& r) { return {r.netns, r.family, r.addr, r.port}; }
    struct Open {
        uint64_t established_at;  // 0: found at start
        Record record;
    };
    std::map<Key, Open> open_;
};

}  // namespace selfconnect
