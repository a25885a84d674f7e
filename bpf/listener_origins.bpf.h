/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who chose the port of each listener that was already listening when the
 * watcher started: an iterator over the TCP sockets of one namespace (the
 * one the reader was in when it opened the iterator), writing one struct
 * sc_listener_origin for each listener. sock_diag cannot tell who chose a
 * port; SOCK_BINDPORT_LOCK in sk_userlocks can. The tcp iterator is in
 * every kernel since 5.9, so this answers where the holder iterator (5.11)
 * cannot, and in one pass over a namespace's sockets rather than over every
 * file of every task for each listener. Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_LISTENER_ORIGINS_BPF_H
#define SELFCONNECT_LISTENER_ORIGINS_BPF_H

SEC("iter/tcp")
int listener_origins(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	const struct sock *sk = (const struct sock *)skc;
	struct sc_listener_origin o = {};

	/* Only a listener is a full socket here that can hold a port for a
	 * server; request and TIME_WAIT sockets are left out. */
	if (!skc || skc->skc_state != TCP_LISTEN)
		return 0;
	o.port = skc->skc_num;
	o.flags = port_chosen_by_kernel(sk) ? SC_FLAG_PORT_CHOSEN_BY_KERNEL : 0;
	o.inode = socket_inode(sk);
	bpf_seq_write(ctx->meta->seq, &o, sizeof(o));
	return 0;
}

#endif /* SELFCONNECT_LISTENER_ORIGINS_BPF_H */
