/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The hook on inet_sock_set_state, in its two attach flavours: every TCP
 * state change of the host passes here, so the entry decides in a few
 * loads whether it could matter. Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_STATE_HOOK_BPF_H
#define SELFCONNECT_STATE_HOOK_BPF_H

/* Runs inside listen(). With the bind() and listen() hooks, the listener
 * is reported when listen() returns 0 (or as a port in use when it fails). */
static __always_inline void on_listen(__u64 sk_addr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *call = port_call_hooks ? bpf_map_lookup_elem(&listen_calls, &id) : NULL;

	/* Inside a listen() call: its return decides. A listen that passes no
	 * hook (io_uring or a 32-bit program under the syscall tracepoints) is
	 * reported now. */
	if (call)
		*call = sk_addr;
	else
		report_port_event(sk_addr, SC_EVENT_LISTEN);
}

/* Is the socket's namespace one the guard covers (every one, unless
 * --netns scoped it)? */
static __always_inline bool guard_covers(const struct transition *t)
{
	__u32 netns;

	if (!guard_scoped)
		return true;
	netns = BPF_CORE_READ(sock_net_of(t), ns.inum);
	return bpf_map_lookup_elem(&guard_namespaces, &netns) != NULL;
}

/* A connect that could meet itself, with no port of its own: the guard
 * takes the mark off when its SYN passes loopback (guard.bpf.c). */
static __always_inline void mark_guard_pending(const struct transition *t)
{
	__u64 key = sock_key(t), port = t->dport;

	if (!guard_covers(t))
		return;
	bpf_map_update_elem(&guard_pending, &key, &port, BPF_ANY);
}

/* A marked connect has ended (refused, or met itself). Did the guard turn
 * its SYN into a reset (prevented), or did no guard see it (missed)? */
static __always_inline __u8 guard_outcome(const struct transition *t)
{
	__u64 key = sock_key(t);

	if (bpf_map_delete_elem(&guard_refused, &key) == 0)
		return SC_EVENT_SELF_CONNECT_PREVENTED;
	if (bpf_map_delete_elem(&guard_pending, &key) == 0) {
		count_guard(SC_GUARD_MISSED);
		return SC_EVENT_GUARD_MISSED;
	}
	return 0;
}

/* A self-connect, with the guard on: if the kernel chose its port, no
 * guard saw its SYN (a guard refuses every one it sees), marked or not: a
 * mark may have been pushed out of the LRU. Its entries go either way. */
static __always_inline __u8 guard_missed_self_connect(const struct transition *t)
{
	__u64 key = sock_key(t);

	bpf_map_delete_elem(&guard_refused, &key);
	bpf_map_delete_elem(&guard_pending, &key);
	if (!guard_covers(t) || !port_chosen_by_kernel(t->sk))
		return 0;
	count_guard(SC_GUARD_MISSED);
	return SC_EVENT_GUARD_MISSED;
}

/* Which record, if any, this transition makes; `guard` gets the guard's
 * own record, if any (--guard only). Marking a candidate connect() for the
 * guard is the one side effect. */
static __always_inline __u8 classify(const struct transition *t, __u8 *guard)
{
	switch (t->newstate) {
	case TCP_LISTEN:
		on_listen(sock_key(t));
		return 0;
	case TCP_SYN_SENT:
		/* Only the guard has anything to do at connect(): who
		 * connected is found when there is something to report. */
		if (guard_on && !t->sport && may_meet_itself(t))
			mark_guard_pending(t);
		return 0;
	case TCP_ESTABLISHED:
		if (!is_self_connected(t))
			return 0;
		if (guard_on)
			*guard = guard_missed_self_connect(t);
		return SC_EVENT_SELF_CONNECT;
	case TCP_CLOSE:
		if (t->oldstate == TCP_SYN_SENT) {
			/* One turn of the retry loop: refused, but it could
			 * have been handed this port. */
			if (!same_address(t) || !in_ephemeral_range(t, t->dport) ||
			    SK_READ(t, sk_err) != ECONNREFUSED)
				return 0;
			if (guard_on) {
				*guard = guard_outcome(t);
				/* Refused by the guard: prevented, not a turn. */
				if (*guard == SC_EVENT_SELF_CONNECT_PREVENTED)
					return 0;
			}
			return SC_EVENT_CONNECT_REFUSED;
		}
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
	__u8 guard = 0;
	__u8 kind = classify(t, &guard);
	struct connect_owner owner;

	if (!kind && !guard)
		return 0;
	/* Once for both records a guard outcome may make. */
	find_connect_owner(t, &owner);
	/* One call site each, so the verifier walks each reporting path once. */
	if (guard)
		report_guard_event(t, guard, &owner);
	return kind ? report(t, kind, &owner) : 0;
}

/* Everything past the first test, out of line: the entry stays small enough
 * that the JIT saves no registers for the hits that leave at once. */
static __noinline int on_rare_transition_btf(const struct sock *sk, int oldstate,
					     int newstate, bool own_address_in_range)
{
	__u32 ports = sk->__sk_common.skc_portpair;
	struct transition t = {
		.sk = sk,
		.oldstate = oldstate,
		.newstate = newstate,
		.sport = ports >> 16,
		.dport = bpf_ntohs((__u16)ports),
		.btf = true,
		.own_address_in_range = own_address_in_range,
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

/* A socket connected to another address than its own cannot be a
 * self-connect. Told from the socket alone, which the kernel has just
 * touched: most connects and closes of a host go elsewhere, and they leave
 * the entry without reading their namespace or any map (on this project's
 * machine a map the hook reads is out of the cache by the next hit: ~50
 * ns a read, measured). The detection rule itself is same_address(). */
static __always_inline bool to_another_address(const struct sock *sk)
{
	struct transition t = { .sk = sk, .btf = true };

	return !same_address(&t);
}

/* The socket's remote port, loaded again rather than kept from the entry's
 * first load: kept, it would hold a callee-saved register through the
 * address test, which the JIT would then save on every hit. */
static __always_inline __u16 remote_port(const struct sock *sk)
{
	return bpf_ntohs(*(volatile __u16 *)&sk->__sk_common.skc_dport);
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
			 * on_rare_transition_btf) goes on only if it was
			 * connected to its own address (told from the socket,
			 * for nothing), and then only while a self-connect is
			 * open on a port of its remote port's bucket (one load
			 * of a global, out of the cache by the next hit: measured
			 * dearer than the addresses, and cheaper than reading
			 * the port it had, which the rare path does). */
			if ((ports >> 16) ? oldstate != TCP_LISTEN || newstate != TCP_CLOSE
					  : newstate != TCP_CLOSE || to_another_address(sk) ||
					    *open_self_connects_at(remote_port(sk)) <= 0)
				return 0;
		}
	} else if (newstate == TCP_SYN_SENT) {
		/* Only the guard marks connects: without it every connect
		 * leaves here (guard_on is a constant, the rest is not even
		 * loaded). With it, an unbound connect to its own address on a
		 * port of the range goes on, decided here without the call, and
		 * the answer is passed on (own_address_in_range) so that the rare
		 * path does not ask again. */
		struct transition t = { .sk = sk, .btf = true };

		if (!guard_on || (sk->__sk_common.skc_portpair >> 16) || to_another_address(sk) ||
		    !in_ephemeral_range(&t, remote_port(sk)))
			return 0;
		return on_rare_transition_btf(sk, oldstate, newstate, true);
	} else if (newstate != TCP_CLOSE && newstate != TCP_LISTEN) {
		return 0;
	}
	return on_rare_transition_btf(sk, oldstate, newstate, false);
}

static __always_inline bool state_of_interest(int newstate)
{
	return newstate == TCP_ESTABLISHED || (guard_on && newstate == TCP_SYN_SENT) ||
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

#endif /* SELFCONNECT_STATE_HOOK_BPF_H */
