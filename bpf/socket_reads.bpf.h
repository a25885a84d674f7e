/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the state hook reads of a socket, the cheapest way each attach
 * flavour allows: ports, addresses and the namespace's ephemeral range.
 * Part of selfconnect.bpf.c.
 */
#ifndef SELFCONNECT_SOCKET_READS_BPF_H
#define SELFCONNECT_SOCKET_READS_BPF_H

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
	bool own_address_in_range; /* the entry found it connects to its own address, on a port of the range */
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

/* The namespace's net.ipv4.ip_local_port_range (namespace_reads.bpf.h),
 * read the way this transition's attach flavour allows. */
static __always_inline void ephemeral_range(const struct transition *t,
					    struct net *net, __u16 *lo, __u16 *hi)
{
	namespace_range(net, t->btf, lo, hi);
}

static __always_inline bool in_ephemeral_range(const struct transition *t,
					       __u16 port)
{
	__u16 lo, hi;

	ephemeral_range(t, sock_net_of(t), &lo, &hi);
	return port >= lo && port <= hi;
}

/* Could this unbound connect() be handed its destination as its source?
 * Only when it targets its own address on a port of the range the kernel
 * picks from. The tp_btf entry has decided that already
 * (own_address_in_range); otherwise the range is tested first: most
 * connects, remote or not, go to a port outside it, and two loads decide
 * that. */
static __always_inline bool may_meet_itself(const struct transition *t)
{
	return t->own_address_in_range || (in_ephemeral_range(t, t->dport) && same_address(t));
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

/* The socket's inode number as sock_diag reports it (sock_i_ino): that of
 * the inode its struct socket was allocated with (struct socket_alloc),
 * which a kernel socket without a file has too. 0 for a socket with no
 * struct socket. A probe read, on any kernel address. */
static __always_inline __u64 socket_inode(const struct sock *sk)
{
	struct socket *sock = BPF_CORE_READ(sk, sk_socket);
	const struct socket_alloc *a;

	if (!sock)
		return 0;
	a = (const void *)sock - bpf_core_field_offset(struct socket_alloc, socket);
	return BPF_CORE_READ(a, vfs_inode.i_ino);
}

/* Did the kernel choose this bound socket's port (bind() to port 0, or
 * listen() without bind())? bind() to a named port sets SOCK_BINDPORT_LOCK;
 * the kernel's own choice does not. sk_userlocks is a 4-bit bitfield that
 * shares its byte with sk_no_check_tx/rx and sk_kern_sock (and sk_padding
 * on 5.10) up to Linux 6.8, 5.10 and 6.1 among them, and a plain u8 since:
 * a plain byte read tests another flag there. The bitfield relocations give its byte, shift and width on the
 * running kernel, whichever it is. Works on a BTF pointer or on any kernel
 * address (a probe read). */
#define SOCK_BINDPORT_LOCK 8
static __always_inline bool port_chosen_by_kernel(const struct sock *sk)
{
	return !(BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks) & SOCK_BINDPORT_LOCK);
}

#endif /* SELFCONNECT_SOCKET_READS_BPF_H */
