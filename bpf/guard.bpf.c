// SPDX-License-Identifier: GPL-2.0
/*
 * The connect guard (`watch --guard`): a self-connect made impossible at
 * connect() time, for every program, without changing any connect's
 * outcome.
 *
 * A socket meets itself only when connect() leaves the choice of its port
 * to the kernel, the destination port is one the kernel could hand out
 * (inside the namespace's ephemeral range, not reserved, not bound by a
 * listener) and the kernel hands out exactly that port. The cgroup
 * connect4/connect6 hooks run before the kernel chooses. For such a
 * connect only, the guard binds the socket to another free port of the
 * range (bpf_bind), the choice the kernel could have made itself: same
 * parity first (connect()'s half of the range), never a reserved port.
 * The SYN, the route, the source address, NAT, and whatever error the
 * connect would have met are all the kernel's, as before. If no free port
 * is found in a few tries, the kernel chooses as always, and that is
 * counted.
 *
 * Every other connect (UDP, a bound socket, a port outside the range, a
 * reserved one, one with a listener, another namespace when scoped) leaves
 * after a few loads.
 *
 * Whether the destination was local (the only case a socket can meet
 * itself) is known only once the kernel has routed the connect: the guard
 * leaves the socket in steered_sockets, and the detector's state hook, at
 * SYN_SENT, reports a self-connect prevented when the socket's source
 * address is its destination. Loaded separately from the detector, so that
 * a kernel that refuses it costs only the guard; the loader points its two
 * shared maps at the detector's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define BPF_F_CURRENT_NETNS (-1L)

#include "namespace_reads.bpf.h"

/* Set by the loader: the one namespace guarded (its inode), or 0 for every
 * one; with guard_scoped, those in guarded_namespaces (watch --netns given
 * more than once). */
const volatile __u32 guard_netns = 0;
const volatile bool guard_scoped = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* the loader sizes it */
	__type(key, __u32);
	__type(value, __u8);
} guarded_namespaces SEC(".maps");

#include "guard_shared.bpf.h"

/* One word per CPU, to turn the socket's BTF pointer into a plain number
 * (the detector names sockets by their address the same way). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pointer_scratch SEC(".maps");

/* How many ports of each parity are tried before the kernel is left to
 * choose: connect()'s half of the range first (the kernel's own preference;
 * bind() users get the other half), then the other. Each candidate is the
 * next one after a random start, so a crowded range (ports held by
 * connections, TIME_WAIT) is searched, not sampled: a free port among the
 * first GUARD_SCAN of a half is found. A failed try costs one bind attempt. */
#define GUARD_SCAN 64

struct sockaddr_in_bpf {
	__u16 family;
	__be16 port;
	__be32 addr;
	__u8 zero[8];
};

struct sockaddr_in6_bpf {
	__u16 family;
	__be16 port;
	__be32 flowinfo;
	__be32 addr[4];
	__u32 scope_id;
};

/* The socket's address as a number: storing a pointer in a map and reading
 * it back (which needs CAP_PERFMON, as loading does). */
static __always_inline __u64 socket_address(struct tcp_sock *tp)
{
	__u32 zero = 0;
	__u64 *word = bpf_map_lookup_elem(&pointer_scratch, &zero);

	if (!word)
		return 0;
	*word = (__u64)tp;
	return *(volatile __u64 *)word;
}

/* Could the kernel hand this connect its destination port? The family
 * decides only how the listener is looked up; `v4` is the destination as
 * IPv4 (an IPv4 socket, or an IPv4-mapped address on an IPv6 one). */
static __always_inline bool listener_on(struct bpf_sock_addr *ctx, bool v4, const __be32 *addr6,
					__be32 addr4, __be16 port)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;

	if (v4) {
		tuple.ipv4.daddr = addr4;
		tuple.ipv4.dport = port;
		sk = bpf_sk_lookup_tcp(ctx, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	} else {
		__builtin_memcpy(tuple.ipv6.daddr, addr6, 16);
		tuple.ipv6.dport = port;
		sk = bpf_sk_lookup_tcp(ctx, &tuple, sizeof(tuple.ipv6), BPF_F_CURRENT_NETNS, 0);
	}
	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

/* Tries to bind the socket to `port`, its own address left unbound. */
static __always_inline bool bind_port(struct bpf_sock_addr *ctx, bool ipv6_socket, __u16 port)
{
	if (ipv6_socket) {
		struct sockaddr_in6_bpf sa = { .family = AF_INET6, .port = bpf_htons(port) };

		return bpf_bind(ctx, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	}
	struct sockaddr_in_bpf sa = { .family = AF_INET, .port = bpf_htons(port) };

	return bpf_bind(ctx, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

/* Binds the socket to a free port of [lo, hi] other than `avoid` and not
 * reserved. Returns the port, or 0 when none was found. */
static __always_inline __u16 steer(struct bpf_sock_addr *ctx, struct net *net, bool ipv6_socket,
				   __u16 lo, __u16 hi, __u16 avoid)
{
	__u32 span = (__u32)hi - lo + 1;
	__u32 start = bpf_get_prandom_u32() / 2;

	/* half 0: offsets 0, 2, 4 ... from lo (connect()'s parity); half 1:
	 * offsets 1, 3, 5 ... */
	for (__u32 half = 0; half < 2; half++) {
		__u32 count = (span + 1 - half) / 2;

		for (__u32 i = 0; i < GUARD_SCAN && i < count; i++) {
			__u16 port = lo + 2 * ((start + i) % count) + half;

			if (port == avoid || port_reserved(net, port))
				continue;
			if (bind_port(ctx, ipv6_socket, port))
				return port;
		}
	}
	return 0;
}

static __always_inline int guard(struct bpf_sock_addr *ctx, bool ipv6_socket)
{
	struct bpf_sock *sk = ctx->sk;
	__u16 port, lo, hi;
	struct tcp_sock *tp;
	struct net *net;
	__u32 netns;

	/* UDP (a resolver connects once a query) and everything not TCP leave
	 * here; so does a socket that bound a port or an address of its own
	 * (its choice, and a failed bind would clear that address). */
	if (ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return 1;
	if (sk->src_port || sk->src_ip4)
		return 1;
	if (ipv6_socket && (sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] | sk->src_ip6[3]))
		return 1;

	port = bpf_ntohs((__u16)ctx->user_port);
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 1;
	net = tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net;
	namespace_range(net, true, &lo, &hi);
	if (port < lo || port > hi)
		return 1;
	netns = net->ns.inum;
	if ((guard_netns && netns != guard_netns) ||
	    (guard_scoped && !bpf_map_lookup_elem(&guarded_namespaces, &netns)))
		return 1;
	/* The kernel never hands out a reserved port, nor one a socket has
	 * bound (a listener): such a destination cannot be met. */
	if (port_reserved(net, port))
		return 1;

	__be32 addr[4] = {};
	bool v4;

	if (!ipv6_socket) {
		addr[0] = ctx->user_ip4;
		v4 = true;
	} else {
		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
		v4 = addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0x0000ffff);
	}
	if (listener_on(ctx, v4, addr, v4 ? addr[ipv6_socket ? 3 : 0] : 0, bpf_htons(port)))
		return 1;

	if (!steer(ctx, net, ipv6_socket, lo, hi, port)) {
		count_guard(SC_GUARD_NO_FREE_PORT);
		return 1;
	}
	count_guard(SC_GUARD_STEERED);
	/* For the state hook: which port this socket was steered away from. */
	__u64 key = socket_address(tp), avoided = port;

	if (key)
		bpf_map_update_elem(&steered_sockets, &key, &avoided, BPF_ANY);
	return 1;
}

SEC("cgroup/connect4")
int guard_connect4(struct bpf_sock_addr *ctx)
{
	return guard(ctx, false);
}

SEC("cgroup/connect6")
int guard_connect6(struct bpf_sock_addr *ctx)
{
	return guard(ctx, true);
}

char LICENSE[] SEC("license") = "GPL";
