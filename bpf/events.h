/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every record that crosses the BPF ring buffer, shared by bpf/ and user/.
 * Fixed-width fields, explicit padding, sizes asserted on both sides, so the
 * two compilers can never disagree about a layout.
 */
#ifndef SELFCONNECT_EVENTS_H
#define SELFCONNECT_EVENTS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define SC_COMM_LEN 16

enum sc_event_kind {
	/* A TCP socket reached ESTABLISHED with local addr:port == remote. */
	SC_EVENT_SELF_CONNECT = 1,
	/* A connect to our own address, on a port of the ephemeral range, was
	 * refused (SYN_SENT -> CLOSE): one turn of the loop that ends in a
	 * self-connect. */
	SC_EVENT_CONNECT_REFUSED = 2,
	/* A self-connected socket closed. */
	SC_EVENT_SELF_CONNECT_CLOSED = 3,
	/* A socket started listening on a port of its namespace's ephemeral
	 * range that is not reserved: a client can be handed that port. */
	SC_EVENT_LISTEN = 4,
	/* A listener on a port of the ephemeral range closed. */
	SC_EVENT_LISTENER_CLOSED = 5,
	/* bind() or listen() failed with EADDRINUSE: something holds the port
	 * the caller (the owner) wanted. */
	SC_EVENT_PORT_IN_USE = 6,
	/* watch --guard refused a connect() whose SYN met itself on loopback
	 * (it was handed its destination port): it fails as a connect to a
	 * closed port does, and never becomes a self-connect. */
	SC_EVENT_SELF_CONNECT_PREVENTED = 7,
	/* A connect() that could have met itself passed no guard: its network
	 * namespace's loopback had none (new since the start, or refused). */
	SC_EVENT_GUARD_MISSED = 8,
	/* One past the last kind: a kind added above it raises the size of
	 * every per-kind counter with it (a kind past the kernel's counters
	 * would be lost uncounted). Keep it last. */
	SC_EVENT_KIND_END,
};
#define SC_EVENT_KINDS SC_EVENT_KIND_END /* array size for per-kind counters */

/* What the guard saw and did, counted per CPU. */
enum sc_guard_count {
	/* SYNs that met themselves on loopback, turned into a reset: each a
	 * self-connect prevented. */
	SC_GUARD_PREVENTED = 0,
	/* Connects that could have met themselves whose SYN no guard saw. */
	SC_GUARD_MISSED = 1,
};
#define SC_GUARD_COUNTS 2

/* Listeners (sc_event of SC_EVENT_LISTEN, sc_listener_origin): nobody named the
 * port; the kernel chose it from the ephemeral range, at bind() to port 0
 * or at a listen() without bind(). It changes at every start. */
#define SC_FLAG_PORT_CHOSEN_BY_KERNEL 1

enum sc_owner_source {
	/* The task that called connect(), found when the handshake ended:
	 * the one holding the socket, or asleep on it (bpf/connect_owner.bpf.h). */
	SC_OWNER_CONNECT = 1,
	/* No task holds the socket or sleeps on it (a softirq ended the
	 * handshake of a connect() that did not wait for it in connect(),
	 * poll(), select() or epoll_wait()): no owner is known. Never guessed
	 * from the softirq's current task. */
	SC_OWNER_UNKNOWN = 2,
	/* The task the event happened in (bind(), listen()). */
	SC_OWNER_CURRENT = 4,
};

/* Open self-connects are counted per port, in this many buckets (the port
 * modulo it): a self-connect held open makes dearer only the closes of
 * sockets connected to a port of its bucket (see the state hook's entry). */
#define SC_OPEN_PORT_BUCKETS 512

/* A self-connect's close that was not written (the ring was full, or it
 * was past its user's budget), as userspace keys an open self-connect: it
 * takes these out of its count of open ones (the map unwritten_closes). */
struct sc_unwritten_close {
	__u32 netns;
	__u16 family;
	__u16 port;      /* host byte order */
	__u8 addr[16];   /* as sc_event's */
	__u32 bound_dev_if;  /* as sc_event's */
};
#define SC_UNWRITTEN_CLOSES 4096

struct sc_event {
	__u64 mono_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id;
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	__u32 netns;     /* network namespace inode */
	__u16 family;    /* AF_INET or AF_INET6 (the socket's family) */
	__u16 port;      /* host byte order; local port == remote port */
	__u16 range_lo;  /* the namespace's ip_local_port_range */
	__u16 range_hi;
	__u8 kind;       /* enum sc_event_kind */
	__u8 owner;      /* enum sc_owner_source */
	__u8 reserved;   /* port is in ip_local_reserved_ports */
	__u8 flags;      /* SC_FLAG_* */
	/* What tells the socket apart beyond its address and port. */
	union {
		__u32 sock_ino;      /* listeners and their closes: the socket's inode, as sock_diag reports it */
		__u32 bound_dev_if;  /* the other kinds: the device it is bound to (SO_BINDTODEVICE), or 0:
				      * two self-connects on one address and port can be open at
				      * once when each is bound to a device of its own */
	};
	__u8 addr[16];   /* AF_INET: first 4 bytes; AF_INET6: all 16 */
	char comm[SC_COMM_LEN];
};

/* What the holder iterator writes for each socket that holds the port it
 * was asked about (see holder_iterator.bpf.h). */
struct sc_holder {
	__u64 inode;     /* the socket's inode: one socket, however many fds */
	__u32 tgid;
	__u32 uid;
	__u16 family;
	__u16 sport;     /* host byte order */
	__u16 dport;     /* host byte order */
	__u8 state;      /* TCP state */
	__u8 pad;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[SC_COMM_LEN];
};

/* What the listener-origin iterator writes for each TCP listener of the
 * namespace it was opened in (see listener_origins.bpf.h). */
struct sc_listener_origin {
	__u64 inode;     /* the socket's inode, as sock_diag reports it */
	__u16 port;      /* host byte order */
	__u8 flags;      /* SC_FLAG_* */
	__u8 pad[5];
};

/* What the socket census writes for each TCP socket of the host that a
 * descriptor holds and the kernel has hashed (see socket_census.bpf.c). */
struct sc_census_socket {
	__u64 inode;     /* the socket's inode: one socket, however many fds */
	__u32 netns;     /* network namespace inode */
	__u8 flags;      /* SC_CENSUS_* */
	__u8 pad[3];
};
/* Its local address and port are its remote address and port. */
#define SC_CENSUS_SAME_ENDS 1
/* An MPTCP socket, not counted: its subflows are TCP sockets that no
 * descriptor holds. */
#define SC_CENSUS_MPTCP 2

/* What an event is about, for the once-a-second and fold tables: its
 * namespace, its command (user and process name), port and family (0 where
 * the table does not tell families apart). Built by userspace too, from a
 * self_connect record, to read that record's fold. */
struct sc_command_port {
	__u32 netns;
	__u32 uid;
	__u16 port;
	__u16 family;
	char comm[SC_COMM_LEN];
};

/* At most so many records a second per CPU-wide window; shared by the
 * kernel's gates. */
struct sc_rate_window {
	__u64 window_start;
	__u64 used;
};

/* One command's self-connects on one port (sc_command_port): the first
 * SC_SELF_CONNECTS_PER_COMMAND a second are written, the rest folded:
 * counted here and read by userspace, which writes one record for them. */
struct sc_fold {
	struct sc_rate_window written;
	__u64 folded;          /* since the entry was made; only grows */
	__u64 last_folded_ns;  /* bpf_ktime_get_ns() of the last one folded */
	__u64 made_ns;         /* when the entry was made: a new one counts from 0 */
};
#define SC_SELF_CONNECTS_PER_COMMAND 16

#define SC_EVENT_SIZE 80
#define SC_HOLDER_SIZE 72
#define SC_LISTENER_ORIGIN_SIZE 16
#define SC_CENSUS_SOCKET_SIZE 16
#define SC_COMMAND_PORT_SIZE 28
#define SC_FOLD_SIZE 40
#define SC_UNWRITTEN_CLOSE_SIZE 28

#ifdef __cplusplus
static_assert(sizeof(struct sc_event) == SC_EVENT_SIZE, "sc_event layout");
static_assert(sizeof(struct sc_holder) == SC_HOLDER_SIZE, "sc_holder layout");
static_assert(sizeof(struct sc_listener_origin) == SC_LISTENER_ORIGIN_SIZE, "sc_listener_origin layout");
static_assert(sizeof(struct sc_census_socket) == SC_CENSUS_SOCKET_SIZE, "sc_census_socket layout");
static_assert(sizeof(struct sc_command_port) == SC_COMMAND_PORT_SIZE, "sc_command_port layout");
static_assert(sizeof(struct sc_fold) == SC_FOLD_SIZE, "sc_fold layout");
static_assert(sizeof(struct sc_unwritten_close) == SC_UNWRITTEN_CLOSE_SIZE, "sc_unwritten_close layout");
#else
_Static_assert(sizeof(struct sc_event) == SC_EVENT_SIZE, "sc_event layout");
_Static_assert(sizeof(struct sc_holder) == SC_HOLDER_SIZE, "sc_holder layout");
_Static_assert(sizeof(struct sc_listener_origin) == SC_LISTENER_ORIGIN_SIZE, "sc_listener_origin layout");
_Static_assert(sizeof(struct sc_census_socket) == SC_CENSUS_SOCKET_SIZE, "sc_census_socket layout");
_Static_assert(sizeof(struct sc_command_port) == SC_COMMAND_PORT_SIZE, "sc_command_port layout");
_Static_assert(sizeof(struct sc_fold) == SC_FOLD_SIZE, "sc_fold layout");
_Static_assert(sizeof(struct sc_unwritten_close) == SC_UNWRITTEN_CLOSE_SIZE, "sc_unwritten_close layout");
#endif

#endif /* SELFCONNECT_EVENTS_H */
