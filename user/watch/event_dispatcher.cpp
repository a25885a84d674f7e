#include "watch/event_dispatcher.h"

#include <sys/socket.h>

#include <algorithm>

#include <time.h>

#include "host/netns.h"
#include "records/event_decoding.h"
#include "prevent/fix_policy.h"
#include "prevent/port_holders.h"

namespace selfconnect {

namespace {

constexpr uint64_t kListenerRecordWindowNs = 10'000'000'000ULL;

// The clock of the kernel's event stamps (bpf_ktime_get_ns).
uint64_t monotonic_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

EventDispatcher::EventDispatcher(const WatchOptions& o, RecordSink& sink, Metrics& metrics, OwnerEnricher& enricher,
                                 WatchActions& actions)
    : options_(o),
      sink_(sink),
      metrics_(metrics),
      enricher_(enricher),
      actions_(actions),
      retry_loops_(o.retry_threshold, o.retry_window_seconds),
      listeners_written_(kListenerRecordWindowNs),
      prevented_written_(static_cast<uint64_t>(o.retry_window_seconds * 1e9)),
      missed_written_(static_cast<uint64_t>(o.retry_window_seconds * 1e9))
{
}

std::vector<uint16_t> EventDispatcher::start_with(std::vector<Record> found)
{
    std::vector<uint16_t> self_connects;
    for (Record& r : found) {
        if (r.type() == RecordType::ListenerAtRisk) {
            // The filters, as the kernel applies them to live events.
            if (wanted(r))
                on_listener(r);
        } else if (r.type() == RecordType::SelfConnect) {
            lifetimes_.on_existing(r);
            self_connects.push_back(r.port);
        }
    }
    update_gauges();
    return self_connects;
}

void EventDispatcher::resync_listeners(const std::vector<Record>& found, const std::vector<uint32_t>& scanned,
                                       const std::function<bool(uint32_t)>& holds_no_socket)
{
    std::vector<Record> listeners;
    for (const Record& r : found)
        if (r.type() == RecordType::ListenerAtRisk && wanted(r))
            listeners.push_back(r);
    for (Record& r : listeners_.resync(listeners, scanned, holds_no_socket)) {
        emit(r);
        if (port_worth_reserving(r))
            protect(r.netns, r.port, r.owner.pid, ReserveReason::ListenerAtRisk);
    }
    update_gauges();
}

void EventDispatcher::closes_not_written(const std::vector<Record>& closes, uint64_t now_ns)
{
    constexpr uint64_t kRecordWaitNs = 1'000'000'000;
    lifetimes_.forget_kept_closes_before(now_ns > kRecordWaitNs ? now_ns - kRecordWaitNs : 0);
    if (closes.empty())
        return;
    for (const Record& r : closes)
        lifetimes_.on_close_not_written(r);
    update_gauges();
}

void EventDispatcher::resync_self_connects(const std::vector<Record>& found, const std::vector<uint32_t>& scanned)
{
    std::vector<Record> self_connects;
    for (const Record& r : found)
        if (r.type() == RecordType::SelfConnect)
            self_connects.push_back(r);
    lifetimes_.resync(self_connects, [&](uint32_t netns) {
        return std::find(scanned.begin(), scanned.end(), netns) != scanned.end();
    });
    update_gauges();
}

void EventDispatcher::policies_changed(const std::map<uint32_t, PortSet>& reserved_now,
                                       const std::vector<Record>& found, const std::vector<uint32_t>& scanned)
{
    for (const auto& [netns, reserved] : reserved_now)
        actions_.reserved_now(netns, reserved);
    resync_listeners(found, scanned);
}

// Each kind's handling, one overload per kind: a kind with neither its own
// overload nor `written_as_is` in its facts does not compile.
struct EventDispatcher::KindHandler {
    EventDispatcher& d;
    Record& r;

    void operator()(SelfConnectFacts&) { d.on_self_connect(r); }
    void operator()(SelfConnectClosedFacts& closed)
    {
        closed.lifetime_seconds = d.lifetimes_.on_closed(r);
        d.update_gauges();
        ++d.metrics_.self_connects_closed;
        d.emit(r);
    }
    void operator()(ConnectRefusedFacts&) { d.on_refused(r); }
    void operator()(ListenerAtRiskFacts& listener)
    {
        if (port_worth_reserving(r)) {
            ListenerFix fix = d.actions_.fix_for(r);
            listener.fix = std::move(fix.command);
            listener.pod_fix = std::move(fix.pod_spec);  // kept only if the owner is in a pod (emit)
        }
        d.on_listener(r);
    }
    void operator()(ListenerClosedFacts&)
    {
        d.listeners_.closed(r);
        d.update_gauges();
    }
    void operator()(PortInUseFacts&) { d.actions_.find_holders(r); }
    void operator()(SelfConnectPreventedFacts&) { d.on_prevented(r); }
    void operator()(GuardMissedFacts&) { d.on_guard_missed(r); }
    // Made here, from the kernel's events: never decoded from one.
    void operator()(RetryLoopFacts&) {}
    void operator()(PortReservedFacts&) {}
    void operator()(ListenerBlockedFacts&) {}
    void operator()(SelfConnectRepeatsFacts&) {}
    // A kind whose facts say it is only to be written (filtered above,
    // enriched, written): such a kind is declared in records/ alone.
    template <typename Facts>
        requires Facts::written_as_is
    void operator()(Facts&)
    {
        d.emit(r);
    }
};

void EventDispatcher::handle(Record r)
{
    // A close is named by its self-connect's record before the filters
    // (--pid, --comm) look at it, not by whoever closed the socket.
    if (r.if_is<SelfConnectClosedFacts>())
        lifetimes_.name_close(r);
    if (done() || !wanted(r))
        return;
    std::visit(KindHandler{*this, r}, r.facts);
}

bool EventDispatcher::wanted(const Record& r) const
{
    if (!netns_selected(options_.netns, r.netns))
        return false;
    if (options_.port && r.port != options_.port)
        return false;
    if (options_.pid && (!r.owner.known || r.owner.pid != *options_.pid))
        return false;
    if (options_.comm && (!r.owner.known || r.owner.comm != *options_.comm))
        return false;
    return true;
}

void EventDispatcher::emit(Record& r)
{
    enricher_.enrich(r);
    if (auto* listener = r.if_is<ListenerAtRiskFacts>(); listener && !keeps_pod_fix(r))
        listener->pod_fix.reset();
    sink_.write(r);
}

void EventDispatcher::update_gauges()
{
    metrics_.listeners_at_risk = listeners_.at_risk();
    metrics_.self_connects_open = lifetimes_.open();
    risk_map_changed_ = true;
}

namespace {

bool awaits_name(const RiskLabels& labels)
{
    const auto has = [&](const char* name) {
        return std::any_of(labels.begin(), labels.end(), [&](const auto& l) { return l.first == name; });
    };
    return has("container_id") && !has("container_name");
}

}  // namespace

void EventDispatcher::publish_risk_map(uint64_t now_ns)
{
    constexpr uint64_t kSecond = 1'000'000'000ULL;
    if (risk_map_published_at_) {
        const uint64_t since = now_ns - *risk_map_published_at_;
        if (since < kSecond || (!risk_map_changed_ && !retry_loops_listed_ && since < 10 * kSecond))
            return;
    }
    // A series is enriched once (a scan's owner by /proc/PID/cgroup: read
    // again, a pid reused would name another container), and every ten
    // seconds again if its container has no name yet (names come later).
    const bool refresh = !risk_map_published_at_ || !risk_map_enriched_at_ ||
                         now_ns - *risk_map_enriched_at_ >= 10 * kSecond;
    if (refresh)
        risk_map_enriched_at_ = now_ns;
    risk_map_published_at_ = now_ns;
    risk_map_changed_ = false;
    RiskMap& map = metrics_.risk_map;
    std::unordered_map<std::string, RiskLabels> labelled;
    // Only as many as are shown are enriched.
    const auto publish = [&](RiskKind kind, const std::vector<std::pair<const Record*, bool>>& found) {
        std::vector<RiskLabels> shown;
        for (size_t i = 0; i < found.size() && i < map.bound(); ++i) {
            const Record& r = *found[i].first;
            const std::string key = std::to_string(static_cast<size_t>(kind)) + '/' + std::to_string(r.netns) + '/' +
                                    r.addr + '/' + std::to_string(r.port) + '/' + std::to_string(r.bound_ifindex) +
                                    '/' + std::to_string(r.owner.pid) + '/' + (found[i].second ? "reserved" : "");
            auto cached = risk_labels_.find(key);
            if (cached != risk_labels_.end() && refresh && awaits_name(cached->second))
                cached = risk_labels_.end();
            if (cached == risk_labels_.end()) {
                Record enriched = r;
                enricher_.enrich(enriched);
                cached = labelled.emplace(key, risk_labels(enriched, found[i].second)).first;
            } else {
                cached = labelled.emplace(key, std::move(cached->second)).first;
            }
            shown.push_back(cached->second);
        }
        map.replace(kind, std::move(shown), found.size() - shown.size());
    };
    // Those at risk first: past the bound, the fixed ones are left out.
    std::vector<std::pair<const Record*, bool>> listeners, safe, open, loops;
    listeners_.each([&](const Record& l, bool reserved) { (reserved ? safe : listeners).emplace_back(&l, reserved); });
    listeners.insert(listeners.end(), safe.begin(), safe.end());
    publish(RiskKind::ListenerInRange, listeners);
    lifetimes_.each_open([&](const Record& r) { open.emplace_back(&r, false); });
    publish(RiskKind::OpenSelfConnect, open);
    const std::vector<Record> under_way = retry_loops_.under_way(now_ns);
    for (const Record& r : under_way)
        loops.emplace_back(&r, false);
    publish(RiskKind::RetryLoop, loops);
    retry_loops_listed_ = !under_way.empty();
    risk_labels_ = std::move(labelled);  // those shown now: the cache stays bounded
}

void EventDispatcher::on_self_connect(Record& r)
{
    lifetimes_.on_established(r);
    update_gauges();
    if (options_.kill) {
        const KillResult k = actions_.kill(r);
        ++(k.ok ? metrics_.kills_ok : metrics_.kills_failed);
        r.as<SelfConnectFacts>().kill = KillOutcome{k.ok, k.ok ? "" : k.error};
    }
    ++(r.family == AF_INET6 ? metrics_.self_connects_ipv6 : metrics_.self_connects_ipv4);
    ++detections_;
    emit(r);
    folds_.written(r);
}

// With --kill, a repeats record destroys the self-connect of its loop that
// is open now, if one is (the folded ones were not destroyed one by one).
void EventDispatcher::write_folds(uint64_t now_ns, bool final)
{
    for (Record& r : folds_.due(actions_.fold_table(), now_ns, final)) {
        if (!wanted(r))
            continue;
        r.time = wall_time_of(r.mono_ns);
        if (options_.kill) {
            const KillResult k = actions_.kill(r);
            if (k.ok) {
                ++metrics_.kills_ok;
                r.as<SelfConnectRepeatsFacts>().open_one_killed = true;
            }
        }
        emit(r);
    }
}

void EventDispatcher::on_refused(const Record& r)
{
    auto loop = retry_loops_.on_refused(r);
    if (!loop)
        return;
    ++retry_loop_warnings_;
    ++metrics_.retry_loop_warnings;
    risk_map_changed_ = true;
    emit(*loop);
    protect(loop->netns, loop->port, loop->owner.pid, ReserveReason::RetryLoop);
}

void EventDispatcher::on_listener(Record& r)
{
    // A reserved port cannot be handed out: that listener is safe (known
    // as such, for the risk map).
    const bool new_at_risk = listeners_.add(r);
    update_gauges();
    if (!new_at_risk)
        return;
    if (!written_lately(r))
        emit(r);
    if (!port_worth_reserving(r))
        return;
    // Every time: the protector knows what it reserved, and a namespace
    // that was handed a dead one's inode is a new one to it.
    protect(r.netns, r.port, r.owner.pid, ReserveReason::ListenerAtRisk);
}

// A listener that starts again within the window is counted, not written
// again: a server in a crash loop, or a user looping on listen() and
// close(), makes one record a window, not one a loop.
bool EventDispatcher::written_lately(const Record& r)
{
    return listeners_written_.written_lately({r.netns, r.port, r.addr}, r.mono_ns ? r.mono_ns : monotonic_ns());
}

// The guard refused a SYN that met itself. Written once per (netns, user,
// process name, port) and retry window, with the fix that would make the
// guard unneeded there; the metric counts every one (in the kernel).
void EventDispatcher::on_prevented(Record& r)
{
    if (prevented_written_.written_lately({r.netns, r.owner.uid, r.owner.comm, r.port},
                                          r.mono_ns ? r.mono_ns : monotonic_ns()))
        return;
    r.as<SelfConnectPreventedFacts>().fix = actions_.fix_for(r).command;
    emit(r);
}

// No guard saw the SYN of a connect that could have met itself: its
// namespace's loopback had none (a namespace made since the start, or one
// the guard could not attach to). The guard is attached there now; the
// record says whether that worked. Written once per (netns, user, process
// name, port) and retry window; the metric counts every one (in the kernel).
void EventDispatcher::on_guard_missed(Record& r)
{
    r.as<GuardMissedFacts>().error = actions_.guard_namespace(r.netns, r.owner.pid);
    if (missed_written_.written_lately({r.netns, r.owner.uid, r.owner.comm, r.port},
                                       r.mono_ns ? r.mono_ns : monotonic_ns()))
        return;
    emit(r);
}

void EventDispatcher::protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason)
{
    if (!options_.protect)
        return;
    auto reserved = actions_.protect(netns, port, pid, reason);
    if (!reserved)
        return;
    if (reserved->as<PortReservedFacts>().error) {
        ++metrics_.ports_reserve_failed;
    } else {
        listeners_.reserved(netns, port);
        ++(reason == ReserveReason::RetryLoop ? metrics_.ports_reserved_retry_loop : metrics_.ports_reserved_listener);
        update_gauges();
    }
    emit(*reserved);
}

// bind() or listen() was refused: name the connected socket that holds the
// port, if one does (a listener there is the ordinary case).
void EventDispatcher::on_holders(Record r, const std::vector<HeldSocket>& held)
{
    auto holder = blocking_holder(held, r.addr);
    if (!holder)
        return;
    r.facts = ListenerBlockedFacts{std::move(holder)};
    ++metrics_.listeners_blocked;
    emit(r);
}

}  // namespace selfconnect
