#include "kernel/kernel_program.h"

#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernel/kernel_features.h"
#include "selfconnect.skel.h"

namespace selfconnect {

namespace {

bool g_libbpf_verbose = false;

int print_libbpf(enum libbpf_print_level level, const char* fmt, va_list args)
{
    if (!g_libbpf_verbose || level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, args);
}

std::string errno_text(int err)
{
    return strerror(err < 0 ? -err : err);
}

bool is_power_of_two(uint32_t v) { return v && !(v & (v - 1)); }

}  // namespace

void KernelProgram::SkeletonDeleter::operator()(selfconnect_bpf* s) const
{
    selfconnect_bpf__destroy(s);
}

KernelProgram::KernelProgram(const KernelProgramConfig& config)
{
    g_libbpf_verbose = config.verbose;
    libbpf_set_print(print_libbpf);

    if (auto err = check_kernel_support(); !err.empty())
        throw KernelProgramError(err);

    mode_ = resolve_attach_mode(config.attach_mode);
    if (mode_ == AttachMode::TpBtf && !kernel_offers_tp_btf())
        throw KernelProgramError("hook not found: this kernel has no BTF for the raw tracepoint "
                            "inet_sock_set_state (try --attach-mode tracepoint)");
    if (mode_ == AttachMode::Tracepoint) {
        if (auto err = ensure_tracefs())
            throw KernelProgramError(*err);
        if (auto err = check_tracepoint_layout())
            throw KernelProgramError(*err);
    }

    // bind() and listen() through fexit where the kernel has trampolines:
    // the syscall tracepoints would tax every system call of the host. The
    // probe is one refused load where the kernel refuses fexit outright; a
    // kernel that takes the probe and still refuses the programs (no
    // trampoline for this architecture) costs a second load, said once.
    if (mode_ == AttachMode::TpBtf && kernel_may_offer_trampolines()) {
        try {
            load_and_attach(config, PortCallHooks::Fexit);
            return;
        } catch (const KernelProgramError& e) {
            fexit_refused_ = e.what();
            skel_.reset();
        }
    }
    load_and_attach(config, syscall_tracepoints_reachable() ? PortCallHooks::SyscallTracepoints : PortCallHooks::None);
}

bool KernelProgram::syscall_tracepoints_reachable()
{
    // Without tracefs they are simply left out.
    return !ensure_tracefs().has_value() && kernel_has_tracepoint("syscalls/sys_enter_bind") &&
           kernel_has_tracepoint("syscalls/sys_exit_bind") && kernel_has_tracepoint("syscalls/sys_enter_listen") &&
           kernel_has_tracepoint("syscalls/sys_exit_listen");
}

void KernelProgram::load_and_attach(const KernelProgramConfig& config, PortCallHooks hooks)
{
    // The iterators (holders, listener origins, the census) serve the
    // scans and lookups, never detection: a kernel that refuses one of
    // them gets the program without them rather than no program.
    try {
        load_and_attach_with(config, hooks, true);
    } catch (const KernelProgramError& e) {
        skel_.reset();
        load_and_attach_with(config, hooks, false);
        iterators_refused_ = e.what();
    }
}

void KernelProgram::load_and_attach_with(const KernelProgramConfig& config, PortCallHooks hooks, bool iterators)
{
    port_call_hooks_ = hooks;

    // 1. open
    skel_.reset(selfconnect_bpf__open());
    if (!skel_)
        throw KernelProgramError("cannot open the BPF object: " + errno_text(errno));

    // 2. configure: filters, ring size, which flavour of the program loads.
    skel_->rodata->filter_port = config.port;
    skel_->rodata->filter_netns = config.netns;
    if (config.ring_buffer_bytes) {
        if (!is_power_of_two(config.ring_buffer_bytes) ||
            config.ring_buffer_bytes < static_cast<uint32_t>(getpagesize()))
            throw KernelProgramError("the ring buffer size must be a power of two of at least one page");
        if (int err = bpf_map__set_max_entries(skel_->maps.events, config.ring_buffer_bytes))
            throw KernelProgramError("cannot size the ring buffer: " + errno_text(err));
    }
    bpf_program__set_autoload(skel_->progs.on_state_change_btf, mode_ == AttachMode::TpBtf);
    bpf_program__set_autoload(skel_->progs.on_state_change_tp, mode_ == AttachMode::Tracepoint);
    skel_->rodata->port_call_hooks = hooks != PortCallHooks::None;
    // Until the start scan's self-connects are counted, every bucket says
    // one is open: one that existed before and closes in between is looked
    // at (settle_open_self_connects takes this back).
    std::fill(std::begin(skel_->bss->open_self_connects_on), std::end(skel_->bss->open_self_connects_on), 1);
    skel_->rodata->guard_on = config.guard;
    skel_->rodata->guard_scoped = config.guard && !config.guard_netns.empty();
    if (int err = bpf_map__set_max_entries(skel_->maps.guard_namespaces,
                                           std::max<uint32_t>(1, static_cast<uint32_t>(config.guard_netns.size()))))
        throw KernelProgramError("cannot size the guard's namespace list: " + errno_text(err));
    // The holder iterator needs bpf_sock_from_file (5.11); its absence
    // would fail the whole load, so it is looked up first.
    // So does the socket census.
    const bool sock_from_file = iterators && kernel_btf_has_name("BPF_FUNC_sock_from_file");
    bpf_program__set_autoload(skel_->progs.find_port_holders, sock_from_file);
    bpf_program__set_autoload(skel_->progs.socket_census, sock_from_file);
    // The listener-origin iterator needs the tcp iterator (5.9).
    bpf_program__set_autoload(skel_->progs.listener_origins, iterators && kernel_btf_has_name("bpf_iter__tcp"));
    for (bpf_program* p : {skel_->progs.on_bind_enter, skel_->progs.on_bind_exit, skel_->progs.on_listen_enter,
                           skel_->progs.on_listen_exit})
        bpf_program__set_autoload(p, hooks == PortCallHooks::SyscallTracepoints);
    for (bpf_program* p : fexit_programs())
        bpf_program__set_autoload(p, hooks == PortCallHooks::Fexit);
    // Maps made on demand keep kernel memory to what is in them, but before
    // 6.1 a classic tracepoint program that uses one makes the kernel WARN
    // (tainted; a panic with panic_on_warn): there they are made whole
    // (about 1.3 MiB of kernel memory).
    if ((mode_ == AttachMode::Tracepoint || hooks == PortCallHooks::SyscallTracepoints) &&
        tracepoints_need_preallocated_maps())
        for (bpf_map* m : {skel_->maps.counted_self_connects, skel_->maps.unwritten_closes})
            if (int err = bpf_map__set_map_flags(m, bpf_map__map_flags(m) & ~BPF_F_NO_PREALLOC))
                throw KernelProgramError("cannot preallocate a map: " + errno_text(err));

    // 3. load
    if (int err = selfconnect_bpf__load(skel_.get()))
        throw KernelProgramError("the kernel refused the BPF program (" + errno_text(err) +
                            "); run with --verbose for the verifier's log");

    const uint8_t yes = 1;
    for (uint32_t ns : config.guard_netns)
        bpf_map_update_elem(bpf_map__fd(skel_->maps.guard_namespaces), &ns, &yes, BPF_ANY);

    // 4. attach
    if (int err = selfconnect_bpf__attach(skel_.get()))
        throw KernelProgramError("cannot attach to inet_sock_set_state (" + std::string(attach_mode_name(mode_)) +
                            (hooks == PortCallHooks::Fexit ? ", bind() and listen() through fexit" : "") +
                            "): " + errno_text(err));
    attached_ = true;
}

std::array<bpf_program*, 4> KernelProgram::fexit_programs() const
{
    return {skel_->progs.bind_fexit, skel_->progs.bind6_fexit, skel_->progs.listen_fentry, skel_->progs.listen_fexit};
}

std::string_view port_call_hooks_name(PortCallHooks hooks)
{
    switch (hooks) {
    case PortCallHooks::Fexit:
        return "fexit";
    case PortCallHooks::SyscallTracepoints:
        return "syscall tracepoints";
    case PortCallHooks::None:
        break;
    }
    return "none";
}

KernelProgram::~KernelProgram() = default;

int KernelProgram::events_map_fd() const { return bpf_map__fd(skel_->maps.events); }

namespace {

// Each index of a per-CPU array of counters, summed over the CPUs. An index
// that cannot be read stays 0.
template <size_t N>
std::array<uint64_t, N> sum_per_cpu(int map_fd)
{
    std::array<uint64_t, N> totals{};
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return totals;
    std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
    for (uint32_t index = 0; index < N; ++index) {
        if (bpf_map_lookup_elem(map_fd, &index, per_cpu.data()) != 0)
            continue;
        for (uint64_t v : per_cpu)
            totals[index] += v;
    }
    return totals;
}

}  // namespace

std::array<uint64_t, SC_EVENT_KINDS> KernelProgram::lost_events() const
{
    return sum_per_cpu<SC_EVENT_KINDS>(bpf_map__fd(skel_->maps.lost_events));
}

uint64_t KernelProgram::folded_refusals() const
{
    return sum_per_cpu<1>(bpf_map__fd(skel_->maps.folded_refusals))[0];
}

std::array<uint64_t, 2> KernelProgram::folded_self_connects() const
{
    return sum_per_cpu<2>(bpf_map__fd(skel_->maps.folded_self_connects));
}

int KernelProgram::self_connect_folds_fd() const { return bpf_map__fd(skel_->maps.self_connect_folds); }

uint64_t KernelProgram::unwritten_open_self_connects() const
{
    const int64_t n = __atomic_load_n(&skel_->bss->unwritten_open_self_connects, __ATOMIC_RELAXED);
    return n > 0 ? static_cast<uint64_t>(n) : 0;
}

std::vector<KernelProgram::UnwrittenClose> KernelProgram::take_unwritten_closes()
{
    // Looked up and deleted in one step, a bucket at a time under its lock:
    // a close the kernel keeps at the same address in between (a later
    // time) is neither lost nor taken with the earlier time. Hash maps
    // have this since 5.6.
    const int fd = bpf_map__fd(skel_->maps.unwritten_closes);
    std::vector<sc_unwritten_close>& keys = close_keys_;
    std::vector<uint64_t>& times = close_times_;
    size_t got = 0;
    __u32 cursor = 0;
    for (bool first = true; got < keys.size(); first = false) {
        __u32 count = static_cast<__u32>(keys.size() - got);
        __u32 next = 0;
        const int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &cursor, &next, &keys[got],
                                                        &times[got], &count, nullptr);
        got += count;  // also on the last batch (ENOENT)
        if (err != 0)
            break;  // ENOENT: the end; anything else: the rest at the next call
        cursor = next;
    }
    std::vector<UnwrittenClose> taken;
    taken.reserve(got);
    for (size_t i = 0; i < got; ++i)
        taken.push_back({keys[i], times[i]});
    return taken;
}

uint64_t KernelProgram::unwritten_closes_unkept() const
{
    return __atomic_load_n(&skel_->bss->unwritten_closes_unkept, __ATOMIC_RELAXED);
}

uint64_t KernelProgram::self_connects_untracked() const
{
    return __atomic_load_n(&skel_->bss->self_connects_untracked, __ATOMIC_RELAXED);
}

int KernelProgram::guard_pending_fd() const { return bpf_map__fd(skel_->maps.guard_pending); }

int KernelProgram::guard_refused_fd() const { return bpf_map__fd(skel_->maps.guard_refused); }

int KernelProgram::guard_counts_fd() const { return bpf_map__fd(skel_->maps.guard_counts); }

std::array<uint64_t, SC_GUARD_COUNTS> KernelProgram::guard_counts() const
{
    return sum_per_cpu<SC_GUARD_COUNTS>(guard_counts_fd());
}

uint64_t KernelProgram::skipped_runs() const
{
    // The state hook's, and the fexit hooks': a listen_fexit skipped on a
    // CPU where another run of it was preempted loses that listener.
    std::vector<const bpf_program*> progs{mode_ == AttachMode::TpBtf ? skel_->progs.on_state_change_btf
                                                                     : skel_->progs.on_state_change_tp};
    if (port_call_hooks_ == PortCallHooks::Fexit)
        for (bpf_program* p : fexit_programs())
            progs.push_back(p);
    uint64_t misses = 0;
    for (const bpf_program* prog : progs) {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0)
            misses += info.recursion_misses;
    }
    return misses;
}

int KernelProgram::holder_iterator_link_fd() const
{
    // Attached with the rest when it was loaded; no link otherwise.
    return skel_->links.find_port_holders ? bpf_link__fd(skel_->links.find_port_holders) : -1;
}

int KernelProgram::census_link_fd() const
{
    return skel_->links.socket_census ? bpf_link__fd(skel_->links.socket_census) : -1;
}

int KernelProgram::listener_origins_link_fd() const
{
    return skel_->links.listener_origins ? bpf_link__fd(skel_->links.listener_origins) : -1;
}

void KernelProgram::ask_holders_of(uint32_t netns, uint16_t port)
{
    skel_->bss->want_netns = netns;
    skel_->bss->want_port = port;
}

void KernelProgram::settle_open_self_connects(const std::vector<uint16_t>& ports)
{
    for (const uint16_t port : ports)
        __atomic_fetch_add(&skel_->bss->open_self_connects_on[port % SC_OPEN_PORT_BUCKETS], 1, __ATOMIC_SEQ_CST);
    for (int32_t& bucket : skel_->bss->open_self_connects_on)
        __atomic_fetch_add(&bucket, -1, __ATOMIC_SEQ_CST);
}

void KernelProgram::detach()
{
    if (!attached_)
        return;
    selfconnect_bpf__detach(skel_.get());
    attached_ = false;
}

}  // namespace selfconnect
