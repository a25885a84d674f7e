/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The socket census: one pass over every open file of every task, writing
 * one struct sc_census_socket for each TCP socket the kernel has hashed
 * (the sockets the per-namespace count of /proc/net/sockstat counts), with
 * its namespace and whether its two ends are the same.
 *
 * Why: a sock_diag dump walks the kernel's table of every TCP socket of the
 * host, whatever the namespace holds, so a scan of N namespaces walked it
 * N times (300 namespaces of 60 sockets: 300 walks of 18,000). This walk is
 * made once. A namespace where the census found every hashed socket (its
 * count equals the kernel's) and none with two equal ends holds no
 * self-connect, and is asked for its listeners alone, which the kernel
 * answers from its small listening table. A socket that no descriptor
 * holds (a kernel socket, one in flight in a unix socket, an io_uring
 * direct descriptor, another PID namespace's) makes the counts differ, and
 * that namespace is dumped whole as before: the census only ever spares a
 * walk.
 *
 * Needs bpf_sock_from_file (5.11): the loaders leave it out before. Part of
 * selfconnect.bpf.c (watch's scans) and of socket_census.bpf.c (audit's, a
 * small object of its own so that audit loads this program alone).
 */
#ifndef SELFCONNECT_SOCKET_CENSUS_BPF_H
#define SELFCONNECT_SOCKET_CENSUS_BPF_H

static __always_inline int same_ends(const struct sock_common *skc, __u16 family)
{
	if (skc->skc_num != bpf_ntohs(skc->skc_dport))
		return 0;
	if (family == AF_INET)
		return skc->skc_rcv_saddr == skc->skc_daddr;
	const __be32 *src = skc->skc_v6_rcv_saddr.in6_u.u6_addr32;
	const __be32 *dst = skc->skc_v6_daddr.in6_u.u6_addr32;

	return src[0] == dst[0] && src[1] == dst[1] && src[2] == dst[2] && src[3] == dst[3];
}

SEC("iter/task_file")
int socket_census(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct sc_census_socket c = {};
	const struct sock_common *skc;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	/* Every file table once: the kernel skips the threads that share
	 * their leader's, and a thread with a table of its own is walked. */
	if (!file)
		return 0;
	sock = bpf_sock_from_file(file);
	/* A raw socket of protocol TCP has sk_protocol 6 too, and is hashed,
	 * but counted as RAW: only stream sockets are TCP's. */
	if (!sock || sock->type != SOCK_STREAM)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	skc = &sk->__sk_common;
	family = skc->skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	c.inode = file->f_inode->i_ino;
	c.netns = skc->skc_net.net->ns.inum;
	/* An MPTCP socket's TCP subflows are the kernel's: no descriptor holds
	 * them, and one of them can meet itself. Its namespace is walked
	 * whole, whatever the counts say (they can agree by chance while
	 * sockets open and close). */
	if (sk->sk_protocol == IPPROTO_MPTCP) {
		c.flags = SC_CENSUS_MPTCP;
		bpf_seq_write(ctx->meta->seq, &c, sizeof(c));
		return 0;
	}
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* Hashed: in the kernel's tables, and so in sockstat's "inuse". */
	if (!skc->skc_node.pprev)
		return 0;
	c.flags = same_ends(skc, family) ? SC_CENSUS_SAME_ENDS : 0;
	bpf_seq_write(ctx->meta->seq, &c, sizeof(c));
	return 0;
}

#endif /* SELFCONNECT_SOCKET_CENSUS_BPF_H */
