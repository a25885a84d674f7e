#include "watch/watch_command.h"

#include <sys/epoll.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "host/capabilities.h"
#include "host/descriptor_limit.h"
#include "host/netns.h"
#include "host/netns_mounts.h"
#include "host/service_notify.h"
#include "host/tcp_states.h"
#include "kernel/connect_guard.h"
#include "kernel/kernel_features.h"
#include "kernel/kernel_program.h"
#include "kernel/listener_origins.h"
#include "kernel/port_holder_finder.h"
#include "kernel/ring_buffer_reader.h"
#include "kernel/socket_census.h"
#include "metrics/metrics_server.h"
#include "prevent/risk_scan.h"
#include "records/event_decoding.h"
#include "records/journal_sink.h"
#include "records/line_writer.h"
#include "records/output_file.h"
#include "watch/event_dispatcher.h"
#include "watch/gauge_healing.h"
#include "watch/holder_lookups.h"
#include "watch/host_watch_actions.h"
#include "watch/loss_reporter.h"
#include "watch/poll_loop.h"
#include "watch/policy_watch.h"
#include "watch/stop_signals.h"
#include "watch/stop_summary.h"

namespace selfconnect {

namespace {

// The clock of the kernel's event times (bpf_ktime_get_ns).
uint64_t monotonic_now_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

int fail(const std::string& sentence)
{
    std::fprintf(stderr, "selfconnect: %s\n", sentence.c_str());
    return 2;
}

KernelProgramConfig program_config(const WatchOptions& o)
{
    KernelProgramConfig config;
    config.attach_mode = o.attach_mode;
    config.port = o.port;
    config.netns = o.netns.size() == 1 ? o.netns.front() : 0;  // more are filtered in userspace
    config.ring_buffer_bytes = o.ring_buffer_bytes;
    config.verbose = o.verbose;
    config.guard = o.guard;
    config.guard_netns = o.netns;
    return config;
}

// --guard: attached beside the detector, or, where it cannot be, one line
// that says why; detection goes on unless --require-guard.
std::unique_ptr<ConnectGuard> start_guard(const WatchOptions& o, const KernelProgram& program)
{
    if (!o.guard)
        return nullptr;
    try {
        if (auto missing = missing_guard_capabilities())
            throw ConnectGuardError(*missing);
        auto guard = std::make_unique<ConnectGuard>(program, o.netns);
        std::fprintf(stderr, "selfconnect: %s\n", guard->description().c_str());
        return guard;
    } catch (const ConnectGuardError& e) {
        if (o.require_guard)
            throw;
        std::fprintf(stderr, "selfconnect: %s; detection goes on without the guard\n", e.what());
        return nullptr;
    }
}

// listener_blocked needs the syscall hooks and the holder iterator; where
// either is missing, say so once and go on without.
bool holders_can_be_found(const KernelProgram& program, const PortHolderFinder& finder)
{
    if (!program.iterators_refused().empty())
        std::fprintf(stderr, "selfconnect: the kernel refused the socket iterators (%s): loaded without them, so no "
                             "listener_blocked holders, no port_chosen_by for listeners found at start, and every "
                             "namespace's whole socket table is read at each scan\n",
                     program.iterators_refused().c_str());
    if (!program.fexit_refused().empty())
        std::fprintf(stderr, "selfconnect: fexit was refused (%s): bind() and listen() are watched through %s\n",
                     program.fexit_refused().c_str(),
                     std::string(port_call_hooks_name(program.port_call_hooks())).c_str());
    if (!program.watches_port_conflicts())
        std::fprintf(stderr, "selfconnect: neither fexit nor the bind() and listen() syscall tracepoints are "
                             "reachable (no tracefs, or a kernel without them): no listener_blocked records\n");
    else if (!finder.available())
        std::fprintf(stderr, "selfconnect: this kernel lacks bpf_sock_from_file (Linux 5.11) to find who "
                             "holds a port: no listener_blocked records\n");
    else
        return true;
    return false;
}

// Asks the listener-origin iterator who chose each listener's port; where
// the kernel has no tcp iterator, says once that it cannot tell.
PortOrigin port_origin_of(const ListenerOrigins& origins)
{
    if (!origins.available()) {
        std::fprintf(stderr, "selfconnect: this kernel lacks the TCP socket iterator (Linux 5.9), so it cannot tell "
                             "who chose the port of a listener found at start: such a listener's record has no "
                             "port_chosen_by, and --protect reserves its port\n");
        return nullptr;
    }
    return [&origins](int netns_fd) {
        auto found = origins.of_namespace(netns_fd);
        if (!found)
            std::fprintf(stderr, "selfconnect: cannot read who chose the ports of the listeners of network namespace "
                                 "%s: their records have no port_chosen_by, and --protect reserves their ports\n",
                         std::to_string(netns_inode_of(netns_fd)).c_str());
        return found;
    };
}

// A namespace the start scan could not read has listeners and
// self-connects nobody will report: said, one line a reason.
void say_unread(const ScanResult& scan)
{
    std::map<std::string, std::vector<uint32_t>> by_reason;
    for (const auto& [netns, why] : scan.unread)
        by_reason[why].push_back(netns);
    for (const auto& [why, namespaces] : by_reason) {
        const std::string which = namespaces.size() == 1 ? "network namespace " + std::to_string(namespaces.front())
                                                         : std::to_string(namespaces.size()) + " network namespaces";
        std::fprintf(stderr, "selfconnect: cannot read the sockets of %s (%s): the listeners and self-connects "
                             "made before the start there are not known; live events still are\n",
                     which.c_str(), why.c_str());
    }
}

// --guard's counters, as the kernel keeps them, and its namespaces, into
// the metrics.
void update_guard_metrics(const KernelProgram& program, const ConnectGuard& guard, Metrics& metrics)
{
    const auto counts = program.guard_counts();
    metrics.self_connects_prevented = counts[SC_GUARD_PREVENTED];
    metrics.guard_missed = counts[SC_GUARD_MISSED];
    metrics.guard_namespaces = guard.namespaces_guarded();
    metrics.guard_namespaces_failed = guard.namespaces_failed();
}

// What reading BPF objects after the drop needs on this kernel.
std::vector<int> capabilities_for_bpf_reads()
{
    return bpf_commands_need_capability() ? capabilities_for_bpf_after_load() : std::vector<int>{};
}

void say_ready(const WatchOptions& o, const KernelProgram& program)
{
    if (const auto not_notified = notify_service_manager("READY=1"))
        std::fprintf(stderr, "selfconnect: %s\n", not_notified->c_str());
    const std::string scope = o.netns.empty() ? "of this host"
                              : o.netns.size() == 1 ? "of network namespace " + std::to_string(o.netns.front())
                                                    : "of " + std::to_string(o.netns.size()) + " network namespaces";
    // The hooks chosen, so that a user can tell which this kernel gave.
    std::fprintf(stderr, "selfconnect: ready, watching every TCP socket %s (attach mode %s, bind() and listen() "
                         "through %s)\n",
                 scope.c_str(), std::string(attach_mode_name(program.attach_mode())).c_str(),
                 std::string(port_call_hooks_name(program.port_call_hooks())).c_str());
}

// Attached: from here on only --kill and --protect need privileges, and the
// reading of BPF objects (loss counters, the holder iterator) on kernels
// before 5.19. --protect enters namespaces and writes their sysctls as
// --kill does.
std::vector<int> capabilities_kept(const WatchOptions& o)
{
    std::vector<int> keep = o.kill || o.protect ? capabilities_for_kill() : std::vector<int>{};
    for (int cap : capabilities_for_bpf_reads())
        keep.push_back(cap);
    return keep;
}

}  // namespace

int run_watch(const WatchOptions& o)
{
    if (auto missing = missing_load_capabilities())
        return fail(*missing);
    if (o.kill || o.protect)
        if (auto missing = missing_kill_capabilities())
            return fail(*missing);

    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout shows up as EPIPE instead
    use_the_hard_descriptor_limit();  // the scans hold a descriptor for each namespace at once
    UniqueFd signals = block_stop_signals();

    LineWriter out(STDOUT_FILENO, OnWriteError::CountAndGoOn);
    // Under systemd, records reach the journal with their fields; --output
    // (a file) takes stdout's place before any record is written.
    const OutputForm form = o.json ? OutputForm::Json : OutputForm::Text;
    auto sink = o.output ? make_sink(form, out) : make_stdout_sink(form, out);
    Metrics metrics;
    OwnerEnricher enricher;
    // Reads the runtimes' containers while the program loads (its thread
    // drops its own capabilities first: it needs none), then follows them.
    ContainerNamer namer(name_sources(o.names));
    namer.start(ContainerNamer::Changes::Followed);
    enricher.use_namer(&namer);
    HostWatchActions actions(o);
    EventDispatcher dispatcher(o, *sink, metrics, enricher, actions);
    WatchTotals totals;
    try {
        std::optional<OutputFile> output_file;
        if (o.output)
            output_file.emplace(*o.output, out);
        // Bound before capabilities are dropped: a low port stays possible.
        std::optional<MetricsServer> metrics_server;
        KernelProgram program(program_config(o));
        actions.use_fold_table(program.self_connect_folds_fd());
        metrics.attach_mode = attach_mode_name(program.attach_mode());
        std::unique_ptr<ConnectGuard> guard = start_guard(o, program);
        const bool guarded = guard != nullptr;
        actions.use_guard(guard.get());
        if (o.metrics)
            metrics_server.emplace(*parse_listen_address(*o.metrics), metrics);
        PortHolderFinder holder_finder(program);
        std::optional<HolderLookups> lookups;
        if (holders_can_be_found(program, holder_finder)) {
            lookups.emplace(holder_finder);
            actions.use_holder_lookups(&*lookups);
        }
        // Attached first, then scanned: a listener that starts in between
        // is seen twice and written once. The listener-origin iterator
        // tells which listeners' ports the kernel chose, at start and at
        // every rescan.
        const ListenerOrigins origins(program);
        const PortOrigin origin = port_origin_of(origins);
        // A census that failed is said once; the scans go on without it.
        bool census_failure_said = false;
        const CensusSource census = [&] {
            TakenCensus taken = take_tcp_census(program);
            if (taken.failure && !std::exchange(census_failure_said, true))
                std::fprintf(stderr, "selfconnect: no socket census (%s): every namespace's whole socket table is "
                                     "read at each scan\n", taken.failure->c_str());
            return std::move(taken.census);
        };
        // Other namespaces' sysctls are read by entering them, which takes
        // CAP_SYS_ADMIN: kept after attaching only with --kill or --protect.
        // Said where --netns names another namespace: there the user asked
        // for it by name (host-wide, the README says so).
        const bool may_enter_others = (o.kill || o.protect) && may_administer_system();
        const bool names_another = std::any_of(o.netns.begin(), o.netns.end(),
                                               [](uint32_t n) { return n != current_netns_inode(); });
        if (!may_enter_others && names_another)
            std::fprintf(stderr, "selfconnect: a change of net.ipv4.ip_local_port_range or ip_local_reserved_ports "
                                 "is noticed in this network namespace only (reading another's needs CAP_SYS_ADMIN, "
                                 "kept with --protect or --kill)\n");
        PolicyWatch policies(o.netns, origin, may_enter_others);  // what later reads are compared with
        namer.wait_for_running(std::chrono::seconds(1));  // most often read already
        const ScanResult at_start = scan_now(o.netns, origin, census);
        say_unread(at_start);
        program.settle_open_self_connects(dispatcher.start_with(at_start.records));
        LossReporter losses(program, *sink, metrics);
        RingBufferReader reader(program.events_map_fd(), [&](const sc_event& e) {
            if (auto record = decode_event(e, wall_time_of(e.mono_ns)))
                dispatcher.handle(std::move(*record));
            else
                losses.count_unknown_kind();
        });
        GaugeHealing gauge_healing;
        UniqueFd deadline = o.duration_seconds ? deadline_timer(*o.duration_seconds) : UniqueFd();
        const int answers_fd = lookups ? lookups->ready_fd() : -1;
        // The guard follows namespaces as runtimes mount them, before their
        // containers run (a namespace made without a mount is followed at
        // its first connect that could meet itself: guard_missed).
        std::optional<NetnsMounts> mounts;
        if (guarded && o.netns.empty())
            mounts.emplace();
        PollLoop loop;
        loop.watch(reader.epoll_fd(), [&] { reader.consume(); });
        loop.watch(answers_fd, [&] {
            for (HolderAnswer& a : lookups->take_answers())
                dispatcher.on_holders(std::move(a.port_in_use), a.held);
        });
        loop.watch(mounts ? mounts->fd() : -1, [] {});  // read after each wake, with the names still waiting
        loop.watch(signals.get(), [&] {
            if (take_signal(signals.get()) != SIGHUP) {
                loop.stop();  // SIGINT or SIGTERM
                return;
            }
            if (!output_file)
                return;
            if (auto err = output_file->reopen())
                std::fprintf(stderr, "selfconnect: %s (still writing to the old file)\n", err->c_str());
        });
        loop.watch(deadline.get(), [&] { loop.stop(); });

        if (auto err = drop_capabilities_except(capabilities_kept(o)))
            return fail(*err);
        if (metrics_server)
            metrics_server->start();
        if (lookups)
            lookups->start(capabilities_for_bpf_reads());
        say_ready(o, program);

        try {
            auto gone_checked = std::chrono::steady_clock::now();
            // The closes the kernel kept instead of writing, taken four
            // times a second: one system call when there are none.
            constexpr uint64_t kTakeClosesEveryNs = 250'000'000;
            uint64_t closes_taken_ns = 0;
            // A name waiting for its bind mount is looked at again soon.
            const auto wait_ms = [&] { return mounts && mounts->waiting() ? 5 : 250; };
            const auto after_each_wake = [&] {
                if (mounts)
                    for (const std::string& path : mounts->take_new())
                        if (auto err = guard->cover_path(path))
                            std::fprintf(stderr, "selfconnect: cannot guard the network namespace %s: %s\n",
                                         path.c_str(), err->c_str());
                metrics.lost_userspace = reader.malformed();
                metrics.lost_output = out.lost();
                losses.poll(lookups ? lookups->dropped() : 0);
                if (guarded) {
                    // Namespaces end without a word: their links are looked
                    // at every ten seconds, and those of the gone closed.
                    if (std::chrono::steady_clock::now() - gone_checked >= std::chrono::seconds(10)) {
                        guard->forget_gone();
                        gone_checked = std::chrono::steady_clock::now();
                    }
                    update_guard_metrics(program, *guard, metrics);
                }
                if (monotonic_now_ns() - closes_taken_ns >= kTakeClosesEveryNs) {
                    // Taken before the ring is read: a self-connect's record
                    // is in the ring before its close is kept.
                    std::vector<Record> closes;
                    for (const KernelProgram::UnwrittenClose& c : program.take_unwritten_closes())
                        closes.push_back(decode_unwritten_close(c.socket, c.mono_ns));
                    reader.consume();
                    dispatcher.closes_not_written(closes, monotonic_now_ns());
                    closes_taken_ns = monotonic_now_ns();
                }
                if (gauge_healing.due(losses.listener_events_lost() + program.unwritten_closes_unkept())) {
                    reader.consume();  // closes already in the ring come before the scan's verdict
                    const ScanResult scan = scan_now(o.netns, origin, census, true);
                    dispatcher.resync_listeners(scan.records, scan.namespaces,
                                                [&](uint32_t netns) { return scan.holds_no_socket(netns); });
                    dispatcher.resync_self_connects(scan.records, scan.namespaces);
                }
                policies.after(dispatcher);
                dispatcher.write_folds(monotonic_now_ns());
                if (metrics_server)
                    dispatcher.publish_risk_map(monotonic_now_ns());
            };
            loop.run(wait_ms, after_each_wake, [&] { return dispatcher.done(); });
            // Detach first so the drain below ends and the summary is final.
            (void)notify_service_manager("STOPPING=1");  // said at READY if it cannot be
            actions.use_guard(nullptr);
            guard.reset();
            program.detach();
            reader.consume();
            dispatcher.write_folds(monotonic_now_ns(), true);
            losses.poll(lookups ? lookups->dropped() : 0, true);
        } catch (const OutputClosed&) {
            return 0;  // the reader went away (| head -1): a quiet, normal end
        }
        if (guarded)
            totals.guard = program.guard_counts();
        totals.lost = losses.totals();
        totals.unknown_kinds = losses.unknown_kinds();
        totals.open_count = losses.open_count();
        totals.skipped_runs = losses.skipped_runs();
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    totals.detections = dispatcher.detections();
    totals.retry_loop_warnings = dispatcher.retry_loop_warnings();
    totals.not_written = out.lost();
    std::fputs(stop_summary(totals).c_str(), stderr);
    return 0;
}

}  // namespace selfconnect
