// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's baseline: the same hook, doing nothing. The difference
 * between its per-hit cost and selfconnect's is what selfconnect costs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(noop_state_change, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
