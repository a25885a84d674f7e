// SPDX-License-Identifier: GPL-2.0
/*
 * selfconnect's kernel side: one program on inet_sock_set_state, in two
 * attach flavours (tp_btf where the kernel has BTF for the raw tracepoint,
 * the classic tracepoint otherwise). The loader keeps exactly one of them.
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

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_LISTEN 10

/* Power of two; a slot is reused only when two sockets that both connect
 * to their own address on an ephemeral port are in flight at once and hash
 * alike. The event then says the owner is unknown instead of guessing.
 * 1024 slots of 32 bytes stay in cache; 4096 measured ~15 ns a hit dearer. */
#define OWNER_SLOTS 1024

/* Self-connected sockets seen established and not yet seen closed. While it
 * is 0, a closing socket whose port was given back (see the entry) cannot be
 * one, and one load decides it. A close that is missed (a skipped run, a
 * reused owner slot) leaves it high: later closes then cost more, but none
 * is missed. Self-connects made before the watcher started are not in it. */
__s64 open_self_connects = 0;

/* Set by the loader between open and load; 0 means no filter. They are
 * checked only after a self-connect is found, never on the hot path. */
const volatile __u16 filter_port = 0;
const volatile __u32 filter_netns = 0;

/* Set by the loader when the bind() and listen() syscall hooks below are
 * attached: a listener is then reported when listen() returns, so a listen()
 * that failed is never mistaken for a listener. */
const volatile bool syscall_hooks = false;

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

/* A direct-mapped cache of "who called connect() on this socket", written
 * in the caller's context at SYN_SENT. An array slot costs one inlined
 * lookup and a few stores; a hash map update would cost ~90 ns. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OWNER_SLOTS);
	__type(key, __u32);
	__type(value, struct sc_owner);
} connect_owners SEC(".maps");

/* bind() and listen() calls in flight, by thread: the user's sockaddr
 * (bind) or the socket (listen), kept from entry to return. Only these two
 * syscalls pay for them. LRU: an entry whose return was never seen ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} bind_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} listen_calls SEC(".maps");

/* What every hit needs, read the cheapest way the attach flavour allows.
 * `btf` is a compile-time constant at each call site, so each program keeps
 * only its own way of reading the socket. */
struct transition {
	const struct sock *sk;
	const struct trace_event_raw_inet_sock_set_state *tp_ctx; /* or NULL */
	__u64 tp_v4_pair;  /* tracepoint: saddr[4] and daddr[4] in one load */
	int oldstate;
	int newstate;
	__u16 sport; /* host byte order; 0 while an unbound socket connects */
	__u16 dport; /* host byte order */
	bool btf;
	bool dport_in_range; /* the entry found dport in the range already */
};

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "skc_portpair and skc_addrpair are split assuming little endian"
#endif

/* Read only where needed: most hits never look at the family. */
static __always_inline __u16 family_of(const struct transition *t)
{
	return t->btf ? t->sk->__sk_common.skc_family : t->tp_ctx->family;
}

/* The socket pointer is copied out first: inside BPF_CORE_READ, `t->sk`
 * itself would be recorded as a (bogus) relocation against struct transition. */
#define SK_READ(t, field)                                              \
	({                                                             \
		const struct sock *__sk = (t)->sk;                     \
		(t)->btf ? __sk->field : BPF_CORE_READ(__sk, field);   \
	})

static __always_inline bool is_v4_mapped(const __be32 *w)
{
	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

/* Does the socket's local address equal its remote address? IPv4, IPv6 and
 * v4-mapped IPv6 (an AF_INET6 socket on the IPv4 path compares its IPv4
 * fields, because its IPv6 source is filled in only after connect()). */
static __always_inline bool same_address(const struct transition *t)
{
	if (!t->btf) {
		/* The tracepoint record may only be read at fixed offsets, so
		 * IPv6 addresses are copied out before they are compared. */
		const struct trace_event_raw_inet_sock_set_state *r = t->tp_ctx;
		__be32 s6[4], d6[4];

		if (family_of(t) == AF_INET6) {
			bpf_probe_read_kernel(s6, sizeof(s6), r->saddr_v6);
			bpf_probe_read_kernel(d6, sizeof(d6), r->daddr_v6);
			if (!is_v4_mapped(d6))
				return s6[0] == d6[0] && s6[1] == d6[1] &&
				       s6[2] == d6[2] && s6[3] == d6[3];
		}
		return (__u32)t->tp_v4_pair == (__u32)(t->tp_v4_pair >> 32);
	}

	const struct sock_common *c = &t->sk->__sk_common;
	if (family_of(t) == AF_INET6) {
		const __be32 *s6 = c->skc_v6_rcv_saddr.in6_u.u6_addr32;
		const __be32 *d6 = c->skc_v6_daddr.in6_u.u6_addr32;

		if (!is_v4_mapped(d6))
			return s6[0] == d6[0] && s6[1] == d6[1] &&
			       s6[2] == d6[2] && s6[3] == d6[3];
	}
	__u64 pair = c->skc_addrpair; /* daddr | rcv_saddr << 32, one load */
	return (__u32)pair == (__u32)(pair >> 32);
}

/*
 * THE DETECTION RULE: a TCP socket is self-connected when its local address
 * and port equal its remote address and port. 127.0.0.1:P -> 127.0.0.2:P is
 * not: the ports match but the addresses do not.
 */
static __always_inline bool is_self_connected(const struct transition *t)
{
	return t->sport == t->dport && same_address(t);
}

static __always_inline struct net *sock_net_of(const struct transition *t)
{
	return SK_READ(t, __sk_common.skc_net.net);
}

/* The namespace's net.ipv4.ip_local_port_range. Its kernel shape changed:
 * two ints up to 6.2, one packed u32 (lo | hi << 16) since. */
static __always_inline void ephemeral_range(const struct transition *t,
					    struct net *net, __u16 *lo, __u16 *hi)
{
	if (bpf_core_field_exists(((struct local_ports___pair *)0)->range)) {
		struct local_ports___pair *p = (void *)&net->ipv4.ip_local_ports;
		int r0, r1;

		if (t->btf) {
			r0 = p->range[0];
			r1 = p->range[1];
		} else {
			r0 = BPF_CORE_READ(p, range[0]);
			r1 = BPF_CORE_READ(p, range[1]);
		}
		*lo = r0;
		*hi = r1;
	} else {
		__u32 packed = t->btf ? net->ipv4.ip_local_ports.range
				      : BPF_CORE_READ(net, ipv4.ip_local_ports.range);
		*lo = packed & 0xffff;
		*hi = packed >> 16;
	}
}

static __always_inline bool in_ephemeral_range(const struct transition *t,
					       __u16 port)
{
	__u16 lo, hi;

	ephemeral_range(t, sock_net_of(t), &lo, &hi);
	return port >= lo && port <= hi;
}

/* Could this connect() be handed its destination as its source? Only when
 * it targets its own address, and either it is bound to that very port or
 * the kernel will pick a port from the range that holds the destination.
 * The range is tested first: most connects, remote or not, go to a port
 * outside it, and two loads decide that. */
static __always_inline bool may_meet_itself(const struct transition *t)
{
	if (t->sport)
		return t->sport == t->dport && same_address(t);
	return (t->dport_in_range || in_ephemeral_range(t, t->dport)) && same_address(t);
}

/* A number that names the socket from connect() to its handshake's end:
 * its address. tp_btf's socket is a BTF pointer, on which the verifier
 * allows no arithmetic; stored in a map word and read back, it is a number
 * (storing a pointer needs CAP_PERFMON, which loading needs anyway). The
 * socket's inode would do too, but reading it misses the cache: ~20 ns a hit
 * dearer, measured. */
static __always_inline __u64 sock_key(const struct transition *t)
{
	__u32 zero = 0;
	__u64 *word;

	if (!t->btf)
		return (__u64)t->sk;
	word = bpf_map_lookup_elem(&pointer_scratch, &zero);
	if (!word)
		return 0;
	*word = (__u64)t->sk;
	return *(volatile __u64 *)word;
}

static __always_inline __u32 owner_slot(__u64 key)
{
	return (key * 0x9E3779B97F4A7C15ULL) >> 54; /* 10 bits */
}

/* Runs inside connect(): the current task is the caller. Two cheap helpers
 * and four stores; this is the one cost candidate sockets pay. */
static __always_inline void remember_owner(const struct transition *t)
{
	__u64 key = sock_key(t);
	__u32 slot = owner_slot(key);
	struct sc_owner *o = bpf_map_lookup_elem(&connect_owners, &slot);
	__u64 id;

	if (!o)
		return;
	id = bpf_get_current_pid_tgid();
	o->counted = 0;
	o->sock_key = key;
	o->task = bpf_get_current_task();
	o->tgid = id >> 32;
	o->tid = (__u32)id;
}

static __always_inline void count_lost(__u8 kind)
{
	__u32 index = kind;
	__u64 *n = bpf_map_lookup_elem(&lost_events, &index);

	if (n)
		*n += 1;
}

static __always_inline void clear_owner(struct sc_event *e, __u8 source)
{
	e->owner = source;
	e->uid = 0;
	e->cgroup_id = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
}

/* The owner slot remembered for this socket at connect(), or NULL if the
 * slot now holds another socket. */
static __always_inline struct sc_owner *owner_of(const struct transition *t)
{
	__u64 key = sock_key(t);
	__u32 slot = owner_slot(key);
	struct sc_owner *o = bpf_map_lookup_elem(&connect_owners, &slot);

	return o && o->sock_key == key ? o : NULL;
}

/* The rare path: who connected. The task is read only if it still is the
 * thread that connected (same tid), so a task_struct freed and reused in
 * between is never believed. */
static __always_inline void fill_owner(struct sc_event *e, const struct sc_owner *o)
{
	const struct task_struct *task;

	if (!o) {
		e->tgid = 0;
		e->tid = 0;
		clear_owner(e, SC_OWNER_UNKNOWN);
		return;
	}
	e->tgid = o->tgid;
	e->tid = o->tid;
	task = (const struct task_struct *)o->task;
	if ((__u32)BPF_CORE_READ(task, pid) != o->tid) {
		clear_owner(e, SC_OWNER_EXITED);
		return;
	}
	e->owner = SC_OWNER_CONNECT;
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	e->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_INTO(&e->comm, task, comm);
}

static __always_inline void fill_address(struct sc_event *e,
					 const struct transition *t)
{
	const struct sock *sk = t->sk;

	if (e->family == AF_INET6)
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_daddr);
	else
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_daddr);
}

static __always_inline bool port_reserved(struct net *net, __u16 port)
{
	unsigned long *bitmap = BPF_CORE_READ(net, ipv4.sysctl_local_reserved_ports);
	unsigned long word = 0;

	if (!bitmap)
		return false;
	bpf_probe_read_kernel(&word, sizeof(word), bitmap + port / 64);
	return (word >> (port % 64)) & 1;
}

/* Keeps open_self_connects: up when a self-connect is established, down
 * when the close of one that was counted is seen. The owner slot remembers
 * which were counted; one whose slot was reused is counted up and never
 * down, which only makes later closes dearer. Done before the ring buffer
 * is asked for room, so a full ring cannot make a close go unseen. */
static __always_inline void track_open_self_connects(struct sc_owner *o, __u8 kind)
{
	if (kind != SC_EVENT_SELF_CONNECT && kind != SC_EVENT_SELF_CONNECT_CLOSED)
		return;
	if (!o) {
		if (kind == SC_EVENT_SELF_CONNECT)
			__sync_fetch_and_add(&open_self_connects, 1);
		return;
	}
	if (kind == SC_EVENT_SELF_CONNECT && !o->counted) {
		o->counted = 1;
		__sync_fetch_and_add(&open_self_connects, 1);
	} else if (kind == SC_EVENT_SELF_CONNECT_CLOSED && o->counted) {
		o->counted = 0;
		__sync_fetch_and_add(&open_self_connects, -1);
	}
}

/* Does the loader's --port or --netns filter leave this event out? */
static __always_inline bool filtered_out(__u16 port, __u32 netns)
{
	return (filter_port && port != filter_port) || (filter_netns && netns != filter_netns);
}

/* A record in the ring buffer with everything but its owner and address
 * filled in, or NULL when the ring is full (then counted as lost). */
static __always_inline struct sc_event *reserve_event(__u8 kind, struct net *net, __u32 netns,
						      __u16 family, __u16 port, __u16 lo, __u16 hi)
{
	struct sc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost(kind);
		return NULL;
	}
	e->mono_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->netns = netns;
	e->family = family;
	e->port = port;
	e->range_lo = lo;
	e->range_hi = hi;
	e->reserved = port_reserved(net, port);
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	return e;
}

/* The rare path: a socket worth telling userspace about. */
static __always_inline int report(const struct transition *t, __u8 kind)
{
	struct net *net = sock_net_of(t);
	__u32 netns = BPF_CORE_READ(net, ns.inum);
	struct sc_owner *o;
	struct sc_event *e;
	__u16 lo, hi;

	/* The hook also serves DCCP on kernels that still have it. */
	if (SK_READ(t, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (filtered_out(t->dport, netns))
		return 0;
	/* One slot lookup serves the count and the owner. */
	o = owner_of(t);
	track_open_self_connects(o, kind);

	ephemeral_range(t, net, &lo, &hi);
	e = reserve_event(kind, net, netns, family_of(t), t->dport, lo, hi);
	if (!e)
		return 0;
	fill_owner(e, o);
	fill_address(e, t);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Listeners and ports in use: rare, so everything is read with probe reads
 * from the socket's address, which any of the hooks can give. */
static __always_inline void fill_current_owner(struct sc_event *e)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->owner = SC_OWNER_CURRENT;
}

/* Header of a port event; NULL if it is filtered out or the ring is full. */
static __always_inline struct sc_event *start_port_event(struct net *net, __u16 port, __u16 family, __u8 kind)
{
	struct transition probe = { .btf = false };
	__u32 netns = BPF_CORE_READ(net, ns.inum);
	__u16 lo, hi;

	if (filtered_out(port, netns))
		return NULL;
	ephemeral_range(&probe, net, &lo, &hi);
	/* Only ports a client can be handed make a listener worth a record. */
	if (kind != SC_EVENT_PORT_IN_USE && (port < lo || port > hi))
		return NULL;
	return reserve_event(kind, net, netns, family, port, lo, hi);
}

/* A socket's local port and address: a listener, or one whose listen()
 * failed. The owner is the current task, except at a listener's close. */
static __always_inline int report_port_event(__u64 sk_addr, __u8 kind)
{
	const struct sock *sk = (const struct sock *)sk_addr;
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	struct sc_event *e;

	/* An unbound socket that listens is given its port after the hook. */
	if (!port || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	e = start_port_event(BPF_CORE_READ(sk, __sk_common.skc_net.net), port, family, kind);
	if (!e)
		return 0;
	if (family == AF_INET6)
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr);
	else
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_rcv_saddr);
	if (kind == SC_EVENT_LISTENER_CLOSED) {
		e->tgid = 0;
		e->tid = 0;
		clear_owner(e, SC_OWNER_UNKNOWN);
	} else {
		fill_current_owner(e);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Runs inside listen(). With the syscall hooks, the listener is reported
 * when listen() returns 0 (or as a port in use when it fails). */
static __always_inline void on_listen(__u64 sk_addr)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (syscall_hooks)
		bpf_map_update_elem(&listen_calls, &id, &sk_addr, BPF_ANY);
	else
		report_port_event(sk_addr, SC_EVENT_LISTEN);
}

/* Which record, if any, this transition makes. Remembering the caller of a
 * candidate connect() is the one side effect. */
static __always_inline __u8 classify(const struct transition *t)
{
	switch (t->newstate) {
	case TCP_LISTEN:
		on_listen(sock_key(t));
		return 0;
	case TCP_SYN_SENT:
		if (may_meet_itself(t))
			remember_owner(t);
		return 0;
	case TCP_ESTABLISHED:
		return is_self_connected(t) ? SC_EVENT_SELF_CONNECT : 0;
	case TCP_CLOSE:
		if (t->oldstate == TCP_SYN_SENT)
			/* One turn of the retry loop: refused, but it could
			 * have been handed this port. */
			return same_address(t) && in_ephemeral_range(t, t->dport) &&
					       SK_READ(t, sk_err) == ECONNREFUSED
				       ? SC_EVENT_CONNECT_REFUSED
				       : 0;
		if (t->oldstate == TCP_LISTEN) {
			report_port_event(sock_key(t), SC_EVENT_LISTENER_CLOSED);
			return 0;
		}
		return is_self_connected(t) ? SC_EVENT_SELF_CONNECT_CLOSED : 0;
	default:
		return 0;
	}
}

static __always_inline int on_transition(const struct transition *t)
{
	__u8 kind = classify(t);

	/* One call site, so the verifier walks the reporting path once. */
	return kind ? report(t, kind) : 0;
}

/* Everything past the first test, out of line: the entry stays small enough
 * that the JIT saves no registers for the hits that leave at once. */
static __noinline int on_rare_transition_btf(const struct sock *sk, int oldstate,
					     int newstate, bool dport_in_range)
{
	__u32 ports = sk->__sk_common.skc_portpair;
	struct transition t = {
		.sk = sk,
		.oldstate = oldstate,
		.newstate = newstate,
		.sport = ports >> 16,
		.dport = bpf_ntohs((__u16)ports),
		.btf = true,
		.dport_in_range = dport_in_range,
	};

	/* A socket that was not bound explicitly has given its port back by
	 * the time CLOSE is traced (skc_num is 0): the port it was connected
	 * from survives in inet_sport, past struct sock. The helper gives a
	 * pointer the verifier lets us read it through, at a fraction of a
	 * probe read's cost. */
	if (newstate == TCP_CLOSE && oldstate != TCP_SYN_SENT && !t.sport) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

		if (!tp)
			return 0;
		t.sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	}
	return on_transition(&t);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state_change_btf, const struct sock *sk, int oldstate,
	     int newstate)
{
	/* The hot path: one load and a compare. skc_portpair holds skc_dport
	 * (network order) and skc_num; a connected socket whose two ports
	 * differ is no self-connect, whatever its addresses. */
	if (newstate == TCP_ESTABLISHED ||
	    (newstate == TCP_CLOSE && oldstate != TCP_SYN_SENT)) {
		__u32 ports = sk->__sk_common.skc_portpair;

		if ((ports >> 16) != bpf_ntohs((__u16)ports)) {
			/* A listener's close goes on (it has a port, no peer):
			 * one compare more for a socket with a port. A closing
			 * socket whose port was given back (skc_num 0, see
			 * on_rare_transition_btf) goes on only while a
			 * self-connect is open: one load of a hot global for
			 * every other close of a client socket. */
			if ((ports >> 16) ? oldstate != TCP_LISTEN || newstate != TCP_CLOSE
					  : newstate != TCP_CLOSE || open_self_connects <= 0)
				return 0;
		}
	} else if (newstate == TCP_SYN_SENT) {
		/* Most connects go to a port outside the ephemeral range: decide
		 * that here, without the call, and pass the answer on. Bound
		 * sockets go on. */
		__u32 ports = sk->__sk_common.skc_portpair;
		struct transition t = { .sk = sk, .btf = true };

		/* Three call sites, not one with the answer in a variable:
		 * holding it live through the entry takes a callee-saved
		 * register, which the JIT then saves on every hit. */
		if (ports >> 16)
			return on_rare_transition_btf(sk, oldstate, newstate, false);
		if (!in_ephemeral_range(&t, bpf_ntohs((__u16)ports)))
			return 0;
		return on_rare_transition_btf(sk, oldstate, newstate, true);
	} else if (newstate != TCP_CLOSE && newstate != TCP_LISTEN) {
		return 0;
	}
	return on_rare_transition_btf(sk, oldstate, newstate, false);
}

static __always_inline bool state_of_interest(int newstate)
{
	return newstate == TCP_ESTABLISHED || newstate == TCP_SYN_SENT ||
	       newstate == TCP_CLOSE || newstate == TCP_LISTEN;
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state_change_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	int newstate = ctx->newstate;

	if (!state_of_interest(newstate))
		return 0;

	struct transition t = {
		.sk = ctx->skaddr,
		.tp_ctx = ctx,
		.oldstate = ctx->oldstate,
		.newstate = newstate,
		.sport = ctx->sport,
		.dport = ctx->dport,
		/* One 8-byte load at a constant offset: saddr[4] is followed
		 * by daddr[4]. Two loads get merged into pointer arithmetic on
		 * the context, which the verifier refuses. */
		.tp_v4_pair = *(const __u64 *)ctx->saddr,
		.btf = false,
	};
	return on_transition(&t);
}

/*
 * bind() and listen() failing with EADDRINUSE: the per-syscall tracepoints
 * cost only those two calls. The loader leaves them out (and says so) on a
 * kernel without them.
 */
/* struct sockaddr_in and sockaddr_in6 up to the address. */
struct inet_sockaddr {
	__u16 family;
	__be16 port;
	__be32 v4_or_flowinfo;
	__u8 v6[16];
};

/* Only a bind() to a chosen port of an inet family can be refused for a
 * port someone holds: a bind() to port 0 (UDP resolvers make one a query)
 * leaves after one read of its first four bytes, never touching the map. */
SEC("tracepoint/syscalls/sys_enter_bind")
int on_bind_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 uaddr = ctx->args[1];
	struct inet_sockaddr sa;

	if (bpf_probe_read_user(&sa, 4, (void *)uaddr))
		return 0;
	if ((sa.family != AF_INET && sa.family != AF_INET6) || !sa.port)
		return 0;
	bpf_map_update_elem(&bind_calls, &id, &uaddr, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int on_bind_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *uaddr = bpf_map_lookup_elem(&bind_calls, &id);
	struct inet_sockaddr sa = {};
	struct task_struct *task;
	struct sc_event *e;
	__u64 where;

	if (!uaddr)
		return 0;
	where = *uaddr;
	bpf_map_delete_elem(&bind_calls, &id);
	if (ctx->ret != -EADDRINUSE)
		return 0;
	if (bpf_probe_read_user(&sa, 8, (void *)where))
		return 0;
	if (sa.family == AF_INET6 && bpf_probe_read_user(&sa, sizeof(sa), (void *)where))
		return 0;
	if (sa.family != AF_INET && sa.family != AF_INET6)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	e = start_port_event(BPF_CORE_READ(task, nsproxy, net_ns), bpf_ntohs(sa.port), sa.family,
			     SC_EVENT_PORT_IN_USE);
	if (!e)
		return 0;
	if (sa.family == AF_INET6)
		__builtin_memcpy(e->addr, sa.v6, sizeof(sa.v6));
	else
		__builtin_memcpy(e->addr, &sa.v4_or_flowinfo, 4);
	fill_current_owner(e);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int on_listen_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *sk = bpf_map_lookup_elem(&listen_calls, &id);
	__u64 sk_addr;

	if (!sk)
		return 0;
	sk_addr = *sk;
	bpf_map_delete_elem(&listen_calls, &id);
	if (ctx->ret == 0)
		return report_port_event(sk_addr, SC_EVENT_LISTEN);
	if (ctx->ret == -EADDRINUSE)
		return report_port_event(sk_addr, SC_EVENT_PORT_IN_USE);
	return 0;
}

/*
 * Who holds a port: an iterator over every open file of every task, read
 * by the watcher when a bind() or listen() failed with EADDRINUSE. It
 * writes one struct sc_holder for each TCP socket in the namespace asked
 * about whose local port is the port asked about. Reading an iterator needs
 * no capability, so the watcher can ask after it dropped them all, and it
 * sees every namespace. Needs bpf_sock_from_file (5.11): the loader leaves
 * it out on older kernels.
 */
/* The question, written by the watcher before each run. */
__u32 want_netns = 0;
__u16 want_port = 0;

SEC("iter/task_file")
int find_port_holders(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct sc_holder h = {};
	struct socket *sock;
	struct sock *sk;

	if (!task || !file)
		return 0;
	/* Threads share their process's files: each file once. */
	if (task->pid != task->tgid)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	h.family = sk->__sk_common.skc_family;
	if (h.family != AF_INET && h.family != AF_INET6)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP || sk->__sk_common.skc_num != want_port ||
	    sk->__sk_common.skc_net.net->ns.inum != want_netns)
		return 0;
	h.inode = file->f_inode->i_ino;
	h.tgid = task->tgid;
	h.uid = task->cred->uid.val;
	h.sport = sk->__sk_common.skc_num;
	h.dport = __builtin_bswap16(sk->__sk_common.skc_dport);
	h.state = sk->__sk_common.skc_state;
	if (h.family == AF_INET6) {
		__builtin_memcpy(h.saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(h.daddr, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		__builtin_memcpy(h.saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(h.daddr, &sk->__sk_common.skc_daddr, 4);
	}
	__builtin_memcpy(h.comm, task->comm, sizeof(h.comm));
	bpf_seq_write(ctx->meta->seq, &h, sizeof(h));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
