/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The XDP line-rate path, off by default (it bypasses netfilter on
 * ipsecN): xdp_lan on LAN-facing devices seals packets whose route points
 * into an ipsecif interface and sends them straight to the underlay,
 * without an skb; inbound, with IPSECIF_F_XDP_FWD, decapsulated packets
 * go straight to their egress device (esp_in.h).  Whatever the fast path
 * cannot finish (no neighbour entry yet, TTL running out, a packet over
 * ipsecN's MTU that needs an ICMP error) it leaves to the kernel, which
 * takes the ordinary path.
 */
#ifndef IPSECIF_FAST_H
#define IPSECIF_FAST_H

#include "esp_out.h"
#include "fwd.h"

/*
 * xdp_lan, stage one: is this a packet the kernel would route into an
 * ipsecif device?  Then into the scratch with its TTL decremented (the
 * frame is as it came); returns the reqid, or ESP_NOT_OURS.  Whether the
 * route's device is the interface's, and the MTU, xdp_lan_fast checks
 * with its one lookup of the interface.
 */
__noinline int lan_classify(struct xdp_md *ctx)
{
	struct esp_out_state *st;
	struct scratch *s = scratch_get();
	__u32 zero = 0, len, reqid, *rq, ifx;
	__be16 proto;
	bool v6;
	int r;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	if (!ctx || !st || !s)
		return ESP_NOT_OURS;
	if (bpf_xdp_load_bytes(ctx, 12, &proto, 2))
		return ESP_NOT_OURS;
	if (proto == bpf_htons(ETH_P_IP))
		v6 = false;
	else if (proto == bpf_htons(ETH_P_IPV6))
		v6 = true;
	else
		return ESP_NOT_OURS;
	/* The first 40 bytes tell the route; the rest is loaded once it is ours. */
	if (bpf_xdp_load_bytes(ctx, 14, &s->buf[SCR_TEXT], 40))
		return ESP_NOT_OURS;
	if (v6) {
		if ((s->buf[SCR_TEXT] >> 4) != 6)
			return ESP_NOT_OURS;
		len = 40 + (ld_be32(&s->buf[SCR_TEXT + 4]) >> 16);
	} else {
		if (s->buf[SCR_TEXT] != 0x45)	/* options: the kernel's */
			return ESP_NOT_OURS;
		len = ld_be32(&s->buf[SCR_TEXT]) & 0xffff;
	}
	if (len < 40 || len + 14 > bpf_xdp_get_buff_len(ctx) || len > IPSECIF_MAX_TEXT - 32)
		return ESP_NOT_OURS;

	r = fib_inner(ctx, &st->fib, &s->buf[SCR_TEXT], v6, len, ctx->ingress_ifindex);
	if (r != BPF_FIB_LKUP_RET_SUCCESS && r != BPF_FIB_LKUP_RET_NO_NEIGH)
		return ESP_NOT_OURS;
	ifx = st->fib.ifindex;
	rq = bpf_map_lookup_elem(&if_reqid, &ifx);
	if (!rq)
		return ESP_NOT_OURS;
	reqid = *rq;
	barrier_var(len);
	if (len > IPSECIF_MAX_TEXT - 32 ||
	    bpf_xdp_load_bytes(ctx, 14, &s->buf[SCR_TEXT], len))
		return ESP_NOT_OURS;
	if (!fwd_ttl(&s->buf[SCR_TEXT], v6))
		return ESP_NOT_OURS;
	st->len = len;
	st->inner_proto = proto;
	return reqid;
}

/*
 * A packet sealed here that goes the kernel's way after all, unchanged:
 * tc_esp_out seals and counts it again, so what esp_seal_prepare counted
 * against the SA's lifetimes is taken back, or the SA would count it
 * twice and expire early.  Its sequence number stays used: a gap, which
 * the receiver's window does not mind (RFC 4303 §3.4.3).
 */
static __always_inline int lan_pass(const struct esp_out_state *st)
{
	struct ipsecif_sa_ctr *c = sa_ctr_get(st->id);

	if (c) {
		__sync_fetch_and_add(&c->bytes, -(__u64)st->len);
		__sync_fetch_and_add(&c->packets, -1ULL);
	}
	return XDP_PASS;
}

/*
 * xdp_lan, last stage: the outer route with its neighbour, then the frame
 * rewritten and sent.  Without a neighbour entry yet the packet, still as
 * it came, takes the kernel's path, which will resolve one.
 */
__noinline int lan_send(struct xdp_md *ctx)
{
	struct esp_out_state *st;
	struct scratch *s = scratch_get();
	__u32 zero = 0, out_len, off, trl;
	int r, delta;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	if (!ctx || !st || !s)
		return XDP_ABORTED;
	st->fib.ifindex = ctx->ingress_ifindex;
	r = bpf_fib_lookup(ctx, &st->fib, sizeof(st->fib), 0);
	/* The engine's way back sends through the neighbour table (eng_link.h). */
	if (r == BPF_FIB_LKUP_RET_NO_NEIGH && !st->eng)
		return lan_pass(st);
	if (esp_route_verdict(st, r) != ESP_GO)
		return XDP_DROP;

	out_len = st->out_len;
	off = st->out_off;
	trl = st->eng ? ENG_TRL : 0;
	barrier_var(off);
	if (off < 14 || off > SCR_TEXT || out_len > IPSECIF_MAX_TEXT + 120) {
		esp_out_drop(st->id, st->reqid, IPSECIF_DROP_MALFORMED);
		return XDP_DROP;
	}
	if (trl)
		esp_out_trailer(st, s);
	__builtin_memcpy(&s->buf[off - 14], st->fib.dmac, 6);
	__builtin_memcpy(&s->buf[off - 8], st->fib.smac, 6);
	s->buf[off - 2] = st->family == AF_INET6 ? 0x86 : 0x08;
	s->buf[off - 1] = st->family == AF_INET6 ? 0xdd : 0x00;

	/*
	 * Outer headers into the headroom (XDP keeps 256 bytes), trailer and
	 * ICV into the tailroom, which is often short: grow each end by what
	 * goes there only.
	 */
	delta = (int)(SCR_TEXT - off);
	if (bpf_xdp_adjust_head(ctx, -delta))
		return lan_pass(st);	/* no room: the kernel's path */
	delta = (int)(14 + out_len + trl) - (int)bpf_xdp_get_buff_len(ctx);
	if (bpf_xdp_adjust_tail(ctx, delta)) {
		bpf_xdp_adjust_head(ctx, (int)(SCR_TEXT - off));
		return lan_pass(st);
	}
	barrier_var(out_len);
	if (out_len < 28 || out_len > IPSECIF_MAX_TEXT + 120 ||
	    bpf_xdp_store_bytes(ctx, 0, &s->buf[off - 14], 14 + out_len)) {
		esp_out_drop(st->id, st->reqid, IPSECIF_DROP_MALFORMED);
		return XDP_DROP;
	}
	if (trl) {
		if (bpf_xdp_store_bytes(ctx, 14 + out_len, &s->tail[0], ENG_TRL)) {
			esp_out_drop(st->id, st->reqid, IPSECIF_DROP_MALFORMED);
			return XDP_DROP;
		}
		r = bpf_redirect(st->eng, 0);
		if (r != XDP_REDIRECT) {
			esp_out_drop(st->id, st->reqid, IPSECIF_DROP_REDIRECT_FAILED);
			return XDP_DROP;
		}
		eng_count(ENG_SENT, DIR_OUT);
		return r;
	}
	/* As on the way in (esp_in_finish): counted once the helper took it. */
	r = bpf_redirect(st->fib.ifindex, 0);
	if (r != XDP_REDIRECT) {
		esp_out_drop(st->id, st->reqid, IPSECIF_DROP_REDIRECT_FAILED);
		return XDP_DROP;
	}
	count(DIR_OUT, st->id, st->reqid, PASSED_FAST, st->len);
	return r;
}

static __always_inline int xdp_lan_fast(struct xdp_md *ctx)
{
	struct esp_out_state *st;
	struct ipsecif_iface *ifc;
	__u32 zero = 0;
	int reqid = lan_classify(ctx);

	if (reqid < 0)
		return XDP_PASS;
	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	ifc = bpf_map_lookup_elem(&ifaces, &reqid);
	/* Over ipsecN's MTU: the kernel sends "packet too big" (PMTU discovery). */
	if (!st || !ifc || ifc->ifindex != st->fib.ifindex || st->len > ifc->mtu)
		return XDP_PASS;
	if (esp_seal(reqid, ifc) != ESP_GO)
		return XDP_DROP;
	return lan_send(ctx);
}

#endif /* IPSECIF_FAST_H */
