/* SPDX-License-Identifier: GPL-2.0-only */
/* Forwarding helpers for the XDP line-rate path (fast.h, esp_in.h). */
#ifndef IPSECIF_FWD_H
#define IPSECIF_FWD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "common.h"
#include "parse.h"

/*
 * A forwarded packet's TTL or hop limit goes down by one (RFC 1812
 * §5.3.1, RFC 8200 §3) at the IP header in the scratch.  False when it
 * would reach zero: the kernel must answer with an ICMP error.
 */
static __always_inline bool fwd_ttl(__u8 *h, bool v6)
{
	__u32 sum;

	if (v6) {
		if (h[7] <= 1)
			return false;
		h[7]--;
		return true;
	}
	if (h[8] <= 1)
		return false;
	/* RFC 1624: the TTL word goes down by 0x0100, the checksum up by it. */
	h[8]--;
	sum = ((h[10] << 8) | h[11]) + 0x0100;
	sum = (sum & 0xffff) + (sum >> 16);
	h[10] = sum >> 8;
	h[11] = sum & 0xff;
	return true;
}

/* The route of the IP packet at h, as forwarded from ifindex; 0 or the fib code. */
static __always_inline int fib_inner(void *ctx, struct bpf_fib_lookup *fib, const __u8 *h,
				     bool v6, __u32 len, __u32 ifindex)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = ifindex;
	fib->tot_len = len;
	if (v6) {
		fib->family = AF_INET6;
		fib->flowinfo = ld32(h) & bpf_htonl(0x0fffffff);
		__builtin_memcpy(fib->ipv6_src, h + 8, 16);
		__builtin_memcpy(fib->ipv6_dst, h + 24, 16);
	} else {
		fib->family = AF_INET;
		fib->tos = h[1];
		fib->ipv4_src = ld32(h + 12);
		fib->ipv4_dst = ld32(h + 16);
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

#endif /* IPSECIF_FWD_H */
