/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who called connect() on a socket that met itself, was refused, or passed
 * the guard: found when there is something to report, never at connect()
 * itself, so that the connects that meet nothing (all but a handful) pay
 * nothing for it. Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_CONNECT_OWNER_BPF_H
#define SELFCONNECT_CONNECT_OWNER_BPF_H

/* The task that connected, or none; `uid` is its user (the socket's when
 * no task can be named). `budget_uid` is whose budget the record spends:
 * always the socket's user (sk_uid, from socket()), so that a socket
 * handed to, or waited on by, another user's process spends its maker's
 * budget, never that process's. */
struct connect_owner {
	const struct task_struct *task;
	__u32 uid;
	__u32 budget_uid;
};

/* At least THREAD_SIZE: 16 KiB on x86-64 and arm64, 32 KiB with KASAN, 64
 * KiB on arm64 with 64 KiB pages. Loose on purpose: the magic word at the
 * stack's end is what tells a stack. */
#define KERNEL_STACK_BOUND 65536
/* What the kernel writes at the end of every task's stack, the lowest word
 * (end_of_stack() is task->stack where thread_info lives in the task, as on
 * x86-64 and arm64): set_task_stack_end_magic(), for every task since 3.18. */
#define STACK_END_MAGIC 0x57AC6E9DULL
/* connect() puts its entry first (add_wait_queue adds at the head); an
 * epoll or a poll() of the same socket may sit before it. */
#define WAITERS_LOOKED_AT 4

/* Is `addr` on the task's own kernel stack? Only a real task passes: its
 * stack is page-aligned and ends in the kernel's magic word. Anything else
 * read as a task (an io_uring request names itself where a task's stack
 * pointer would be) gives another word there. */
static __always_inline bool on_stack_of(const struct task_struct *task, __u64 addr)
{
	__u64 stack = (__u64)BPF_CORE_READ(task, stack), end = 0;

	if (!stack || (stack & 4095) || addr - stack >= KERNEL_STACK_BOUND)
		return false;
	bpf_probe_read_kernel(&end, sizeof(end), (const void *)stack);
	return end == STACK_END_MAGIC;
}

/* The first wait entry of a queue, and the next after an entry: NULL at
 * its end (a list_head that leads back to the queue's own). */
static __always_inline const struct wait_queue_entry *entry_at(__u64 pos, __u64 head)
{
	if (!pos || pos == head)
		return NULL;
	return (const void *)(pos - bpf_core_field_offset(struct wait_queue_entry, entry));
}

/* The address of a queue's list_head, where its list ends. */
static __always_inline __u64 list_end_of(const struct wait_queue_head *q)
{
	return (__u64)q + bpf_core_field_offset(struct wait_queue_head, head);
}

static __always_inline const struct wait_queue_entry *first_waiter(const struct wait_queue_head *q)
{
	return entry_at((__u64)BPF_CORE_READ(q, head.next), list_end_of(q));
}

/* The task in epoll_wait() on the epoll whose entry this is: an epoll's
 * entry names no task (its private is NULL), its epoll's queue does. */
static __always_inline const struct task_struct *epoll_waiter(const struct wait_queue_entry *w)
{
	const struct eppoll_entry *pwq =
		(const void *)((__u64)w - bpf_core_field_offset(struct eppoll_entry, wait));
	const struct eventpoll *ep;
	const struct wait_queue_entry *sleeper;
	const struct task_struct *task;

	if (!bpf_core_type_exists(struct eppoll_entry))
		return NULL;
	ep = BPF_CORE_READ(pwq, base, ep);
	if (!ep)
		return NULL;
	sleeper = first_waiter((const struct wait_queue_head *)((__u64)ep + bpf_core_field_offset(struct eventpoll, wq)));
	if (!sleeper)
		return NULL;
	task = BPF_CORE_READ(sleeper, private);
	return task && on_stack_of(task, (__u64)sleeper) ? task : NULL;
}

/* A task asleep on the socket, waiting for its handshake: in connect()
 * (inet_wait_for_connect: its wait entry, on its stack, names the task),
 * in poll() or select() after a non-blocking connect() (the entry names
 * the poller's struct poll_wqueues, on its stack, which names the task),
 * or in epoll_wait() (through the epoll). A task is believed only when its
 * own stack holds what names it; anything else is passed over. The queues
 * are read without their locks: every read is a probe read. */
static __always_inline const struct task_struct *task_asleep_on(const struct sock *sk)
{
	const struct socket_wq *wq = BPF_CORE_READ(sk, sk_wq);
	const struct wait_queue_head *queue;
	const struct wait_queue_entry *w;

	if (!wq)
		return NULL;
	queue = (const void *)((__u64)wq + bpf_core_field_offset(struct socket_wq, wait));
	w = first_waiter(queue);
	for (int i = 0; i < WAITERS_LOOKED_AT && w; i++) {
		const void *named = BPF_CORE_READ(w, private);
		const struct task_struct *task;

		if (!named) {
			task = epoll_waiter(w);
			if (task)
				return task;
		} else {
			task = named;
			if (on_stack_of(task, (__u64)w))
				return task;
			/* The poll_wqueues, not the entry: past its first few
			 * descriptors a poll() keeps its entries in pages of
			 * their own. */
			if (bpf_core_type_exists(struct poll_wqueues)) {
				task = BPF_CORE_READ((const struct poll_wqueues *)named, polling_task);
				if (task && on_stack_of(task, (__u64)named))
					return task;
			}
		}
		w = entry_at((__u64)BPF_CORE_READ(w, entry.next), list_end_of(queue));
	}
	return NULL;
}

#define PF_KTHREAD 0x00200000

/* Could this task have made the socket? A user's task whose user is the
 * socket's (sk_uid is the maker's fsuid): another user's process that
 * holds the socket (a diag reader taking its lock, as `ss -ti` does) or
 * waits on it (one it was handed) is not named, nor a kernel thread. */
static __always_inline bool could_have_made(const struct task_struct *task, __u32 socket_uid)
{
	return !(BPF_CORE_READ(task, flags) & PF_KTHREAD) && BPF_CORE_READ(task, cred, fsuid.val) == socket_uid;
}

/* Who connected. While a task holds the socket (lock_sock), the transition
 * runs in that task: in connect() itself, or in its release_sock(), which
 * takes in the packets of the handshake that came meanwhile (on loopback
 * the whole handshake, as a rule). Otherwise a softirq runs it, on
 * whatever task the CPU ran, which is never believed: the task asleep on
 * the socket is asked for. Either is believed only if it could have made
 * the socket; a task of the same user that holds or waits on it (another
 * thread, a process it was handed to) is named as its owner. */
static __always_inline void find_connect_owner(const struct transition *t, struct connect_owner *o)
{
	__u32 socket_uid = SK_READ(t, sk_uid.val);
	const struct task_struct *task;

	if (SK_READ(t, sk_lock.owned))
		task = (const struct task_struct *)bpf_get_current_task();
	else
		task = task_asleep_on(t->sk);
	if (task && !could_have_made(task, socket_uid))
		task = NULL;
	/* Read through a local: inside BPF_CORE_READ, `o->task` would be
	 * recorded as a relocation against struct connect_owner. */
	o->task = task;
	o->budget_uid = socket_uid;
	o->uid = task ? BPF_CORE_READ(task, cred, uid.val) : socket_uid;
}

#endif /* SELFCONNECT_CONNECT_OWNER_BPF_H */
