// SPDX-License-Identifier: GPL-2.0
/*
 * The same hook, doing nothing: the benchmark's baseline (the difference
 * between its per-hit cost and selfconnect's is what selfconnect costs),
 * and the kernel matrix's control, which tells a fault of the kernel or of
 * the emulator from one of ours. Users load one flavour or the other; the
 * tc programs are the guard's floor and its neighbours in the tests.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(noop_state_change, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int noop_state_change_tp(void *ctx)
{
	return 0;
}

/* The guard's floor: a tc program that passes every packet, attached to
 * loopback beside the guard so that both are timed on the same packets. */
SEC("tc")
int noop_tc(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC: the next program runs, as after the guard */
}

/* Another program on the guard's hook, as a second tool would attach one:
 * it counts the packets it sees, so a test can tell it still runs beside
 * the guard. */
__u64 packets_seen = 0;

SEC("tc")
int count_tc(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&packets_seen, 1);
	return -1; /* TC_ACT_UNSPEC */
}

/* Another tool's connect policy: it refuses every connect() to port
 * REFUSED_PORT (EPERM), before the kernel chooses a port. */
#define REFUSED_PORT 40005

SEC("cgroup/connect4")
int refuse_connect4(struct bpf_sock_addr *ctx)
{
	return ctx->user_port == __builtin_bswap16(REFUSED_PORT) ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
