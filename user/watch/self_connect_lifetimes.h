// How long each self-connect lived, and how many are open now.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

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
    // Gives a close the owner its open self-connect was reported with, if
    // one is open here: in the kernel a close runs in whoever closes the
    // socket (the watcher itself, for --kill), or in softirq.
    void name_close(Record& r);
    // A close the kernel did not write, taken after the ring was read: a
    // self-connect at its address established after it (r.mono_ns) is
    // another socket, and stays. One that finds no self-connect at its
    // address is kept a while: the ring may hold its self-connect's record
    // behind one that another CPU has not finished writing, which stops
    // the read (then it arrives established before the close, and is not
    // counted).
    void on_close_not_written(const Record& r);
    // Those kept closes from before `mono_ns` are forgotten.
    void forget_kept_closes_before(uint64_t mono_ns);
    // A rescan after lost closes: of the namespaces `fully_read` says the
    // scan read whole, those open here and not in `now` closed unseen. They
    // leave the count; a close of theirs still on its way is written with
    // its lifetime until the next rescan. Self-connects in `now` unknown
    // here are not added: most are the kernel's unwritten ones, counted
    // there (one the kernel's map could not hold is counted nowhere).
    void resync(const std::vector<Record>& now, const std::function<bool(uint32_t netns)>& fully_read);
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
    // Sockets bound to different devices may share an address and port.
    using Key = std::tuple<uint32_t, uint16_t, std::string, uint16_t, uint32_t>;
    static Key key_of(const Record& r) { return {r.netns, r.family, r.addr, r.port, r.bound_ifindex}; }
    struct Open {
        uint64_t established_at;  // 0: found at start
        Record record;
    };
    static std::map<Key, Open>::iterator entry_of(std::map<Key, Open>& in, const Record& r);
    std::map<Key, Open> open_;
    std::map<Key, Open> closed_unseen_;  // at the last rescan
    std::map<Key, uint64_t> closed_before_seen_;  // kept closes that found nothing open, when each closed
};

}  // namespace selfconnect
