/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types selfconnect's BPF side reads, and nothing else.
 *
 * Every struct carries preserve_access_index, so clang records a CO-RE
 * relocation for each field access and libbpf rewrites the offsets against
 * the running kernel's BTF at load time. Only the fields we touch need to
 * exist here, in any order; the real layouts may differ freely. The build
 * therefore never reads the build host's /sys/kernel/btf/vmlinux.
 *
 * Sources (all checked against 5.10, 6.1, 6.12 and 6.18):
 *   include/net/sock.h          struct sock_common, struct sock
 *   include/net/inet_sock.h     struct inet_sock
 *   include/net/inet_connection_sock.h, include/linux/tcp.h  (the path to it)
 *   include/net/netns/ipv4.h    struct netns_ipv4, struct local_ports
 *   include/linux/ns_common.h   struct ns_common
 *   include/trace/events/sock.h the inet_sock_set_state tracepoint record
 *   include/linux/nsproxy.h     struct nsproxy (a task's network namespace)
 *   include/linux/wait.h, include/linux/poll.h, fs/eventpoll.c  who waits on a socket
 *   include/linux/fs.h, include/linux/net.h  struct file, struct socket
 *   include/linux/bpf.h         the task_file iterator's context
 *   net/ipv4/tcp_ipv4.c         the tcp iterator's context
 *   include/uapi/linux/bpf.h    the cgroup connect hooks' and tc's contexts (fixed)
 *   include/trace/events/syscalls.h  the syscall tracepoints' records
 *
 * To add a field: copy its declaration from `bpftool btf dump file
 * /sys/kernel/btf/vmlinux format c` into the matching struct below. A type
 * whose shape changed between kernels gets a "___flavour" twin (see
 * local_ports___pair) and the BPF code picks one with bpf_core_* checks.
 */
#ifndef SELFCONNECT_VMLINUX_H
#define SELFCONNECT_VMLINUX_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

/* The UAPI enums and constants libbpf's headers need (bpf_helper_defs.h). */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 10,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

/*
 * The cgroup connect hooks' context and the socket lookup's key: UAPI, so
 * fixed (include/uapi/linux/bpf.h), and not relocated: the verifier itself
 * rewrites a context access to the kernel's own layout.
 */
struct bpf_sock {
	__u32 bound_dev_if;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 mark;
	__u32 priority;
	__u32 src_ip4;     /* the bound address, network byte order; 0: none */
	__u32 src_ip6[4];
	__u32 src_port;    /* the bound port, host byte order; 0: none yet */
};

struct bpf_sock_addr {
	__u32 user_family; /* the address connect() was given */
	__u32 user_ip4;    /* network byte order */
	__u32 user_ip6[4];
	__u32 user_port;   /* network byte order, in the low 16 bits */
	__u32 family;      /* the socket's */
	__u32 type;
	__u32 protocol;
	__u32 msg_src_ip4;
	__u32 msg_src_ip6[4];
	union {
		struct bpf_sock *sk;
		__u64 : 64;
	} __attribute__((aligned(8)));
};

struct bpf_sock_tuple {
	union {
		struct {
			__be32 saddr;
			__be32 daddr;
			__be16 sport;
			__be16 dport;
		} ipv4;
		struct {
			__be32 saddr[4];
			__be32 daddr[4];
			__be16 sport;
			__be16 dport;
		} ipv6;
	};
};

/* The context of a tc program (the guard on loopback): UAPI, fixed. Only
 * the fields up to `sk` are named; the rest is padding of the same size. */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;      /* ETH_P_*, network byte order */
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
	__u32 napi_id;
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	__u32 data_meta;
	union {
		void *flow_keys;
		__u64 : 64;
	} __attribute__((aligned(8)));
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	union {
		struct bpf_sock *sk; /* the sending socket, on egress */
		__u64 : 64;
	} __attribute__((aligned(8)));
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ns_common {
	unsigned int inum;
};

/* 6.3+ packs both bounds into one u32: low 16 bits = lo, high = hi. */
struct local_ports {
	__u32 range;
};

/* Up to 6.2 the bounds were two ints. Same kernel struct, older shape. */
struct local_ports___pair {
	int range[2];
};

struct netns_ipv4 {
	struct local_ports ip_local_ports;
	unsigned long *sysctl_local_reserved_ports;
};

struct net {
	struct ns_common ns;
	struct netns_ipv4 ipv4;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct hlist_node {
	struct hlist_node *next;
	struct hlist_node **pprev; /* NULL while the socket is not hashed */
};

struct sock_common {
	struct hlist_node skc_node; /* in a union with skc_nulls_node, same pprev */
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__u64 skc_addrpair; /* union of the two above: one load reads both */
	__be16 skc_dport;
	__u16 skc_num;
	__u32 skc_portpair; /* union of the two above */
	unsigned short skc_family;
	volatile unsigned char skc_state;
	int skc_bound_dev_if; /* SO_BINDTODEVICE's ifindex, 0 for none */
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

typedef struct {
	unsigned int val;
} kuid_t;

struct cred {
	kuid_t uid;
	kuid_t fsuid; /* what a socket's sk_uid is made from, at socket() */
};

struct kernfs_node {
	__u64 id; /* a u64 since 5.5 */
};

struct cgroup {
	struct kernfs_node *kn;
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

struct nsproxy {
	struct net *net_ns;
};

struct file;

/* A task's descriptors: read only for a bind() refused with EADDRINUSE. */
struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	unsigned int flags; /* PF_KTHREAD */
	void *stack; /* the base of its kernel stack */
	int pid; /* the thread id */
	int tgid;
	const struct cred *cred;
	struct css_set *cgroups;
	struct nsproxy *nsproxy;
	struct files_struct *files;
	char comm[16];
};

struct socket;

/* Who waits on a socket (include/linux/wait.h, include/linux/net.h,
 * include/linux/poll.h): connect() sleeps on a wait entry on its own
 * stack whose private is the task; poll() and select() on one whose
 * private is their struct poll_wqueues. */
struct list_head {
	struct list_head *next;
};

struct wait_queue_entry {
	void *private;
	void *func;
	struct list_head entry;
};

struct wait_queue_head {
	struct list_head head;
};

struct socket_wq {
	struct wait_queue_head wait;
};

struct poll_wqueues {
	struct task_struct *polling_task;
};

/* fs/eventpoll.c: an epoll's entry on a socket's queue leads to the
 * epoll, whose own queue holds the tasks in epoll_wait(). */
struct eventpoll {
	struct wait_queue_head wq;
};

struct epitem {
	struct eventpoll *ep;
};

struct eppoll_entry {
	struct epitem *base;
	struct wait_queue_entry wait;
};

/* Set while a task holds the socket (lock_sock). */
typedef struct {
	int owned;
} socket_lock_t;

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol; /* a plain field since 5.6, the kernel floor is 5.8 */
	__u8 sk_userlocks; /* a 4-bit bitfield up to 6.8, a u8 since: read only with BPF_CORE_READ_BITFIELD_PROBED */
	int sk_err;
	struct socket *sk_socket;
	kuid_t sk_uid; /* whose socket it is, from socket(): budgets what no task can be named for */
	socket_lock_t sk_lock;
	struct socket_wq *sk_wq; /* in an anonymous union with sk_wq_raw where the kernel has one */
};

/* The source port as the socket was connected with. skc_num is zeroed when
 * a socket that was not bound explicitly gives its port back on close
 * (inet_put_port), before the CLOSE transition is traced; inet_sport is not.
 * Reached from the struct tcp_sock that bpf_skc_to_tcp_sock() returns. */
struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
};

struct inet_connection_sock {
	struct inet_sock icsk_inet;
};

struct tcp_sock {
	struct inet_connection_sock inet_conn;
};

struct inode {
	unsigned long i_ino;
};

struct file {
	struct inode *f_inode;
	void *private_data; /* a socket file's struct socket */
};

struct socket {
	short type; /* SOCK_STREAM, SOCK_RAW, ... */
	struct sock *sk;
	struct file *file;
};

/* How a struct socket is allocated, with its inode (include/net/sock.h):
 * SOCK_INODE(), which sock_diag's inode numbers come from. */
struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
};

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
};

/* The context of an iter/tcp program (5.9): one TCP socket of the
 * namespace the iterator was opened in, of any kind (a request or a
 * TIME_WAIT socket too; skc_state tells). */
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
};

/* The context of an iter/task_file program: one open file of one task. */
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
};

#pragma clang attribute pop

/* The records of the per-syscall tracepoints (syscalls/sys_enter_NAME and
 * sys_exit_NAME): fixed since they were added, read at constant offsets. */
struct trace_event_raw_sys_enter {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	long id;                    /* offset 8 */
	unsigned long args[6];      /* 16 */
};

struct trace_event_raw_sys_exit {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	long id;                    /* offset 8 */
	long ret;                   /* 16 */
};

/*
 * The classic tracepoint's record, exactly as the kernel lays it out. It is
 * deliberately NOT relocatable: the verifier only lets a tracepoint program
 * read its context at constant offsets, and CO-RE offsets of array members
 * come out as pointer arithmetic. The layout has not changed since 4.16
 * (when `family` was added); the loader compares it with the kernel's own
 * events/sock/inet_sock_set_state/format before it uses this mode.
 */
struct trace_event_raw_inet_sock_set_state {
	__u16 common_type;          /* offset 0 */
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	const void *skaddr;         /* offset 8 */
	int oldstate;               /* 16 */
	int newstate;               /* 20 */
	__u16 sport;                /* 24, host byte order */
	__u16 dport;                /* 26, host byte order */
	__u16 family;               /* 28 */
	__u16 protocol;             /* 30 */
	__u8 saddr[4];              /* 32 */
	__u8 daddr[4];              /* 36 */
	__u8 saddr_v6[16];          /* 40 */
	__u8 daddr_v6[16];          /* 56 */
};

#endif /* SELFCONNECT_VMLINUX_H */
