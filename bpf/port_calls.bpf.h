/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bind() and listen() hooks: a listener confirmed when listen()
 * returns, a port that someone holds when either fails with EADDRINUSE.
 * Two flavours, of which the loader keeps one: fexit on the kernel's
 * inet_bind, inet6_bind and inet_listen where the kernel has BPF
 * trampolines (only those calls pay), and the syscall tracepoints
 * elsewhere. A syscall tracepoint, once enabled, sends every system call
 * of every thread of the host down the kernel's slow path, a database's
 * read() as much as a bind(). Without either, the loader says so. Part of
 * selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_PORT_CALLS_BPF_H
#define SELFCONNECT_PORT_CALLS_BPF_H

/* The socket behind a descriptor of the current task, read the slow way
 * (this runs only for a bind() that failed with EADDRINUSE): the file's
 * private_data of a socket file is its struct socket. */
static __always_inline const struct sock *socket_of_fd(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), fds + fd) || !file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* Does the address a bind() asked for name a port of an inet family (the
 * only kind a bind() can be refused for a port someone holds)? An AF_INET
 * socket may also bind AF_UNSPEC to INADDR_ANY. Read from its first four
 * bytes. */
static __always_inline bool names_an_inet_port(const struct inet_sockaddr *sa)
{
	return (sa->family == AF_INET || sa->family == AF_INET6) && sa->port;
}

/* Only a bind() to a chosen port of an inet family can be refused for a
 * port someone holds: a bind() to port 0 (UDP resolvers make one a query)
 * leaves after one read of its first four bytes, never touching the map.
 * The rest of the address is copied now: by the return, another thread of
 * the caller could have changed it. */
SEC("tracepoint/syscalls/sys_enter_bind")
int on_bind_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	void *uaddr = (void *)ctx->args[1];
	struct bind_call call = {};

	if (bpf_probe_read_user(&call.sa, 4, uaddr))
		return 0;
	if (!names_an_inet_port(&call.sa))
		return 0;
	if (bpf_probe_read_user(&call.sa, call.sa.family == AF_INET6 ? sizeof(call.sa) : 8, uaddr))
		return 0;
	call.fd = (__s32)ctx->args[0];
	bpf_map_update_elem(&bind_calls, &id, &call, BPF_ANY);
	return 0;
}

/* A bind() of socket `sk` to `sa` failed with EADDRINUSE: TCP only (a UDP
 * port in use keeps no server from listening), in the socket's own
 * namespace, whichever the caller is in now. */
static __always_inline int report_refused_bind(const struct sock *sk, const struct inet_sockaddr *sa)
{
	struct sc_event *e;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	e = start_port_event(BPF_CORE_READ(sk, __sk_common.skc_net.net), bpf_ntohs(sa->port), sa->family,
			     SC_EVENT_PORT_IN_USE);
	if (!e)
		return 0;
	if (sa->family == AF_INET6)
		__builtin_memcpy(e->addr, sa->v6, sizeof(sa->v6));
	else
		__builtin_memcpy(e->addr, &sa->v4_or_flowinfo, 4);
	fill_current_owner(e);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int on_bind_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bind_call *found = bpf_map_lookup_elem(&bind_calls, &id);
	struct bind_call call;

	if (!found)
		return 0;
	call = *found;
	bpf_map_delete_elem(&bind_calls, &id);
	if (ctx->ret != -EADDRINUSE)
		return 0;
	return report_refused_bind(socket_of_fd(call.fd), &call.sa);
}

/* A listen() in flight: the state hook fills in its socket if it gets as
 * far as listening. */
static __always_inline void listen_call_begins(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 none = 0;

	bpf_map_update_elem(&listen_calls, &id, &none, BPF_ANY);
}

/* The listen() in flight returned `ret`: a listener, or a port in use. */
static __always_inline int listen_call_ends(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *sk = bpf_map_lookup_elem(&listen_calls, &id);
	__u64 sk_addr;

	if (!sk)
		return 0;
	sk_addr = *sk;
	bpf_map_delete_elem(&listen_calls, &id);
	if (!sk_addr)
		return 0; /* failed before it listened, or was listening already */
	if (ret == 0)
		return report_port_event(sk_addr, SC_EVENT_LISTEN);
	if (ret == -EADDRINUSE)
		return report_port_event(sk_addr, SC_EVENT_PORT_IN_USE);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_listen")
int on_listen_enter(struct trace_event_raw_sys_enter *ctx)
{
	listen_call_begins();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int on_listen_exit(struct trace_event_raw_sys_exit *ctx)
{
	return listen_call_ends(ctx->ret);
}

/* The fexit flavour. bind(): the address is the kernel's own copy, which
 * no thread of the caller can change any more, as a cgroup bind program
 * may have rewritten it (the port that was refused). The same function
 * serves AF_INET and AF_INET6 sockets (a v4-mapped address included). */
static __always_inline int bind_returned(const struct socket *sock, const struct sockaddr *uaddr, int ret)
{
	struct inet_sockaddr sa = {};

	if (ret != -EADDRINUSE)
		return 0;
	if (bpf_probe_read_kernel(&sa, 4, uaddr))
		return 0;
	if (!names_an_inet_port(&sa))
		return 0;
	if (bpf_probe_read_kernel(&sa, sa.family == AF_INET6 ? sizeof(sa) : 8, uaddr))
		return 0;
	return report_refused_bind(BPF_CORE_READ(sock, sk), &sa);
}

SEC("fexit/inet_bind")
int BPF_PROG(bind_fexit, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	return bind_returned(sock, uaddr, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(bind6_fexit, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret)
{
	return bind_returned(sock, uaddr, ret);
}

/* listen(): inet_listen serves TCP over IPv4 and IPv6, from the syscall,
 * io_uring and the kernel's own listeners alike. */
SEC("fentry/inet_listen")
int BPF_PROG(listen_fentry, struct socket *sock, int backlog)
{
	listen_call_begins();
	return 0;
}

SEC("fexit/inet_listen")
int BPF_PROG(listen_fexit, struct socket *sock, int backlog, int ret)
{
	return listen_call_ends(ret);
}

#endif /* SELFCONNECT_PORT_CALLS_BPF_H */
