/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a network namespace says about its ports: the ephemeral range
 * (net.ipv4.ip_local_port_range) and the reserved ports
 * (net.ipv4.ip_local_reserved_ports). Read by the state hook and the
 * reports, from a struct net they already hold.
 */
#ifndef SELFCONNECT_NAMESPACE_READS_BPF_H
#define SELFCONNECT_NAMESPACE_READS_BPF_H

/* The namespace's net.ipv4.ip_local_port_range. Its kernel shape changed:
 * two ints up to 6.2, one packed u32 (lo | hi << 16) since. `btf`: `net` is
 * a BTF pointer the verifier lets us load from directly; otherwise it is
 * read with bpf_probe_read_kernel. A compile-time constant at each call
 * site, so each program keeps only its own way. */
static __always_inline void namespace_range(struct net *net, bool btf, __u16 *lo, __u16 *hi)
{
	if (bpf_core_field_exists(((struct local_ports___pair *)0)->range)) {
		struct local_ports___pair *p = (void *)&net->ipv4.ip_local_ports;
		int r0, r1;

		if (btf) {
			r0 = p->range[0];
			r1 = p->range[1];
		} else {
			r0 = BPF_CORE_READ(p, range[0]);
			r1 = BPF_CORE_READ(p, range[1]);
		}
		*lo = r0;
		*hi = r1;
	} else {
		__u32 packed = btf ? net->ipv4.ip_local_ports.range
				   : BPF_CORE_READ(net, ipv4.ip_local_ports.range);
		*lo = packed & 0xffff;
		*hi = packed >> 16;
	}
}

/* Is `port` in the namespace's net.ipv4.ip_local_reserved_ports? One word
 * of its bitmap, read with bpf_probe_read_kernel (the index varies, which
 * a direct load may not). */
static __always_inline bool port_reserved(struct net *net, __u16 port)
{
	unsigned long *bitmap = BPF_CORE_READ(net, ipv4.sysctl_local_reserved_ports);
	unsigned long word = 0;

	if (!bitmap)
		return false;
	bpf_probe_read_kernel(&word, sizeof(word), bitmap + port / 64);
	return (word >> (port % 64)) & 1;
}

#endif /* SELFCONNECT_NAMESPACE_READS_BPF_H */
