// The kernel side, loaded and attached: the skeleton of bpf/selfconnect.bpf.c,
// its programs and maps, and the questions only they answer (losses, holders).
// Construction is open, configure, load, attach; each step fails with one
// sentence a user can act on (KernelProgramError). Destruction detaches.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/attach_mode.h"
#include "events.h"

struct selfconnect_bpf;
struct bpf_program;

namespace selfconnect {

struct KernelProgramError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// How bind() and listen() are watched (bpf/port_calls.bpf.h): fexit where
// the kernel has BPF trampolines and the attach mode is tp_btf, the syscall
// tracepoints elsewhere (they tax every system call of the host), or not at
// all where neither can be reached.
enum class PortCallHooks { None, Fexit, SyscallTracepoints };

// "fexit", "syscall tracepoints", "none": as the start line says it.
std::string_view port_call_hooks_name(PortCallHooks hooks);

struct KernelProgramConfig {
    AttachMode attach_mode = AttachMode::Auto;
    uint16_t port = 0;              // 0: every port
    uint32_t netns = 0;             // 0: every namespace
    uint32_t ring_buffer_bytes = 0; // 0: the program's default (256 KiB)
    bool verbose = false;           // let libbpf print its log
    bool guard = false;             // the guard will run beside it
    std::vector<uint32_t> guard_netns;  // the namespaces it guards; empty: every one
};

class KernelProgram {
public:
    explicit KernelProgram(const KernelProgramConfig& config);
    ~KernelProgram();
    KernelProgram(const KernelProgram&) = delete;
    KernelProgram& operator=(const KernelProgram&) = delete;

    AttachMode attach_mode() const { return mode_; }
    // Are bind() and listen() watched for EADDRINUSE, and how? Without
    // them listeners are reported from the state hook alone and no
    // listener_blocked record can be made.
    bool watches_port_conflicts() const { return port_call_hooks_ != PortCallHooks::None; }
    PortCallHooks port_call_hooks() const { return port_call_hooks_; }
    // Why fexit was refused where the kernel seemed to offer it (the
    // syscall tracepoints serve instead), or "".
    const std::string& fexit_refused() const { return fexit_refused_; }
    // Why the program was refused with its iterators (holders, listener
    // origins, the census), and loaded without them, or "".
    const std::string& iterators_refused() const { return iterators_refused_; }
    int events_map_fd() const;
    // Events the kernel could not queue because the ring buffer was full,
    // by kind (index: enum sc_event_kind).
    std::array<uint64_t, SC_EVENT_KINDS> lost_events() const;
    // Refused connects past a loop's first few a second (see refusal_gates
    // in the BPF program), in all.
    uint64_t folded_refusals() const;
    // Self-connects folded (see self_connect_folds in the BPF program), in
    // all, by family (0: IPv4, 1: IPv6); the fold table itself; and of the
    // self-connects open, those whose records were not written.
    std::array<uint64_t, 2> folded_self_connects() const;
    int self_connect_folds_fd() const;
    uint64_t unwritten_open_self_connects() const;
    // Closes of self-connects the kernel did not write (ring full, or past
    // the closes' budget), taken out of its map: each is returned once,
    // with when it closed (kernel CLOCK_MONOTONIC ns).
    struct UnwrittenClose {
        sc_unwritten_close socket;
        uint64_t mono_ns;
    };
    std::vector<UnwrittenClose> take_unwritten_closes();
    // Those that found that map full, in all: userspace cannot know which.
    uint64_t unwritten_closes_unkept() const;
    // Self-connects not written that found the kernel's map of open ones
    // full, in all: they are in no count.
    uint64_t self_connects_untracked() const;
    // Runs of the program that the kernel skipped because a BPF program was
    // already running on that CPU (the hook fired in an interrupt that came
    // during one). Counted by kernels since 5.12; 0 on older ones.
    uint64_t skipped_runs() const;
    // The port-holder iterator's link (read with bpf_iter_create), or -1
    // on a kernel without bpf_sock_from_file (before 5.11).
    int holder_iterator_link_fd() const;
    // The socket census's link (kernel/socket_census), or -1 on a kernel
    // without bpf_sock_from_file (before 5.11).
    int census_link_fd() const;
    // The listener-origin iterator's link (read with bpf_iter_create in
    // the namespace to ask about), or -1 on a kernel without the tcp
    // iterator (before 5.9).
    int listener_origins_link_fd() const;
    // Self-connected sockets that existed before the program was attached,
    // by their port: counted as open, so that their close is looked at (see
    // open_self_connects_on in the BPF program); then the one every bucket
    // was given until now is taken back. Called once.
    void settle_open_self_connects(const std::vector<uint16_t>& ports);
    // What the holder iterator answers on its next run.
    void ask_holders_of(uint32_t netns, uint16_t port);
    // The maps the guard shares (see bpf/guard_shared.bpf.h).
    int guard_pending_fd() const;
    int guard_refused_fd() const;
    int guard_counts_fd() const;
    // What the guard did, in all (index: enum sc_guard_count).
    std::array<uint64_t, SC_GUARD_COUNTS> guard_counts() const;
    // Stops new events; idempotent. The ring buffer can still be drained.
    void detach();

private:
    // Open, configure, load, attach, with `hooks` for bind() and listen();
    // again without the iterators if that is refused.
    void load_and_attach(const KernelProgramConfig& config, PortCallHooks hooks);
    void load_and_attach_with(const KernelProgramConfig& config, PortCallHooks hooks, bool iterators);
    static bool syscall_tracepoints_reachable();
    // The bind() and listen() hooks of the fexit flavour.
    std::array<bpf_program*, 4> fexit_programs() const;

    struct SkeletonDeleter {
        void operator()(selfconnect_bpf* s) const;
    };
    std::unique_ptr<selfconnect_bpf, SkeletonDeleter> skel_;
    AttachMode mode_ = AttachMode::Auto;
    bool attached_ = false;
    PortCallHooks port_call_hooks_ = PortCallHooks::None;
    std::string fexit_refused_;
    std::string iterators_refused_;
    // take_unwritten_closes' batch buffers, sized to the map once: it runs
    // four times a second.
    std::vector<sc_unwritten_close> close_keys_ = std::vector<sc_unwritten_close>(SC_UNWRITTEN_CLOSES);
    std::vector<uint64_t> close_times_ = std::vector<uint64_t>(SC_UNWRITTEN_CLOSES);
};

}  // namespace selfconnect
