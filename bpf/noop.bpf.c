// SPDX-License-Identifier: GPL-2.0
/*
 * The same hook, doing nothing: the benchmark's baseline (the difference
 * between its per-hit cost and selfconnect's is what selfconnect costs),
 * and the kernel matrix's control, which tells a fault of the kernel or of
 * the emulator from one of ours. Users load one flavour or the other; the
 * connect hooks are the connect guard's floor.
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

/* The connect guard's floor: a cgroup connect program that allows all. */
SEC("cgroup/connect4")
int noop_connect4(void *ctx)
{
	return 1;
}

SEC("cgroup/connect6")
int noop_connect6(void *ctx)
{
	return 1;
}

/* Another program on the same hook, as a second tool would attach one: it
 * counts the connects it sees, so a test can tell it still runs beside the
 * guard. */
__u64 connects_seen = 0;

SEC("cgroup/connect4")
int count_connect4(void *ctx)
{
	__sync_fetch_and_add(&connects_seen, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
