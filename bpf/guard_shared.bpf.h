/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps the guard on loopback (guard.bpf.c) and the detector
 * (selfconnect.bpf.c) share: each object declares them from here, and the
 * loader points the guard's at the detector's (bpf_map__reuse_fd), so the
 * definitions cannot drift apart. Keys are socket addresses, as sock_key()
 * makes them.
 */
#ifndef SELFCONNECT_GUARD_SHARED_BPF_H
#define SELFCONNECT_GUARD_SHARED_BPF_H

#define GUARDED_SOCKETS 4096

/* Connects that could meet themselves (an unbound socket, its own address,
 * a port of the range), written by the detector at SYN_SENT; the guard
 * takes each out when its SYN passes loopback. One still here when the
 * connect ends was never seen by a guard: its namespace had none. LRU: a
 * connect that never ends ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDED_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} guard_pending SEC(".maps");

/* The sockets whose SYN met itself and was turned into a reset, by the
 * guard; the value is the port. Taken out by the detector when the socket
 * closes (refused, as any connect to a closed port is). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDED_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} guard_refused SEC(".maps");

/* What the guard saw and did (enum sc_guard_count), per CPU. */
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
