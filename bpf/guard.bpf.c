// SPDX-License-Identifier: GPL-2.0
/*
 * The guard (`watch --guard`): a self-connect made impossible, and nothing
 * else about any connect() changed.
 *
 * A connect() meets itself when the kernel hands it its destination port as
 * its source. Its SYN, sent to its own address, leaves through the network
 * namespace's loopback device (every local destination does, whichever
 * interface holds the address) and comes back to the very socket that sent
 * it: a simultaneous open. This program, on the loopback device's egress
 * (tc), sees that SYN (source address and port equal to the destination's,
 * from a socket whose port the kernel chose: no SOCK_BINDPORT_LOCK) and
 * turns it into the reset a closed port answers with: RST|ACK, acknowledging
 * the SYN, without options. Each such SYN, a retransmitted one too: the
 * decision is the packet's and the socket's, kept nowhere. The socket, in SYN_SENT, takes it as a refusal, so connect()
 * fails with ECONNREFUSED, as it would have with any other port the kernel
 * could have chosen (nothing listens on the destination: a port with a
 * listener is never handed out), and the port is free again at once.
 *
 * So the guard decides nothing before the kernel does: which port, shared
 * with which destinations, TIME_WAIT reused or not, the socket's own range
 * and options (IP_LOCAL_PORT_RANGE, SO_REUSEADDR, IP_BIND_ADDRESS_NO_PORT)
 * all stay the kernel's, and a connect that does not meet itself (every
 * remote one: it never passes loopback) is not touched. Each loopback
 * packet pays a few loads; each loopback SYN one map deletion more.
 *
 * The detector marks every connect that could meet itself (guard_pending,
 * at SYN_SENT: an unbound socket, its own address, a port of the range);
 * this program takes the mark off when the SYN passes (or the reset another
 * guard made of it). One still marked when its connect ends passed no
 * guard (its namespace's loopback had none yet): the detector reports it
 * (SC_EVENT_GUARD_MISSED), and the loader then attaches this program
 * there. The marks only say what was seen; what is refused never depends
 * on them. A socket that bound its port itself is never touched: a
 * self-connect it asked for stays.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#define ETH_HLEN 14 /* loopback frames carry an Ethernet header */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
/* No verdict: whatever else is attached to loopback runs next (tcx goes on
 * to the next program only on this; TC_ACT_OK would end the chain). */
#define TC_ACT_UNSPEC (-1)

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
#define SOCK_BINDPORT_LOCK 8
#define TCP_SYN_SENT 2

#include "guard_shared.bpf.h"

/* One word per CPU, to turn the socket's BTF pointer into the number the
 * detector names it by (sock_key). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pointer_scratch SEC(".maps");

/* The headers as they are on the wire (not kernel structures: no CO-RE). */
struct ipv4_header {
	__u8 version_ihl;
	__u8 tos;
	__be16 total_length;
	__be16 id;
	__be16 fragment;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6_header {
	__be32 version_class_flow;
	__be16 payload_length;
	__u8 next_header;
	__u8 hop_limit;
	__be32 saddr[4];
	__be32 daddr[4];
};

struct tcp_header {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 data_offset;
	__u8 flags;
	__be16 window;
	__u16 check;
	__u16 urgent;
};

#define TCP_ACK_SEQ_AT 8
#define TCP_FLAGS_WORD_AT 12 /* data_offset and flags, one 16-bit word */
#define TCP_CHECK_AT 16

static __always_inline __u64 socket_address(struct tcp_sock *tp)
{
	__u32 zero = 0;
	__u64 *word = bpf_map_lookup_elem(&pointer_scratch, &zero);

	if (!word)
		return 0;
	*word = (__u64)tp;
	return *(volatile __u64 *)word;
}

/* The SYN at `l4` becomes the reset a closed port would send back: RST|ACK,
 * acknowledging the SYN (its sequence number plus one), so that the socket
 * in SYN_SENT accepts it. Its options go (the data offset becomes 5: they
 * are payload now, which a reset's receiver ignores): a timestamp echoed
 * from a TIME_WAIT the port came back from would fail the PAWS check, and
 * the socket would send its SYN again. The checksum follows each change (a
 * no-op while the kernel still has it to complete, as on loopback). */
static __always_inline bool turn_into_reset(struct __sk_buff *skb, __u32 l4)
{
	struct tcp_header th;
	__be32 ack;
	__u16 old_word, new_word;

	if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)))
		return false;
	ack = bpf_htonl(bpf_ntohl(th.seq) + 1);
	old_word = *(__u16 *)&th.data_offset;
	th.data_offset = 5 << 4;
	th.flags = TCP_FLAG_RST | TCP_FLAG_ACK;
	new_word = *(__u16 *)&th.data_offset;
	return bpf_l4_csum_replace(skb, l4 + TCP_CHECK_AT, th.ack_seq, ack, sizeof(ack)) == 0 &&
	       bpf_l4_csum_replace(skb, l4 + TCP_CHECK_AT, old_word, new_word, sizeof(new_word)) == 0 &&
	       bpf_skb_store_bytes(skb, l4 + TCP_ACK_SEQ_AT, &ack, sizeof(ack), 0) == 0 &&
	       bpf_skb_store_bytes(skb, l4 + TCP_FLAGS_WORD_AT, &new_word, sizeof(new_word), 0) == 0;
}

/* Did the program name the socket's port (bind() to a port, not 0)? Then a
 * self-connect is what it asked for. A direct read of the bitfield (its
 * byte, shift and width relocated per kernel): probe reads are not for tc
 * programs on 5.10. */
static __always_inline bool port_named_by_program(struct tcp_sock *tp)
{
	struct sock *sk = &tp->inet_conn.icsk_inet.sk;

	return BPF_CORE_READ_BITFIELD(sk, sk_userlocks) & SOCK_BINDPORT_LOCK;
}

/* A SYN from a local socket (or, with `reset`, the reset another guard made
 * of one): seen, so its mark comes off; refused if it meets itself and its
 * port was the kernel's choice. */
static __always_inline int on_syn(struct __sk_buff *skb, __u32 l4, __u16 port, bool meets_itself, bool reset)
{
	struct bpf_sock *sk = skb->sk;
	struct tcp_sock *tp;
	__u64 key, value = port;

	if (!sk)
		return TC_ACT_UNSPEC;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return TC_ACT_UNSPEC;
	/* A reset of a socket no longer connecting (a self-connect aborted)
	 * is no guard's. */
	if (reset && tp->inet_conn.icsk_inet.sk.__sk_common.skc_state != TCP_SYN_SENT)
		return TC_ACT_UNSPEC;
	key = socket_address(tp);
	bpf_map_delete_elem(&guard_pending, &key);
	if (!meets_itself || port_named_by_program(tp))
		return TC_ACT_UNSPEC;
	if (reset || turn_into_reset(skb, l4)) {
		bpf_map_update_elem(&guard_refused, &key, &value, BPF_ANY);
		if (!reset)
			count_guard(SC_GUARD_PREVENTED);
	}
	return TC_ACT_UNSPEC;
}

SEC("tc")
int guard_loopback(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tcp_header *th;
	bool same_address;
	__u8 flags;
	__u32 l4;

	/* Every loopback packet: a few loads, and only a SYN goes on. */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct ipv4_header *ip = data + ETH_HLEN;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return TC_ACT_UNSPEC;
		l4 = ETH_HLEN + (ip->version_ihl & 0xf) * 4;
		same_address = ip->saddr == ip->daddr;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6_header *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > end || ip6->next_header != IPPROTO_TCP)
			return TC_ACT_UNSPEC;
		l4 = ETH_HLEN + sizeof(*ip6);
		same_address = ip6->saddr[0] == ip6->daddr[0] && ip6->saddr[1] == ip6->daddr[1] &&
			       ip6->saddr[2] == ip6->daddr[2] && ip6->saddr[3] == ip6->daddr[3];
	} else {
		return TC_ACT_UNSPEC;
	}
	th = data + l4;
	if ((void *)(th + 1) > end)
		return TC_ACT_UNSPEC;
	flags = th->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST);
	if (flags == TCP_FLAG_SYN)
		return on_syn(skb, l4, bpf_ntohs(th->dest), same_address && th->source == th->dest, false);
	/* A reset that meets itself from a socket still connecting: another
	 * guard (another watcher's) got to its SYN first. */
	if (flags == (TCP_FLAG_RST | TCP_FLAG_ACK) && same_address && th->source == th->dest)
		return on_syn(skb, l4, bpf_ntohs(th->dest), true, true);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
