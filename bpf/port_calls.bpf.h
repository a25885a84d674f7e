/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bind() and listen() syscall hooks: a listener confirmed when listen()
 * returns, a port that someone holds when either fails with EADDRINUSE.
 * The per-syscall tracepoints cost only those two calls. The loader leaves
 * them out (and says so) on a kernel without them. Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_PORT_CALLS_BPF_H
#define SELFCONNECT_PORT_CALLS_BPF_H

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

#endif /* SELFCONNECT_PORT_CALLS_BPF_H */
