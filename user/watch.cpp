#include "watch.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sys/socket.h>

#include "cgroup_paths.h"
#include "container_identity.h"
#include "audit.h"
#include "detector.h"
#include "listener_tracker.h"
#include "metrics.h"
#include "metrics_server.h"
#include "output.h"
#include "port_holders.h"
#include "port_reserver.h"
#include "privileges.h"
#include "retry_loop_detector.h"
#include "ring_buffer_reader.h"
#include "service_notify.h"
#include "socket_killer.h"
#include "unique_fd.h"

namespace selfconnect {

namespace {

int fail(const std::string& sentence)
{
    std::fprintf(stderr, "selfconnect: %s\n", sentence.c_str());
    return 2;
}

// Everything that happens to one event after it leaves the ring buffer.
class WatchSession {
public:
    WatchSession(const WatchOptions& o, RecordSink& sink, Metrics& metrics)
        : options_(o), sink_(sink), metrics_(metrics), retry_loops_(o.retry_threshold, o.retry_window_seconds)
    {
        if (o.protect)
            protector_.emplace(o.protect_max, o.netns);
    }

    // Must be given before the capabilities are dropped: it loads a program.
    void use_holder_finder(PortHolderFinder* finder) { holders_ = finder; }

    // What was there when watching began, from the audit's scan: the
    // listeners at risk are reported, the self-connects counted as open.
    // Returns how many self-connects there were.
    uint64_t start_with(std::vector<Record> found)
    {
        uint64_t self_connects = 0;
        for (Record& r : found) {
            if (r.type == RecordType::ListenerAtRisk) {
                on_listener(r);
            } else if (r.type == RecordType::SelfConnect) {
                lifetimes_.on_existing(r);
                ++self_connects;
            }
        }
        update_gauges();
        return self_connects;
    }

    void update_gauges()
    {
        metrics_.listeners_at_risk = listeners_.at_risk();
        metrics_.self_connects_open = lifetimes_.open();
    }

    void handle(const sc_event& e)
    {
        if (done())
            return;
        Record r = decode_event(e, wall_time_of(e.mono_ns));
        if (!wanted(r))
            return;
        r.owner.cgroup_path = cgroups_.path_of(r.owner.cgroup_id);
        switch (r.type) {
        case RecordType::SelfConnect:
            lifetimes_.on_established(r);
            update_gauges();
            if (options_.kill)
                apply_kill(r);
            ++(r.family == AF_INET6 ? metrics_.self_connects_ipv6 : metrics_.self_connects_ipv4);
            ++detections_;
            sink_.write(r);
            break;
        case RecordType::SelfConnectClosed:
            r.lifetime_seconds = lifetimes_.on_closed(r);
            update_gauges();
            ++metrics_.self_connects_closed;
            sink_.write(r);
            break;
        case RecordType::ConnectRefused:
            if (auto loop = retry_loops_.on_refused(r)) {
                ++retry_loop_warnings_;
                ++metrics_.retry_loop_warnings;
                sink_.write(*loop);
                protect(loop->netns, loop->port, loop->owner.pid, "retry_loop");
            }
            break;
        case RecordType::ListenerAtRisk:
            r.fix = live_fix_line(r);
            on_listener(r);
            break;
        case RecordType::ListenerClosed:
            listeners_.closed(r);
            update_gauges();
            break;
        case RecordType::PortInUse:
            on_port_in_use(r);
            break;
        default:
            break;
        }
    }

    bool done() const { return options_.count && detections_ >= *options_.count; }
    uint64_t detections() const { return detections_; }
    uint64_t retry_loop_warnings() const { return retry_loop_warnings_; }

private:
    bool wanted(const Record& r) const
    {
        if (!options_.netns.empty() &&
            std::find(options_.netns.begin(), options_.netns.end(), r.netns) == options_.netns.end())
            return false;
        if (options_.pid && (!r.owner.known || r.owner.pid != *options_.pid))
            return false;
        if (options_.comm && (!r.owner.known || r.owner.comm != *options_.comm))
            return false;
        return true;
    }

    void on_listener(Record& r)
    {
        // A reserved port cannot be handed out: that listener is safe.
        if (r.reserved || !listeners_.add(r))
            return;
        update_gauges();
        sink_.write(r);
        protect(r.netns, r.port, r.owner.pid, "listener_at_risk");
    }

    void protect(uint32_t netns, uint16_t port, uint32_t pid, const std::string& reason)
    {
        if (!protector_)
            return;
        if (auto reserved = protector_->protect(netns, port, pid, reason)) {
            if (reserved->error) {
                ++metrics_.ports_reserve_failed;
            } else {
                listeners_.reserved(netns, port);
                ++(reason == "retry_loop" ? metrics_.ports_reserved_retry_loop : metrics_.ports_reserved_listener);
                update_gauges();
            }
            sink_.write(*reserved);
        }
    }

    // bind() or listen() was refused: name the connected socket that holds
    // the port, if one does (a listener there is the ordinary case).
    void on_port_in_use(Record& r)
    {
        if (!holders_)
            return;
        auto holder = blocking_holder(holders_->find(r.netns, r.port), r.addr);
        if (!holder)
            return;
        r.type = RecordType::ListenerBlocked;
        holder->container_id = container_identity_of(cgroup_path_of_pid(holder->pid)).container_id;
        r.holder = std::move(holder);
        ++listeners_blocked_;
        ++metrics_.listeners_blocked;
        sink_.write(r);
    }

    void apply_kill(Record& r)
    {
        const KillResult k = killer_.destroy(r);
        ++(k.ok ? metrics_.kills_ok : metrics_.kills_failed);
        r.killed = k.ok;
        if (!k.ok)
            r.kill_error = k.error;
    }

    const WatchOptions& options_;
    RecordSink& sink_;
    Metrics& metrics_;
    CgroupPaths cgroups_;
    SelfConnectLifetimes lifetimes_;
    RetryLoopDetector retry_loops_;
    SocketKiller killer_;
    ListenerTracker listeners_;
    std::optional<PortProtector> protector_;
    PortHolderFinder* holders_ = nullptr;
    uint64_t listeners_blocked_ = 0;
    uint64_t detections_ = 0;
    uint64_t retry_loop_warnings_ = 0;
};

// Which signal is waiting on the signalfd, or 0.
int take_signal(int fd)
{
    signalfd_siginfo info{};
    return read(fd, &info, sizeof(info)) == sizeof(info) ? static_cast<int>(info.ssi_signo) : 0;
}

// Signals arrive as readable data on a descriptor, in the same poll as the
// ring buffer, so a stop is handled between events, never inside one.
UniqueFd block_stop_signals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);  // reopen --output (log rotation)
    sigprocmask(SIG_BLOCK, &set, nullptr);
    return UniqueFd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
}

UniqueFd deadline_timer(double seconds)
{
    UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(seconds);
    spec.it_value.tv_nsec = static_cast<long>((seconds - std::floor(seconds)) * 1e9);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
        spec.it_value.tv_nsec = 1;
    timerfd_settime(fd.get(), 0, &spec, nullptr);
    return fd;
}

// Reports kernel-side losses as records, as they grow.
class LossReporter {
public:
    LossReporter(const Detector& d, RecordSink& sink, Metrics& metrics) : detector_(d), sink_(sink), metrics_(metrics) {}
    void poll()
    {
        poll_skipped();
        const auto by_kind = detector_.lost_events();
        uint64_t total = 0;
        for (uint64_t n : by_kind)
            total += n;
        if (total <= reported_.total)
            return;
        reported_.when = std::chrono::system_clock::now();
        reported_.count = total - reported_.total;
        reported_.total = total;
        reported_.self_connects = by_kind[SC_EVENT_SELF_CONNECT];
        reported_.closes = by_kind[SC_EVENT_SELF_CONNECT_CLOSED];
        reported_.refusals = by_kind[SC_EVENT_CONNECT_REFUSED];
        metrics_.lost_kernel_self_connects = reported_.self_connects;
        metrics_.lost_kernel_closes = reported_.closes;
        metrics_.lost_kernel_refusals = reported_.refusals;
        sink_.write_lost(reported_);
    }
    const LostEvents& totals() const { return reported_; }
    uint64_t skipped_runs() const { return skipped_.total; }

private:
    void poll_skipped()
    {
        const uint64_t total = detector_.skipped_runs();
        if (total <= skipped_.total)
            return;
        skipped_.when = std::chrono::system_clock::now();
        skipped_.count = total - skipped_.total;
        skipped_.total = total;
        skipped_.where = LossPlace::KernelSkipped;
        metrics_.skipped_kernel_runs = total;
        sink_.write_lost(skipped_);
    }

    const Detector& detector_;
    RecordSink& sink_;
    Metrics& metrics_;
    LostEvents reported_;
    LostEvents skipped_;
};

}  // namespace

int run_watch(const WatchOptions& o)
{
    if (auto missing = missing_load_capabilities())
        return fail(*missing);
    if (o.kill || o.protect)
        if (auto missing = missing_kill_capabilities())
            return fail(*missing);

    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout shows up as EPIPE instead
    UniqueFd signals = block_stop_signals();

    DetectorConfig config;
    config.attach_mode = o.attach_mode;
    config.port = o.port;
    config.netns = o.netns.size() == 1 ? o.netns.front() : 0;  // more are filtered here
    config.ring_buffer_bytes = o.ring_buffer_bytes;
    config.verbose = o.verbose;

    LineWriter out(STDOUT_FILENO, OnWriteError::CountAndGoOn);
    auto sink = make_sink(o.json, out);
    Metrics metrics;
    WatchSession session(o, *sink, metrics);
    LostEvents lost;
    uint64_t skipped_runs = 0;
    try {
        std::optional<OutputFile> output_file;
        if (o.output)
            output_file.emplace(*o.output, out);
        // Bound before capabilities are dropped: a low port stays possible.
        std::optional<MetricsServer> metrics_server;
        Detector detector(config);
        metrics.attach_mode = attach_mode_name(detector.attach_mode());
        if (o.metrics)
            metrics_server.emplace(*parse_listen_address(*o.metrics), metrics);
        PortHolderFinder holder_finder(detector);
        if (!detector.watches_port_conflicts())
            std::fprintf(stderr, "selfconnect: the bind() and listen() syscall tracepoints are not reachable "
                                 "(no tracefs, or a kernel without them): no listener_blocked records\n");
        else if (!holder_finder.available())
            std::fprintf(stderr, "selfconnect: this kernel lacks bpf_sock_from_file (Linux 5.11) to find who "
                                 "holds a port: no listener_blocked records\n");
        else
            session.use_holder_finder(&holder_finder);
        // Attached first, then scanned: a listener that starts in between
        // is seen twice and written once.
        detector.count_open_self_connects(session.start_with(scan_now(o.netns)));
        RingBufferReader reader(detector.events_map_fd(), [&](const sc_event& e) { session.handle(e); });
        LossReporter losses(detector, *sink, metrics);

        UniqueFd deadline = o.duration_seconds ? deadline_timer(*o.duration_seconds) : UniqueFd();
        UniqueFd poller(epoll_create1(EPOLL_CLOEXEC));
        for (int fd : {reader.epoll_fd(), signals.get(), deadline.get()}) {
            if (fd < 0)
                continue;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(poller.get(), EPOLL_CTL_ADD, fd, &ev);
        }

        // Attached: from here on only --kill needs any privilege.
        // --protect enters namespaces and writes their sysctls as --kill does.
        if (auto err = drop_capabilities_except(o.kill || o.protect ? capabilities_for_kill() : std::vector<int>{}))
            return fail(*err);

        std::string notify_error;
        if (!notify_service_manager("READY=1", notify_error))
            std::fprintf(stderr, "selfconnect: %s\n", notify_error.c_str());
        const std::string scope = o.netns.empty() ? "of this host"
                                  : o.netns.size() == 1 ? "of network namespace " + std::to_string(o.netns.front())
                                                        : "of " + std::to_string(o.netns.size()) + " network namespaces";
        std::fprintf(stderr, "selfconnect: ready, watching every TCP socket %s (attach mode %s)\n", scope.c_str(),
                     std::string(attach_mode_name(detector.attach_mode())).c_str());

        try {
            bool stop = false;
            while (!stop && !session.done()) {
                epoll_event events[4];
                const int n = epoll_wait(poller.get(), events, 4, 250);
                if (n < 0 && errno != EINTR)
                    throw std::runtime_error(std::string("epoll_wait: ") + strerror(errno));
                for (int i = 0; i < n; ++i) {
                    const int fd = events[i].data.fd;
                    if (fd == reader.epoll_fd()) {
                        reader.consume();
                    } else if (fd == signals.get() && take_signal(fd) == SIGHUP) {
                        if (!output_file)
                            continue;
                        if (auto err = output_file->reopen())
                            std::fprintf(stderr, "selfconnect: %s (still writing to the old file)\n", err->c_str());
                    } else {
                        stop = true;  // SIGINT, SIGTERM or the deadline
                    }
                }
                metrics.lost_userspace = reader.malformed();
                metrics.lost_output = out.lost();
                losses.poll();
            }
            // Detach first so the drain below ends and the summary is final.
            notify_service_manager("STOPPING=1", notify_error);
            detector.detach();
            reader.consume();
            losses.poll();
        } catch (const OutputClosed&) {
            return 0;  // the reader went away (| head -1): a quiet, normal end
        }
        lost = losses.totals();
        skipped_runs = losses.skipped_runs();
    } catch (const DetectorError& e) {
        return fail(e.what());
    } catch (const std::exception& e) {
        return fail(e.what());
    }

    // Self-connects lost in the kernel were seen by no filter: with --pid or
    // --comm they may belong to other processes.
    std::fprintf(stderr,
                 "selfconnect: %llu self-connects detected, %llu retry-loop warnings, %llu events lost "
                 "(%llu self-connects, %llu closes, %llu refusals), %llu runs skipped by the kernel, "
                 "%llu records not written\n",
                 static_cast<unsigned long long>(session.detections()),
                 static_cast<unsigned long long>(session.retry_loop_warnings()),
                 static_cast<unsigned long long>(lost.total), static_cast<unsigned long long>(lost.self_connects),
                 static_cast<unsigned long long>(lost.closes), static_cast<unsigned long long>(lost.refusals),
                 static_cast<unsigned long long>(skipped_runs), static_cast<unsigned long long>(out.lost()));
    return 0;
}

}  // namespace selfconnect
