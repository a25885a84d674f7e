/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rare path: filling a record of the ring buffer (bpf/events.h), or
 * counting it lost when the ring is full. Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_REPORT_BPF_H
#define SELFCONNECT_REPORT_BPF_H

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

/* The rare path: who connected (connect_owner.bpf.h): the current task,
 * or one asleep on the socket. One asleep in connect() cannot leave the
 * socket's queue before it takes the socket, which this transition holds;
 * one in poll() or epoll_wait() can, so its task may have just stopped
 * waiting (every read of it is a probe read). */
static __always_inline void fill_owner(struct sc_event *e, const struct connect_owner *o)
{
	const struct task_struct *task = o->task;

	if (!task) {
		e->tgid = 0;
		e->tid = 0;
		clear_owner(e, SC_OWNER_UNKNOWN);
		return;
	}
	e->tgid = BPF_CORE_READ(task, tgid);
	e->tid = BPF_CORE_READ(task, pid);
	e->owner = SC_OWNER_CONNECT;
	e->uid = o->uid;
	e->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_INTO(&e->comm, task, comm);
}

/* The socket's remote address (its own, for a self-connect) as records
 * carry it: 4 bytes of AF_INET, or 16 of AF_INET6. */
static __always_inline void read_remote_address(const struct transition *t, __u16 family, __u8 (*addr)[16])
{
	const struct sock *sk = t->sk;

	if (family == AF_INET6)
		BPF_CORE_READ_INTO(addr, sk, __sk_common.skc_v6_daddr);
	else
		BPF_CORE_READ_INTO(addr, sk, __sk_common.skc_daddr);
}

/* Where the socket is, as userspace keys an open self-connect: its address
 * and the device it is bound to. */
static __always_inline void fill_address(struct sc_event *e,
					 const struct transition *t)
{
	read_remote_address(t, e->family, &e->addr);
	e->bound_dev_if = SK_READ(t, __sk_common.skc_bound_dev_if);
}

/* A self-connect's close that is not written: kept for userspace, which
 * counted its self-connect open (or counted nothing: then it is a no-op). */
static __always_inline void keep_unwritten_close(const struct transition *t, __u32 netns)
{
	struct sc_unwritten_close close = { .netns = netns, .family = family_of(t), .port = t->dport };
	__u64 now = bpf_ktime_get_ns();

	read_remote_address(t, close.family, &close.addr);
	close.bound_dev_if = SK_READ(t, __sk_common.skc_bound_dev_if);
	if (bpf_map_update_elem(&unwritten_closes, &close, &now, BPF_ANY) != 0)
		__sync_fetch_and_add(&unwritten_closes_unkept, 1);
}

/* What the open counts knew of a closing self-connect. */
enum counted_close {
	CLOSE_UNCOUNTED,	/* no entry: made before the watcher, or the map was full */
	CLOSE_OF_WRITTEN,	/* its self-connect's record was written */
	CLOSE_OF_UNWRITTEN,	/* it was not: folded, past its budget, or the ring full */
};

/* Takes the socket at `key` (its entry `counted`) out of the counts it is
 * in, unless another run took it out first. */
static __always_inline enum counted_close uncount_self_connect(__u64 key, const __u32 *counted)
{
	__u32 value = *counted;

	if (bpf_map_delete_elem(&counted_self_connects, &key) != 0)
		return CLOSE_UNCOUNTED;
	__sync_fetch_and_add(open_self_connects_at(value & COUNTED_PORT), -1);
	if (!(value & COUNTED_NOT_WRITTEN))
		return CLOSE_OF_WRITTEN;
	__sync_fetch_and_add(&unwritten_open_self_connects, -1);
	return CLOSE_OF_UNWRITTEN;
}

/* A self-connect established: counted open (open_self_connects_on), and
 * its entry in counted_self_connects, to be marked if its record is not
 * written; NULL if the map is full. Done before the ring buffer is asked
 * for room, so a full ring cannot make it go uncounted. */
static __always_inline __u32 *count_open_self_connect(const struct transition *t)
{
	__u32 port = t->dport, *counted;
	__u64 key = sock_key(t);

	counted = bpf_map_lookup_elem(&counted_self_connects, &key);
	/* Still there: a socket at this address whose close was not seen (a
	 * skipped run), surely gone. On this port its count serves this one,
	 * which starts written; on another, it moves over, so that this one's
	 * close is looked at. */
	if (counted && (*counted & COUNTED_PORT) == port) {
		if (*counted & COUNTED_NOT_WRITTEN)
			__sync_fetch_and_add(&unwritten_open_self_connects, -1);
		*counted = port;
		return counted;
	}
	if (counted)
		uncount_self_connect(key, counted);
	bpf_map_update_elem(&counted_self_connects, &key, &port, BPF_NOEXIST);
	__sync_fetch_and_add(open_self_connects_at(port), 1);
	return bpf_map_lookup_elem(&counted_self_connects, &key);
}

/* A self-connect's close: out of the open counts. Done before the ring
 * buffer is asked for room, so a full ring cannot make it go unseen. */
static __always_inline enum counted_close uncount_closed_self_connect(const struct transition *t)
{
	__u64 key = sock_key(t);
	__u32 *counted = bpf_map_lookup_elem(&counted_self_connects, &key);

	return counted ? uncount_self_connect(key, counted) : CLOSE_UNCOUNTED;
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
	e->flags = 0;
	e->sock_ino = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	return e;
}

/* Room for one more event within `per_second` of this window? A window
 * older than a second starts again. */
static __always_inline bool window_has_room(struct sc_rate_window *w, __u64 per_second, __u64 now)
{
	/* Signed: another CPU may have begun the window after this one read
	 * the clock; that window is not over. */
	if ((__s64)(now - w->window_start) >= 1000000000LL) {
		w->window_start = now;
		w->used = 0;
	}
	return w->used < per_second;
}

/* One more event within `per_second` of this window, counted? */
static __always_inline bool spend(struct sc_rate_window *w, __u64 per_second, __u64 now)
{
	if (!window_has_room(w, per_second, now))
		return false;
	w->used++;
	return true;
}

/* Within the user's budget for the second on this CPU, and within the
 * ceiling for all users (see event_budgets)? An event past either is
 * counted lost. */
static __always_inline bool within_budget(__u32 which, __u64 per_second, __u8 kind, __u64 now, __u32 uid)
{
	struct budget_key key = { .uid = uid, .which = which };
	struct sc_rate_window *budget = bpf_map_lookup_elem(&event_budgets, &key);
	struct sc_rate_window *ceiling;

	if (!budget) {
		struct sc_rate_window fresh = { .window_start = now };

		bpf_map_update_elem(&event_budgets, &key, &fresh, BPF_NOEXIST);
		budget = bpf_map_lookup_elem(&event_budgets, &key);
	}
	ceiling = bpf_map_lookup_elem(&event_ceilings, &which);
	if (!budget || !ceiling || !spend(budget, per_second, now) ||
	    !spend(ceiling, per_second * USERS_AT_FULL_BUDGET, now)) {
		count_lost(kind);
		return false;
	}
	return true;
}

/* Is this refusal among the first REFUSALS_PER_LOOP of its loop this
 * second? A loop is one user's connects to one port of one namespace: a
 * shell loop that runs a new nc for each try is one loop too. The rest are
 * counted folded, and go no further. */
static __always_inline bool refusal_goes_on(__u32 netns, __u32 uid, __u16 port, __u64 now)
{
	struct owner_port_key key = { .netns = netns, .owner = uid, .port = port };
	struct sc_rate_window *gate = bpf_map_lookup_elem(&refusal_gates, &key);
	__u32 zero = 0;
	__u64 *folded;

	if (!gate) {
		struct sc_rate_window fresh = { .window_start = now, .used = 1 };

		bpf_map_update_elem(&refusal_gates, &key, &fresh, BPF_ANY);
		return true;
	}
	if (spend(gate, REFUSALS_PER_LOOP, now))
		return true;
	folded = bpf_map_lookup_elem(&folded_refusals, &zero);
	if (folded)
		*folded += 1;
	return false;
}

/* The command a self-connect's owner runs: its user and process name, read
 * from the task as the record reads them (fill_owner), so that userspace
 * builds the same key from the record. False if no task is known. */
static __always_inline bool owner_command(const struct connect_owner *o, struct sc_command_port *key)
{
	const struct task_struct *task = o->task;

	if (!task)
		return false;
	key->uid = o->uid;
	/* Up to the NUL, the rest left zero: before 5.17 a renamed task's
	 * comm keeps the old name's bytes after it ("nc\0h" after bash), which
	 * userspace, building the key from the record's name, never has. */
	BPF_CORE_READ_STR_INTO(&key->comm, task, comm);
	return true;
}

/* A self-connect that is not written (`counted`, its entry): its close
 * will not be either. Its close runs under the same socket's lock as this,
 * so no delete of the entry comes in between. One with no entry (the map
 * was full) is in no count: counted as untracked. */
static __always_inline void not_written(__u32 *counted)
{
	if (!counted) {
		__sync_fetch_and_add(&self_connects_untracked, 1);
		return;
	}
	if (!(*counted & COUNTED_NOT_WRITTEN)) {
		*counted |= COUNTED_NOT_WRITTEN;
		__sync_fetch_and_add(&unwritten_open_self_connects, 1);
	}
}

/* Is this self-connect written? The first SC_SELF_CONNECTS_PER_COMMAND a
 * second of one command on one port are, within the socket's user's budget; the
 * rest are folded into their key's sc_fold (and counted per family), for
 * userspace to write as one record. One user looping bind() and connect()
 * to its own port makes a few records a second, and another command's
 * self-connect in the same second is written as ever. A self-connect whose
 * owner cannot be named is never folded (nothing to fold it under). `key`
 * is filled (uid, comm)
 * when the owner is known; `*fold` is its fold if it has one. A key's fold
 * is made, and its window spent, only by a record actually written
 * (written_under), so that a key is folded only once userspace has a record
 * of it to read its fold by, and no user can make entries faster than its
 * budget writes records. */
static __always_inline bool self_connect_goes_on(const struct connect_owner *o, __u32 *counted,
						 struct sc_command_port *key, bool *keyed, struct sc_fold **fold_out)
{
	__u64 now = bpf_ktime_get_ns();
	struct sc_fold *fold = NULL;

	*fold_out = NULL;
	*keyed = owner_command(o, key);
	if (*keyed)
		fold = bpf_map_lookup_elem(&self_connect_folds, key);
	if (fold && !window_has_room(&fold->written, SC_SELF_CONNECTS_PER_COMMAND, now)) {
		__u32 index = key->family == AF_INET6;
		__u64 *folded = bpf_map_lookup_elem(&folded_self_connects, &index);

		fold->last_folded_ns = now;
		__sync_fetch_and_add(&fold->folded, 1);
		if (folded)
			*folded += 1;
		not_written(counted);
		return false;
	}
	if (!within_budget(BUDGET_SELF_CONNECTS, SELF_CONNECTS_PER_SECOND, SC_EVENT_SELF_CONNECT, now, o->budget_uid)) {
		not_written(counted);
		return false;
	}
	*fold_out = fold;
	return true;
}

/* A record of `key` was written: one more in its window, or its fold made. */
static __always_inline void written_under(const struct sc_command_port *key, struct sc_fold *fold)
{
	__u64 now;

	if (fold) {
		fold->written.used++;
		return;
	}
	now = bpf_ktime_get_ns();
	{
		struct sc_fold fresh = { .written = { .window_start = now, .used = 1 }, .made_ns = now };

		bpf_map_update_elem(&self_connect_folds, key, &fresh, BPF_NOEXIST);
	}
}

/* A self-connect's close is written if its self-connect was. One the
 * counts did not know cannot tell: it is written within the budget of the
 * socket's user (else a user could hold thousands of folded self-connects
 * open and have each close written); past it, it is kept for userspace's
 * count. */
static __always_inline bool close_goes_on(const struct transition *t, enum counted_close closed, __u32 netns)
{
	if (closed == CLOSE_OF_WRITTEN)
		return true;
	if (closed == CLOSE_OF_UNWRITTEN)
		return false;
	if (within_budget(BUDGET_CLOSES, SELF_CONNECTS_PER_SECOND, SC_EVENT_SELF_CONNECT_CLOSED, bpf_ktime_get_ns(),
			  SK_READ(t, sk_uid.val)))
		return true;
	keep_unwritten_close(t, netns);
	return false;
}

/* The rare path: a socket worth telling userspace about; `o` is who
 * connected, which serves the gates, the count and the record. */
static __always_inline int report(const struct transition *t, __u8 kind, const struct connect_owner *o)
{
	struct net *net = sock_net_of(t);
	__u32 netns = BPF_CORE_READ(net, ns.inum);
	struct sc_command_port key = { .netns = netns, .port = t->dport, .family = family_of(t) };
	struct sc_fold *fold = NULL;
	enum counted_close closed = CLOSE_UNCOUNTED;
	__u32 *counted = NULL;
	bool keyed = false;
	struct sc_event *e;
	__u16 lo, hi;

	/* The hook also serves DCCP on kernels that still have it. */
	if (SK_READ(t, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (filtered_out(t->dport, netns))
		return 0;
	/* Any user can be refused as fast as a loop runs (and every connect
	 * to a closed port is): a loop's first few a second
	 * go on, within its owner's budget; the rest are counted. */
	if (kind == SC_EVENT_CONNECT_REFUSED) {
		__u64 now = bpf_ktime_get_ns();

		if (!refusal_goes_on(netns, o->budget_uid, t->dport, now) ||
		    !within_budget(BUDGET_REFUSALS, REFUSALS_PER_SECOND, kind, now, o->budget_uid))
			return 0;
	}
	if (kind == SC_EVENT_SELF_CONNECT)
		counted = count_open_self_connect(t);
	else if (kind == SC_EVENT_SELF_CONNECT_CLOSED)
		closed = uncount_closed_self_connect(t);
	key.uid = o->uid;
	if (kind == SC_EVENT_SELF_CONNECT && !self_connect_goes_on(o, counted, &key, &keyed, &fold))
		return 0;
	if (kind == SC_EVENT_SELF_CONNECT_CLOSED && !close_goes_on(t, closed, netns))
		return 0;

	ephemeral_range(t, net, &lo, &hi);
	e = reserve_event(kind, net, netns, family_of(t), t->dport, lo, hi);
	if (!e) {
		/* Lost to a full ring: a self-connect is then counted as one not
		 * written (its close is not written either), a close is kept. */
		if (kind == SC_EVENT_SELF_CONNECT)
			not_written(counted);
		else if (kind == SC_EVENT_SELF_CONNECT_CLOSED)
			keep_unwritten_close(t, netns);
		return 0;
	}
	fill_owner(e, o);
	if (keyed) {
		written_under(&key, fold);
		/* The name and user the key was made of, read once: a rename
		 * in between must not give userspace another key. */
		__builtin_memcpy(e->comm, key.comm, sizeof(e->comm));
		e->uid = key.uid;
	}
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

/* Once a second per `key` (namespace, command, port), as `seen`
 * remembers, and within the key's user's budget: what a loop repeats says
 * nothing new, and past the budget it is counted lost. */
static __always_inline bool once_a_second_for(void *seen, __u32 budget, __u64 per_second, __u8 kind,
					      const struct sc_command_port *key)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(seen, key);

	if (last && now - *last < 1000000000ULL)
		return false;
	if (!within_budget(budget, per_second, kind, now, key->uid))
		return false;
	bpf_map_update_elem(seen, key, &now, BPF_ANY);
	return true;
}

/* The same for the current task's command. */
static __always_inline bool once_a_second(void *seen, __u32 budget, __u64 per_second, __u8 kind,
					  __u32 netns, __u16 port)
{
	struct sc_command_port key = {
		.netns = netns,
		.uid = (__u32)bpf_get_current_uid_gid(),
		.port = port,
	};

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	return once_a_second_for(seen, budget, per_second, kind, &key);
}

/* A refused bind() or listen() on a port the same process was already
 * reported refused within the second says nothing new. */
static __always_inline bool port_in_use_allowed(__u32 netns, __u16 port)
{
	return once_a_second(&port_in_use_seen, BUDGET_PORT_IN_USE, PORT_IN_USE_PER_SECOND,
			     SC_EVENT_PORT_IN_USE, netns, port);
}

/* What the guard did with a connect to the socket's own address: refused
 * its SYN, which met itself (SC_EVENT_SELF_CONNECT_PREVENTED), or never saw
 * it (SC_EVENT_GUARD_MISSED). When the connect ends the reset may be taken
 * in by a softirq (ksoftirqd, or whatever task the CPU ran): the caller is
 * found as for every record (connect_owner.bpf.h), never guessed from the
 * current task; one that cannot be named is gated under the socket's
 * user. */
static __always_inline int report_guard_event(const struct transition *t, __u8 kind, const struct connect_owner *o)
{
	struct net *net = sock_net_of(t);
	__u32 netns = BPF_CORE_READ(net, ns.inum);
	/* `family` holds the kind: prevented and missed are gated apart. */
	struct sc_command_port key = { .netns = netns, .port = t->dport, .family = kind };
	bool by_owner = owner_command(o, &key);
	struct sc_event *e;
	__u16 lo, hi;

	if (!by_owner)
		key.uid = o->uid;
	if (filtered_out(t->dport, netns) ||
	    !once_a_second_for(&guard_seen, BUDGET_PREVENTED, PREVENTED_PER_SECOND, kind, &key))
		return 0;
	ephemeral_range(t, net, &lo, &hi);
	e = reserve_event(kind, net, netns, family_of(t), t->dport, lo, hi);
	if (!e)
		return 0;
	fill_owner(e, o);
	if (by_owner) {
		/* The name and user the key was made of. */
		__builtin_memcpy(e->comm, key.comm, sizeof(e->comm));
		e->uid = key.uid;
	}
	fill_address(e, t);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Header of a port event; NULL if it is filtered out or the ring is full. */
static __always_inline struct sc_event *start_port_event(struct net *net, __u16 port, __u16 family, __u8 kind)
{
	struct transition probe = { .btf = false };
	__u32 netns = BPF_CORE_READ(net, ns.inum);
	__u16 lo, hi;

	if (filtered_out(port, netns))
		return NULL;
	if (kind == SC_EVENT_PORT_IN_USE && !port_in_use_allowed(netns, port))
		return NULL;
	ephemeral_range(&probe, net, &lo, &hi);
	/* Only ports a client can be handed make a listener worth a record. */
	if (kind != SC_EVENT_PORT_IN_USE &&
	    (port < lo || port > hi ||
	     !within_budget(BUDGET_LISTENERS, LISTENERS_PER_SECOND, kind, bpf_ktime_get_ns(),
			    (__u32)bpf_get_current_uid_gid())))
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

	/* A listener whose port the kernel chose has given it back by the
	 * time its CLOSE is traced (skc_num is 0, see the state hook); the
	 * port it listened on survives in inet_sport. */
	if (!port && kind == SC_EVENT_LISTENER_CLOSED)
		port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
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
	/* Names the listener however it is seen: at listen(), at its close
	 * (its file is still there), and by the start scan. A listen() that
	 * failed names no listener: its slot holds the device, as a port's
	 * records do. */
	if (kind == SC_EVENT_PORT_IN_USE)
		e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	else
		e->sock_ino = socket_inode(sk);
	e->flags = port_chosen_by_kernel(sk) ? SC_FLAG_PORT_CHOSEN_BY_KERNEL : 0;
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

#endif /* SELFCONNECT_REPORT_BPF_H */
