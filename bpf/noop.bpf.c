// SPDX-License-Identifier: GPL-2.0
/*
 * The same hook, doing nothing: the benchmark's baseline (the difference
 * between its per-hit cost and selfconnect's is what selfconnect costs),
 * and the kernel matrix's control, which tells a fault of the kernel or of
 * the emulator from one of ours. Users load one flavour or the other.
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

char LICENSE[] SEC("license") = "GPL";
