/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The two maps the connect guard (guard.bpf.c) and the detector
 * (selfconnect.bpf.c) share: each object declares them from here, and the
 * loader points the guard's at the detector's (bpf_map__reuse_fd), so the
 * definitions cannot drift apart.
 */
#ifndef SELFCONNECT_GUARD_SHARED_BPF_H
#define SELFCONNECT_GUARD_SHARED_BPF_H

#define STEERED_SOCKETS 4096

/* The sockets the guard steered, by address; the value is the port each
 * was steered from. Written by the guard at connect(), taken out by the
 * state hook at SYN_SENT (an LRU: one that never gets there ages out). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STEERED_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} steered_sockets SEC(".maps");

/* What the guard did (enum sc_guard_count), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SC_GUARD_COUNTS);
	__type(key, __u32);
	__type(value, __u64);
} guard_counts SEC(".maps");

static __always_inline void count_guard(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&guard_counts, &which);

	if (n)
		*n += 1;
}

#endif /* SELFCONNECT_GUARD_SHARED_BPF_H */
