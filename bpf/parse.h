/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Parsing the outer headers of an arriving packet: Ethernet (one VLAN
 * tag), IPv4 with options or IPv6 with extension headers, then ESP
 * (protocol 50) or ESP in UDP 4500 (RFC 3948).
 */
#ifndef IPSECIF_PARSE_H
#define IPSECIF_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "common.h"
#include "ipsecif.h"

#define ETH_P_8021Q_	0x8100
#define ETH_P_8021AD_	0x88a8
#define IPPROTO_ESP_	50
#define IPV6_EXT_MAX	4	/* extension headers walked before giving up */

#ifndef AF_INET
#define AF_INET		2
#define AF_INET6	10
#endif

struct outer {
	__u32 l3_off;		/* outer IP header */
	__u32 esp_off;		/* ESP header (after UDP with NAT-T) */
	__u32 esp_len;		/* ESP header to the end of the IP payload */
	__u16 family;
	__u8 ecn;		/* outer ECN field */
	__u8 natt;		/* arrived in UDP */
	__be16 sport;		/* UDP ports with NAT-T */
	__be16 dport;
	union ipsecif_addr src;
	union ipsecif_addr dst;
};

/*
 * What parse_outer() says.  Only PARSE_PASS and PARSE_BAD_IP are final:
 * the others name a packet that is ours only if it is addressed to one
 * of our tunnel endpoints (esp_in.h); o->family, src and dst are set.
 */
enum {
	PARSE_ESP = 0,		/* ESP, or ESP in UDP 4500, to look at */
	PARSE_PASS = 1,		/* not ESP (or IKE, or a keepalive): the stack's */
	PARSE_BAD = 2,		/* ESP or UDP 4500, but truncated or inconsistent */
	PARSE_FRAG = 3,		/* a fragment of ESP */
	PARSE_BAD_IP = 4,	/* ESP behind an IPv4 header no host or router takes */
};

/* One 8-byte IPv6 extension header's (next, length) pair. */
struct ipv6_opt_hdr_ {
	__u8 nexthdr;
	__u8 hdrlen;
};

/* The IPv6 fragment header (RFC 8200 §4.5). */
struct ipv6_frag_hdr_ {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M */
	__be32 id;
};

#define IPV6_FRAG_OFF_M	0xfff9	/* offset and M: set unless an atomic fragment */

static __always_inline int parse_outer(struct xdp_md *ctx, struct outer *o)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth), ip_end, ulen, i;
	__u16 proto;
	__u8 nexthdr;

	if ((void *)(eth + 1) > end)
		return PARSE_PASS;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q_) || proto == bpf_htons(ETH_P_8021AD_)) {
		__be16 *inner = data + off + 2;

		if ((void *)(inner + 1) > end)
			return PARSE_PASS;
		proto = *inner;
		off += 4;
	}

	o->l3_off = off;
	o->src.v6w[0] = o->src.v6w[1] = o->src.v6w[2] = o->src.v6w[3] = 0;
	o->dst = o->src;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 ihl;

		if ((void *)(ip + 1) > end)
			return PARSE_PASS;
		nexthdr = ip->protocol;
		if (nexthdr != IPPROTO_ESP_ && nexthdr != IPPROTO_UDP)
			return PARSE_PASS;
		o->family = AF_INET;
		o->ecn = ip->tos & 3;
		o->src.v4 = ip->saddr;
		o->dst.v4 = ip->daddr;
		ihl = ip->ihl * 4;
		/*
		 * RFC 791: at least five words.  No host takes such a header and
		 * no router forwards it (RFC 1812 §5.2.2), whoever it is for.
		 */
		if (ip->version != 4 || ihl < sizeof(*ip))
			return nexthdr == IPPROTO_ESP_ ? PARSE_BAD_IP : PARSE_PASS;
		/*
		 * Fragments need reassembly first (RFC 4303 §3.4.1), which XDP
		 * cannot do.  Later fragments of UDP do not say their port: all
		 * UDP fragments are the stack's.
		 */
		if (ip->frag_off & bpf_htons(0x3fff))
			return nexthdr == IPPROTO_ESP_ ? PARSE_FRAG : PARSE_PASS;
		ip_end = off + bpf_ntohs(ip->tot_len);
		off += ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > end)
			return PARSE_PASS;
		if (ip6->version != 6)
			return PARSE_PASS;
		o->family = AF_INET6;
		o->ecn = (bpf_ntohs(*(__be16 *)ip6) >> 4) & 3;
		__builtin_memcpy(o->src.v6, &ip6->saddr, 16);
		__builtin_memcpy(o->dst.v6, &ip6->daddr, 16);
		ip_end = off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		nexthdr = ip6->nexthdr;
		off += sizeof(*ip6);
		/*
		 * Hop-by-hop, routing and destination options come before ESP
		 * (RFC 8200 §4.1); so may a fragment header.  An atomic fragment
		 * (offset 0, no M: RFC 6946) is a whole packet, parsed past like
		 * the others; a real fragment of ESP is PARSE_FRAG, and of
		 * anything else (UDP included, as for IPv4) the stack's.
		 */
		for (i = 0; i < IPV6_EXT_MAX; i++) {
			struct ipv6_opt_hdr_ *h;

			h = data + (off & 0xffff);
			if (nexthdr == 44) {
				struct ipv6_frag_hdr_ *f = (void *)h;

				if ((void *)(f + 1) > end)
					return PARSE_PASS;
				if (f->frag_off & bpf_htons(IPV6_FRAG_OFF_M))
					return f->nexthdr == IPPROTO_ESP_ ? PARSE_FRAG : PARSE_PASS;
				nexthdr = f->nexthdr;
				off += sizeof(*f);
				continue;
			}
			if (nexthdr != 0 && nexthdr != 43 && nexthdr != 60)
				break;
			if ((void *)(h + 1) > end)
				return PARSE_PASS;
			nexthdr = h->nexthdr;
			off += (h->hdrlen + 1) * 8;
		}
		if (nexthdr != IPPROTO_ESP_ && nexthdr != IPPROTO_UDP)
			return PARSE_PASS;
	} else {
		return PARSE_PASS;
	}

	o->natt = 0;
	o->sport = o->dport = 0;
	if (nexthdr == IPPROTO_UDP) {
		struct udphdr *udp = data + (off & 0xffff);
		__u32 *marker = (void *)(udp + 1);

		if ((void *)(udp + 1) > end)
			return PARSE_PASS;
		if (udp->dest != bpf_htons(IPSECIF_NATT_PORT))
			return PARSE_PASS;
		ulen = bpf_ntohs(udp->len);
		/* IPv6: 0 is a jumbogram's, the rest of the packet (RFC 2675 §4), as Linux takes it. */
		if (ulen == 0 && o->family == AF_INET6 && ip_end > off)
			ulen = ip_end - off;
		/* RFC 768: the length counts the 8-byte header and fits in the IP payload. */
		if (ulen < sizeof(*udp) || off + ulen > ip_end)
			return PARSE_BAD;
		/* RFC 3948 §2.2: a one-byte 0xff payload is a NAT-keepalive. */
		if (ulen <= sizeof(*udp) + 1)
			return PARSE_PASS;
		/* §2.2: a zero non-ESP marker means IKE: the stack's. */
		if ((void *)(marker + 1) > end || *marker == 0)
			return PARSE_PASS;
		o->natt = 1;
		o->sport = udp->source;
		o->dport = udp->dest;
		/* ESP ends with the datagram, whatever follows it in the IP packet. */
		ip_end = off + ulen;
		off += sizeof(*udp);
	}
	if (ip_end > bpf_xdp_get_buff_len(ctx) || off + 8 > ip_end)
		return PARSE_BAD;
	o->esp_off = off;
	o->esp_len = ip_end - off;
	return PARSE_ESP;
}

#endif /* IPSECIF_PARSE_H */
