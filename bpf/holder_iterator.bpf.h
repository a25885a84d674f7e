/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who holds a port: an iterator over every open file of every task, read
 * by the watcher when a bind() or listen() failed with EADDRINUSE. It
 * writes one struct sc_holder for each TCP socket in the namespace asked
 * about whose local port is the port asked about. Reading an iterator needs
 * no capability, so the watcher can ask after it dropped them all, and it
 * sees every namespace. Needs bpf_sock_from_file (5.11): the loader leaves
 * it out on older kernels. Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_HOLDER_ITERATOR_BPF_H
#define SELFCONNECT_HOLDER_ITERATOR_BPF_H

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

#endif /* SELFCONNECT_HOLDER_ITERATOR_BPF_H */
