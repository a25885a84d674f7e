// SPDX-License-Identifier: GPL-2.0
/*
 * selfconnect's kernel side, one object (one BTF parse at load): the state
 * that every hook shares is here; the hooks are in the headers included
 * below. One program on inet_sock_set_state, in two attach flavours
 * (tp_btf where the kernel has BTF for the raw tracepoint, the classic
 * tracepoint otherwise; the loader keeps exactly one of them), the bind()
 * and listen() hooks (fexit, or the syscall tracepoints), the port-holder
 * iterator, the listener-origin iterator and the socket census.
 *
 * The hook fires on every TCP state change of the host, so the common case
 * must cost a few loads and compares. Nothing touches a map unless a socket
 * connects to its own address on a port it could be handed as its own.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#define AF_INET 2
#define AF_INET6 10
#define EADDRINUSE 98
#define ECONNREFUSED 111
#define IPPROTO_TCP 6
#define IPPROTO_MPTCP 262
#define SOCK_STREAM 1

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_LISTEN 10

/* Self-connected sockets seen established and not yet seen closed, per
 * bucket of their port (SC_OPEN_PORT_BUCKETS). While a closing socket's
 * bucket holds none, a socket whose port was given back (see the entry)
 * cannot be one, and one load decides it; a self-connect that any user
 * holds open makes dearer only the closes of sockets connected to their own
 * address on a port of its bucket, not every client close of the host. A
 * count that never comes down (see counted_self_connects) leaves a bucket
 * high: later closes on its ports then cost more, but none is missed. The
 * loader sets every bucket to 1 before the program is loaded and takes it
 * back once its start scan's self-connects are added, so that none that
 * closes in between is missed. */
__s32 open_self_connects_on[SC_OPEN_PORT_BUCKETS] = {};
_Static_assert((SC_OPEN_PORT_BUCKETS & (SC_OPEN_PORT_BUCKETS - 1)) == 0, "the bucket mask needs a power of two");

/* The count of `port`'s bucket. Masked again past a barrier: clang folds the
 * modulo of a byte-swapped port into a swap and a shift, whose result the
 * verifiers of 5.10 to 6.12 do not bound (refused there, taken on 6.18). */
static __always_inline __s32 *open_self_connects_at(__u16 port)
{
	__u32 bucket = port % SC_OPEN_PORT_BUCKETS;

	barrier_var(bucket);
	return &open_self_connects_on[bucket & (SC_OPEN_PORT_BUCKETS - 1)];
}

/* The self-connects counted in open_self_connects_on, by socket (sock_key),
 * with the port each was counted under and whether its record was written
 * (COUNTED_NOT_WRITTEN): a count leaves the bucket it was made in, once,
 * decided by the delete that takes its entry out (between CPUs too), and
 * the delete tells whether its close is written.
 * Filled only by self-connects, on the rare path; when full, a self-connect
 * is counted all the same and its count never comes down (its bucket stays
 * dear, none is missed); one of them not written is in no count
 * (self_connects_untracked). */
#define COUNTED_PORT 0xffffu
#define COUNTED_NOT_WRITTEN (1u << 31)
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, 1); /* BPF_F_NO_PREALLOC (uapi; not in vmlinux.h): entries made on demand */
	__type(key, __u64);
	__type(value, __u32);
} counted_self_connects SEC(".maps");

/* Of those, the ones whose record was not written (folded, past their
 * user's budget, or the ring full): their closes are not written either,
 * so userspace's gauge of open self-connects adds this to the ones it was
 * told of. */
__s64 unwritten_open_self_connects = 0;
/* Self-connects not written that found counted_self_connects full: in no
 * count, the gauge reads that much low until they close. */
__u64 self_connects_untracked = 0;

/* Closes of self-connects that were not written, for userspace to take
 * out of its count of open ones (read and emptied every quarter second),
 * each with when it closed (bpf_ktime_get_ns): a self-connect at the same
 * address established after it is another socket. Made on demand, on the
 * rare path; one that finds it full is counted in unwritten_closes_unkept,
 * and userspace reads the sockets again. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SC_UNWRITTEN_CLOSES);
	__uint(map_flags, 1); /* BPF_F_NO_PREALLOC */
	__type(key, struct sc_unwritten_close);
	__type(value, __u64);
} unwritten_closes SEC(".maps");
__u64 unwritten_closes_unkept = 0;

/* Set by the loader between open and load; 0 means no filter. They are
 * checked only after a self-connect is found, never on the hot path. */
const volatile __u16 filter_port = 0;
const volatile __u32 filter_netns = 0;

/* Set by the loader when the bind() and listen() hooks (port_calls.bpf.h,
 * either flavour) are attached: a listener is then reported when listen()
 * returns, so a listen() that failed is never mistaken for a listener. */
const volatile bool port_call_hooks = false;

/* Set by the loader when the guard (bpf/guard.bpf.c) runs beside this
 * program: connects that could meet themselves are then marked for it
 * (guard_pending), and their end tells what it did. Off, none of it is
 * even loaded. */
const volatile bool guard_on = false;
/* Set when the guard is scoped (--netns): only the namespaces in
 * guard_namespaces are marked, so no other namespace's connect is ever
 * counted as missed. */
const volatile bool guard_scoped = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* the loader sizes it */
	__type(key, __u32);
	__type(value, __u8);
} guard_namespaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* the loader may resize it */
} events SEC(".maps");

/* Events that found the ring buffer full, per kind (enum sc_event_kind):
 * reported, never dropped silently. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SC_EVENT_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} lost_events SEC(".maps");

/* One word per CPU, to turn the socket's BTF pointer into a plain number. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pointer_scratch SEC(".maps");

/* struct sockaddr_in and sockaddr_in6 up to the address. */
struct inet_sockaddr {
	__u16 family;
	__be16 port;
	__be32 v4_or_flowinfo;
	__u8 v6[16];
};

/* A bind() in flight: the address it asked for, copied at entry (the
 * caller's memory may change before it returns), and its descriptor. */
struct bind_call {
	struct inet_sockaddr sa;
	__s32 fd;
	__u32 pad;
};

/* bind() and listen() calls in flight, by thread, kept from entry to
 * return: the bind_call (syscall tracepoints only: fexit sees the address
 * at the return), or the socket that started listening (0 until the state
 * hook sees it). Only these two calls pay for them. LRU: an entry
 * whose return was never seen ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct bind_call);
} bind_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} listen_calls SEC(".maps");

/* What a refused connect is about, for refusal_gates: its namespace, the
 * user who made it and the port. Keyed by user, so that one user's loop
 * hides nobody else's refusals on that port. */
struct owner_port_key {
	__u32 netns;
	__u32 owner;
	__u16 port;
	__u16 pad;
	__u32 pad2;
};

/* Ports in use, reported at most once a second per (namespace, command,
 * port); the value is when it was last reported. LRU: a full table forgets
 * the oldest key, which can only let one more record through, within its
 * user's budget below. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sc_command_port);
	__type(value, __u64);
} port_in_use_seen SEC(".maps");

/* Shared with the guard, which takes marks off and writes refusals. */
#include "guard_shared.bpf.h"

/* Self-connects prevented and connects the guard missed, each reported at
 * most once a second per (namespace, command, port), as port_in_use_seen
 * does for refused binds. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sc_command_port);
	__type(value, __u64);
} guard_seen SEC(".maps");

/* Self-connects, per (namespace, command, port, family): past the first
 * SC_SELF_CONNECTS_PER_COMMAND a second, folded (see struct sc_fold).
 * Userspace reads an entry a second after a record of its key, and writes
 * one record for what was folded. LRU: a full table forgets the oldest key;
 * what it had folded is still in folded_self_connects. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sc_command_port);
	__type(value, struct sc_fold);
} self_connect_folds SEC(".maps");

/* Every self-connect folded, per family (0: IPv4, 1: IPv6): with those
 * written and those lost, every self-connect made. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} folded_self_connects SEC(".maps");

/* A retry loop needs a handful of refusals to be recognised: at most
 * REFUSALS_PER_LOOP a second per (namespace, user, port) go on; the rest
 * are counted in folded_refusals and go no further, so that one fast loop
 * spends nothing of anyone's budget, its own included. */
#define REFUSALS_PER_LOOP 16

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct owner_port_key);
	__type(value, struct sc_rate_window);
} refusal_gates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} folded_refusals SEC(".maps");

/* Events any user can cause as fast as a loop runs, per user (uid), CPU
 * and second: at most PORT_IN_USE_PER_SECOND refused bind()s or listen()s,
 * whatever the number of ports, LISTENERS_PER_SECOND listens and
 * listeners' closes in the range, PREVENTED_PER_SECOND self-connects the
 * guard prevented, REFUSALS_PER_SECOND refused connects to a port of
 * the range, and SELF_CONNECTS_PER_SECOND self-connects written (of any
 * number of commands and ports; a command's repeats on a port are folded
 * first, see self_connect_folds), and as many closes of self-connects the
 * open counts did not know (made before the watcher started, or when
 * counted_self_connects was full: whether their self-connect was written
 * is not known; budgeted by the socket's own uid). A user past a budget
 * spends only its own: another user's
 * events go on. Above them, a ceiling for all users together, per CPU, of
 * USERS_AT_FULL_BUDGET times each budget, so that no number of users can
 * make the watcher busy. The rest are counted lost (never silently). */
#define PORT_IN_USE_PER_SECOND 64
#define LISTENERS_PER_SECOND 256
#define PREVENTED_PER_SECOND 64
#define REFUSALS_PER_SECOND 1024
#define SELF_CONNECTS_PER_SECOND 256
#define USERS_AT_FULL_BUDGET 8
#define BUDGET_PORT_IN_USE 0
#define BUDGET_LISTENERS 1
#define BUDGET_PREVENTED 2
#define BUDGET_REFUSALS 3
#define BUDGET_SELF_CONNECTS 4
#define BUDGET_CLOSES 5
#define BUDGETS 6

struct budget_key {
	__u32 uid;
	__u32 which;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct budget_key);
	__type(value, struct sc_rate_window);
} event_budgets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUDGETS);
	__type(key, __u32);
	__type(value, struct sc_rate_window);
} event_ceilings SEC(".maps");

/* The hooks, in the order the verifier and a reader meet them. */
#include "namespace_reads.bpf.h"
#include "socket_reads.bpf.h"
#include "connect_owner.bpf.h"
#include "report.bpf.h"
#include "state_hook.bpf.h"
#include "port_calls.bpf.h"
#include "holder_iterator.bpf.h"
#include "listener_origins.bpf.h"
#include "socket_census.bpf.h"

char LICENSE[] SEC("license") = "GPL";
