// SPDX-License-Identifier: GPL-2.0
/*
 * The socket census alone (socket_census.bpf.h), for audit: one program, so
 * that audit loads neither the watcher's hooks nor its maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "events.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_MPTCP 262
#define SOCK_STREAM 1

#include "socket_census.bpf.h"

char LICENSE[] SEC("license") = "GPL";
