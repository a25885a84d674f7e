// Everything that happens to an event after it leaves the ring buffer and
// is decoded: the --pid/--comm/--netns filters, the records written, the
// sockets killed, the ports reserved, the holders named, the metrics and
// gauges kept. Its collaborators are passed in; it knows no kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "metrics/metrics.h"
#include "records/owner_enricher.h"
#include "records/record.h"
#include "records/record_sink.h"
#include "watch/listener_tracker.h"
#include "watch/record_window.h"
#include "watch/retry_loop_detector.h"
#include "watch/self_connect_folds.h"
#include "watch/self_connect_lifetimes.h"
#include "watch/watch_actions.h"
#include "watch/watch_options.h"

namespace selfconnect {

class EventDispatcher {
public:
    EventDispatcher(const WatchOptions& options, RecordSink& sink, Metrics& metrics, OwnerEnricher& enricher,
                    WatchActions& actions);

    // What was there when watching began, from the start scan: the
    // listeners at risk are reported, the self-connects counted as open.
    // Returns the ports of the self-connects there were, one each.
    std::vector<uint16_t> start_with(std::vector<Record> found);

    // One decoded event.
    void handle(Record r);

    // After listener events were lost: the listeners a scan found replace
    // what was known of the namespaces it read; those whose start was lost
    // are reported now, those whose close was lost are forgotten.
    void resync_listeners(const std::vector<Record>& found, const std::vector<uint32_t>& scanned,
                          const std::function<bool(uint32_t)>& holds_no_socket = nullptr);

    // Closes of self-connects the kernel did not write (decode_unwritten_
    // close), taken after the ring was read: those self-connects leave the
    // open count, as a written close takes them out, with no record; one
    // established at the same address after the close stays. A close that
    // found nothing open waits a second (monotonic `now_ns`) for its
    // self-connect's record.
    void closes_not_written(const std::vector<Record>& closes, uint64_t now_ns);

    // After closes were lost that the kernel could not keep: the self-
    // connects of the namespaces a scan read (`scanned`) that it did not
    // find leave the open count.
    void resync_self_connects(const std::vector<Record>& found, const std::vector<uint32_t>& scanned);

    // Namespaces whose range or reserved ports changed (`reserved_now`: each
    // one's list as it now reads), read again: listeners the change put at
    // risk are reported (and protected), those it made safe forgotten.
    void policies_changed(const std::map<uint32_t, PortSet>& reserved_now, const std::vector<Record>& found,
                          const std::vector<uint32_t>& scanned);

    // Who held the port of a refused bind() or listen() (WatchActions::
    // find_holders): a listener_blocked record if one of them blocks it.
    void on_holders(Record port_in_use, const std::vector<HeldSocket>& held);

    // Self-connects the kernel folded, due now (kernel monotonic ns): each
    // key's written as one self_connect_repeats record (see
    // SelfConnectFolds). At the end (`final`) every fold is written.
    void write_folds(uint64_t now_ns, bool final = false);

    // The risk map (metrics), from what the trackers know at `now_ns`
    // (kernel monotonic ns): at most once a second, when something changed,
    // while a retry loop is listed (it ends by going quiet), and every ten
    // seconds (names of containers come later than their records).
    void publish_risk_map(uint64_t now_ns);

    // --count reached.
    bool done() const { return options_.count && detections_ >= *options_.count; }
    uint64_t detections() const { return detections_; }
    uint64_t retry_loop_warnings() const { return retry_loop_warnings_; }

private:
    struct KindHandler;
    bool wanted(const Record& r) const;
    void emit(Record& r);
    void update_gauges();
    void on_self_connect(Record& r);
    void on_refused(const Record& r);
    void on_listener(Record& r);
    void on_prevented(Record& r);
    void on_guard_missed(Record& r);
    void protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason);
    bool written_lately(const Record& listener);

    const WatchOptions& options_;
    RecordSink& sink_;
    Metrics& metrics_;
    OwnerEnricher& enricher_;
    WatchActions& actions_;
    SelfConnectLifetimes lifetimes_;
    SelfConnectFolds folds_;
    RetryLoopDetector retry_loops_;
    ListenerTracker listeners_;
    // Listeners by (netns, port, address); prevented self-connects by
    // (netns, user, process name, port), as the kernel keys them: no user's
    // process hides another user's.
    RecordWindow<std::tuple<uint32_t, uint16_t, std::string>> listeners_written_;
    RecordWindow<std::tuple<uint32_t, uint32_t, std::string, uint16_t>> prevented_written_;
    RecordWindow<std::tuple<uint32_t, uint32_t, std::string, uint16_t>> missed_written_;
    uint64_t detections_ = 0;
    uint64_t retry_loop_warnings_ = 0;
    bool risk_map_changed_ = true;
    bool retry_loops_listed_ = false;
    std::optional<uint64_t> risk_map_published_at_;
    std::optional<uint64_t> risk_map_enriched_at_;
    std::unordered_map<std::string, RiskLabels> risk_labels_;  // each series shown, by what it is
};

}  // namespace selfconnect
