/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Inbound ESP (RFC 4303 §3.4) on the underlay, in XDP: find the SA, check
 * the sequence number, verify and decrypt, check the trailer, apply
 * RFC 6040 decapsulation, and hand the inner packet to ipsecN by
 * redirecting it, in an Ethernet frame, into ipsecN's veth peer.
 */
#ifndef IPSECIF_ESP_IN_H
#define IPSECIF_ESP_IN_H

#include "crypto.h"
#include "replay.h"
#include "parse.h"
#include "ecn.h"
#include "stats.h"
#include "events.h"
#include "fwd.h"
#include "engine.h"

static __always_inline bool addr_eq(const union ipsecif_addr *a, const union ipsecif_addr *b)
{
	return a->v6w[0] == b->v6w[0] && a->v6w[1] == b->v6w[1] &&
	       a->v6w[2] == b->v6w[2] && a->v6w[3] == b->v6w[3];
}

/*
 * AEAD AAD: SPI | seq (8 bytes), or SPI | seq high | seq low with ESN
 * (RFC 4106 §5, RFC 7634 §2.1).  Zero-padded: the AEADs expect that.
 */
static __always_inline __u32 esp_aad(struct scratch *s, __u32 spi, __u64 seq, bool esn)
{
	st64(&s->aad[0], 0);
	st64(&s->aad[8], 0);
	st64(&s->aad[16], 0);
	st64(&s->aad[24], 0);
	st32(&s->aad[0], spi);
	if (!esn) {
		st_be32(&s->aad[4], (__u32)seq);
		return 8;
	}
	st_be32(&s->aad[4], seq >> 32);
	st_be32(&s->aad[8], (__u32)seq);
	return 12;
}

/*
 * Self-describing padding 1, 2, 3, ... (RFC 4303 §2.4: with the default
 * padding the receiver SHOULD inspect the Padding field); 0 when it is.
 * Only the padlen bytes there are read: the check runs after the ICV
 * verified, when neither the pad bytes nor their count are secret (the
 * count only tells the inner length, which the inner header says too),
 * so an early exit leaks nothing.  A bounded loop with a constant limit
 * (a pad length byte is at most 255) that stops at padlen: the verifier
 * sees 255 iterations at most, a packet pays for padlen.
 */
static __always_inline __u32 esp_pad_bad(struct scratch *s, __u32 text, __u32 padlen)
{
	__u32 start = text - 2 - padlen, bad = 0, i;

	barrier_var(start);
	if (start > IPSECIF_MAX_TEXT)
		return 1;
	for (i = 0; i < 255; i++) {
		if (i >= padlen)
			break;
		bad |= s->buf[SCR_TEXT + start + i] ^ (i + 1);
	}
	return bad;
}

/* Set the inner header's ECN field in the scratch buffer (IPv4: fix the checksum). */
static __always_inline void inner_set_ecn(struct scratch *s, bool v6, __u8 ecn)
{
	__u8 *h = &s->buf[SCR_TEXT];

	if (v6) {
		h[1] = (h[1] & ~0x30) | (ecn << 4);
	} else {
		/* RFC 1624 incremental update of the word holding the TOS byte. */
		__u16 old = (h[0] << 8) | h[1], new = (h[0] << 8) | ((h[1] & ~3) | ecn);
		__u32 sum = (__u16)~((h[10] << 8) | h[11]) + (__u16)~old + new;

		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		h[1] = new & 0xff;
		h[10] = (~sum >> 8) & 0xff;
		h[11] = ~sum & 0xff;
	}
}

/*
 * Per-packet state in a per-CPU map.  As on the way out, the work before
 * and after the cipher runs in functions whose frames are gone while the
 * cipher runs: BPF's 512-byte stack is shared along the call chain.
 */
struct esp_in_state {
	struct outer o;
	struct ipsecif_sa_key sk;
	struct crypt_args a;
	__u64 seq;			/* the full sequence number, ESN inferred */
	__u32 sa_id;
	__u32 reqid;
	__u32 seql;			/* the sequence number's low half, as on the wire */
	__u32 text;
	__u32 hdr;			/* ESP header + IV */
	__u32 icv;
	__u32 enc;
	__u32 eng;			/* the engine's link, when it opens this packet; or 0 */
	__u32 ilen;			/* esp_in_accept: the inner packet */
	__u32 v6;			/* and its family */
	struct ipsecif_iface ifc;	/* the SA's interface, as esp_in_accept found it */
	struct bpf_fib_lookup fib;	/* the XDP forwarding path's route */
	struct ipsecif_sa sa;		/* the SA, as esp_in_find read it: its lifetimes */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct esp_in_state);
} esp_in_state_map SEC(".maps");

#define ESP_IN_OPEN	(-1)	/* esp_in_prepare: go on to the cipher */
#define ESP_IN_ENGINE	(-2)	/* esp_in_prepare: to the engine (esp_in_engine) */

/* What endpoint_cb() looks for, and whether it found it. */
struct endpoint_find {
	union ipsecif_addr addr;
	__u32 family;
	__u32 found;
};

static long endpoint_cb(void *map, const __u32 *reqid, struct ipsecif_iface *ifc,
			struct endpoint_find *f)
{
	if (ifc->family != f->family || !addr_eq(&ifc->src, &f->addr))
		return 0;
	f->found = 1;
	return 1;	/* stop */
}

/*
 * Is the outer destination the near end of one of our tunnels?  Only
 * then is ESP without an SA, a fragment of ESP or broken ESP in UDP ours
 * to count and drop; anything else is between third parties and the
 * kernel routes it as it is (a gateway carries its hosts' own IPsec).
 * The interfaces are keyed by reqid, so this walks them: once per packet
 * that found no SA, at most IPSECIF_MAX_IFACES steps, and no map the
 * agent must keep besides ifaces.  A route lookup would tell local from
 * forwarded, but not a tunnel endpoint from the gateway's other
 * addresses, and depends on the forwarding sysctls.
 */
static __always_inline bool endpoint_local(const struct outer *o)
{
	struct endpoint_find f = { .addr = o->dst, .family = o->family };

	bpf_for_each_map_elem(&ifaces, endpoint_cb, &f, 0);
	return f.found;
}

static __always_inline int esp_in_drop(const struct esp_in_state *st, __u32 reason)
{
	count(DIR_IN, st->sa_id, st->reqid, reason, 0);
	return XDP_DROP;
}

/* SPI | seq | IV | text | ICV into the scratch, text at SCR_TEXT: ESP_IN_OPEN or a drop. */
__noinline int esp_in_load(struct xdp_md *ctx)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	__u32 hdr, esp_len, zero = 0;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!ctx || !st || !s)
		return XDP_ABORTED;
	hdr = st->hdr;
	esp_len = st->o.esp_len;
	if (hdr > 24 || esp_len < 12 || esp_len > IPSECIF_MAX_TEXT + 24 + IPSECIF_MAX_ICV_LEN)
		return esp_in_drop(st, IPSECIF_DROP_TOO_BIG);
	if (bpf_xdp_load_bytes(ctx, st->o.esp_off, &s->buf[SCR_TEXT - hdr], esp_len))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	__builtin_memcpy(st->a.iv, &s->buf[SCR_TEXT - 8], 8);
	return ESP_IN_OPEN;
}

/*
 * Room for the trailer where there is no tailroom (a veth's frames made
 * from skbs often have none): the frame moved ENG_TRL bytes into the
 * headroom, which XDP always has, through the scratch.  0 or -1.
 */
static __always_inline int esp_in_make_room(struct xdp_md *ctx, struct scratch *s)
{
	__u32 len = bpf_xdp_get_buff_len(ctx);

	barrier_var(len);
	if (len > IPSECIF_ENG_MAX_FRAME || len < 14 || bpf_xdp_adjust_head(ctx, -(int)ENG_TRL))
		return -1;
	if (bpf_xdp_load_bytes(ctx, ENG_TRL, s->buf, len) || bpf_xdp_store_bytes(ctx, 0, s->buf, len))
		return -1;
	return 0;
}

/*
 * To the engine: the frame as it came, with a trailer at its end that
 * says what to open and what the way back (eng_link.h) needs to finish.
 * ESP_IN_OPEN when the frame cannot have one: BPF opens it.
 */
__noinline int esp_in_engine(struct xdp_md *ctx)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	struct ipsecif_eng_trailer *t;
	__u32 len, zero = 0;
	int r;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!ctx || !st || !s)
		return XDP_ABORTED;
	t = eng_trailer(s, IPSECIF_ENG_OPEN, DIR_IN, st->sa_id, st->seq, st->reqid,
			st->o.esp_off, st->hdr, st->text, st->enc, st->icv, st->a.aad_len);
	t->len = st->text;
	t->family = st->o.family;
	t->ecn = st->o.ecn;
	__builtin_memcpy(t->dst, &st->o.dst, 16);
	t->spi = st->sk.spi;
	if (bpf_xdp_adjust_tail(ctx, ENG_TRL) && esp_in_make_room(ctx, s))
		return esp_in_load(ctx);
	len = bpf_xdp_get_buff_len(ctx);
	if (len < ENG_TRL || bpf_xdp_store_bytes(ctx, len - ENG_TRL, t, ENG_TRL))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	r = bpf_redirect(st->eng, 0);
	if (r != XDP_REDIRECT)
		return esp_in_drop(st, IPSECIF_DROP_REDIRECT_FAILED);
	eng_count(ENG_SENT, DIR_IN);
	return r;
}

/*
 * Parse, find the SA and check the outer source: ESP_IN_OPEN with the SA
 * copied into st->sa (and st->sa_id, st->reqid, st->seql set), or a
 * verdict.  The SA's id then names the lookups esp_in() makes once for
 * all the stages.
 */
__noinline int esp_in_find(struct xdp_md *ctx)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	struct ipsecif_sa *sa;
	__u32 spi, zero = 0;
	int r;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!ctx || !st || !s)
		return XDP_ABORTED;
	st->sa_id = 0;
	st->reqid = 0;
	r = parse_outer(ctx, &st->o);
	if (r == PARSE_PASS)
		return XDP_PASS;
	if (r == PARSE_BAD_IP)
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	/*
	 * A fragment of ESP, or broken ESP in UDP: ours to count and drop only
	 * when it is for one of our endpoints; for others it passes.  A
	 * fragment would need reassembly first (RFC 4303 §3.4.1), and we never
	 * send one (no ESP packet is fragmented: MTU in docs/DATAPATH.md).
	 */
	if (r != PARSE_ESP) {
		if (!endpoint_local(&st->o))
			return XDP_PASS;
		return esp_in_drop(st, r == PARSE_FRAG ? IPSECIF_DROP_FRAGMENT :
					IPSECIF_DROP_MALFORMED);
	}

	if (bpf_xdp_load_bytes(ctx, st->o.esp_off, &s->tag[0], 8))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	spi = ld32(&s->tag[0]);
	st->seql = ld_be32(&s->tag[4]);

	/* SA by SPI, destination and family (RFC 4301 §4.1); then the source. */
	st->sk.spi = spi;
	st->sk.family = st->o.family;
	st->sk.dst = st->o.dst;
	sa = bpf_map_lookup_elem(&sa_in, &st->sk);
	if (!sa) {
		/* Transit ESP passes; ours under an SPI we do not know is a drop. */
		if (!endpoint_local(&st->o))
			return XDP_PASS;
		return esp_in_drop(st, IPSECIF_DROP_NO_SA);
	}
	/*
	 * The SA copied once (the stages after the cipher read its lifetimes
	 * from the copy, not from a second lookup), and then the entry checked
	 * to be still the one looked up: a hash map gives a deleted element to
	 * its next insert at once, and the agent may have just deleted this SA
	 * and added another, whose id would open this packet.  The SA's slots
	 * outlive its entry by 100 ms (docs/DATAPATH.md), so the copy's id
	 * names valid ones for as long as the packet is in the program.
	 */
	__builtin_memcpy(&st->sa, sa, sizeof(st->sa));
	barrier();
	if (sa->spi != spi || sa->family != st->sk.family || !addr_eq(&sa->dst, &st->sk.dst))
		return esp_in_drop(st, IPSECIF_DROP_NO_SA);
	/* From here drops count on the SA and on its reqid's interface, if any. */
	st->sa_id = st->sa.id;
	st->reqid = st->sa.reqid;
	if (!addr_eq(&st->sa.src, &st->o.src))
		return esp_in_drop(st, IPSECIF_DROP_BAD_ENDPOINT);
	return ESP_IN_OPEN;
}

/*
 * Lifetime, interface, key, pre-check of the window, load: ESP_IN_OPEN,
 * or ESP_IN_ENGINE (nothing loaded: the engine opens it), or a verdict.
 * The SA's counters c, interface ifc, key k and window rp come from
 * esp_in()'s one lookup of each (NULL: none).  A static function, so
 * that they arrive as map values: a global one would see plain memory,
 * which may not hold the key's kptr or the window's spin lock.
 */
static __noinline int esp_in_prepare(struct xdp_md *ctx, struct ipsecif_sa_ctr *c,
				     const struct ipsecif_iface *ifc, const struct ipsecif_key *k,
				     struct ipsecif_replay *rp)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	__u32 spi, hdr, icv, text, esp_len, id, zero = 0;
	__u64 hard_ns;
	bool esn;
	int r;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!ctx || !st || !s)
		return XDP_ABORTED;
	/* Once into registers: the verifier bounds what it has checked there. */
	esp_len = st->o.esp_len;
	id = st->sa_id;
	spi = st->sk.spi;
	esn = st->sa.flags & IPSECIF_SA_F_ESN;
	hard_ns = st->sa.hard_ns;
	if (!c)
		return esp_in_drop(st, IPSECIF_DROP_NO_SA);
	/* RFC 4301 §4.4.2.1: past its hard lifetime an SA carries nothing, agent or not. */
	if ((c->expired & IPSECIF_SA_EXP_HARD) || (hard_ns && bpf_ktime_get_ns() >= hard_ns))
		return esp_in_drop(st, IPSECIF_DROP_EXPIRED);

	/* The SA is live only on an interface with its reqid and endpoints. */
	if (!ifc || ifc->family != st->o.family || !addr_eq(&ifc->dst, &st->o.src) ||
	    !addr_eq(&ifc->src, &st->o.dst))
		return esp_in_drop(st, IPSECIF_DROP_NO_SA);

	if (!k || !rp)
		return esp_in_drop(st, IPSECIF_DROP_CRYPTO);

	hdr = 8 + (k->enc == IPSECIF_ENC_AES_CBC ? IPSECIF_CBC_IV_LEN : IPSECIF_AEAD_IV_LEN);
	icv = k->icv_len;
	if (esp_len < hdr + icv + 4)
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	text = esp_len - hdr - icv;
	if (text > IPSECIF_MAX_TEXT)
		return esp_in_drop(st, IPSECIF_DROP_TOO_BIG);
	/* RFC 4303 §2.4: the text ends 4-aligned, and CBC needs whole blocks. */
	if (text & (k->enc == IPSECIF_ENC_AES_CBC ? 15 : 3))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	st->text = text;
	st->hdr = hdr;

	/* Pre-check before the ICV (§3.4.3). */
	r = replay_check(rp, st->seql, esn, &st->seq);
	if (r == IPSECIF_REPLAY_DUP)
		return esp_in_drop(st, IPSECIF_DROP_REPLAY);
	if (r != IPSECIF_REPLAY_OK)
		return esp_in_drop(st, IPSECIF_DROP_TOO_OLD);

	if (hdr > 24 || esp_len > IPSECIF_MAX_TEXT + 24 + IPSECIF_MAX_ICV_LEN)
		return esp_in_drop(st, IPSECIF_DROP_TOO_BIG);
	st->icv = icv;
	st->enc = k->enc;
	st->a.len = text;
	st->a.aad_len = esp_aad(s, spi, st->seq, esn);
	st->a.seq_hi = st->seq >> 32;
	st->a.esn = esn;

	st->eng = eng_pick(id, k->enc, text, bpf_xdp_get_buff_len(ctx), c, st->seq);
	if (st->eng)
		return ESP_IN_ENGINE;
	return esp_in_load(ctx);
}

/*
 * The line-rate path (IPSECIF_F_XDP_FWD): the route of the decapsulated
 * packet, as forwarded from ipsecN, with its neighbour; the TTL taken
 * down in the scratch.  The egress ifindex, or 0 for the ordinary path
 * (no neighbour entry yet, TTL out, local delivery, back into a tunnel).
 */
__noinline int in_fast_route(struct xdp_md *ctx, __u32 ilen, __u32 v6, __u32 ifindex)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	__u32 zero = 0, ifx;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!ctx || !st || !s)
		return 0;
	if (fib_inner(ctx, &st->fib, &s->buf[SCR_TEXT], v6, ilen, ifindex) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	ifx = st->fib.ifindex;
	if (bpf_map_lookup_elem(&if_reqid, &ifx))
		return 0;	/* into another tunnel: the kernel's path */
	if (!fwd_ttl(&s->buf[SCR_TEXT], v6))
		return 0;
	return ifx;
}

/*
 * After the ICV verified, on either path (here, or the engine's way back
 * in eng_link.h): window, trailer, ECN, lifetimes.  The text is at
 * SCR_TEXT, the SA in st->sa; rp, c and ifc are its window, counters and
 * interface, as the caller looked them up.  ESP_GO with st->ilen, st->v6
 * and st->ifc set, or ESP_DROPPED (counted).  Static, as esp_in_prepare:
 * the window's spin lock must be taken in a map value.
 */
static __noinline int esp_in_accept(struct ipsecif_replay *rp, struct ipsecif_sa_ctr *c,
				    const struct ipsecif_iface *ifc)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	__u32 reqid, text, padlen, nh, inner, ilen, zero = 0;
	__u8 in_ecn;
	bool v6;
	int e;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!st || !s)
		return ESP_DROPPED;
	if (!rp || !c || !ifc) {
		esp_in_drop(st, IPSECIF_DROP_NO_SA);	/* removed meanwhile */
		return ESP_DROPPED;
	}
	reqid = st->reqid;
	text = st->text;

	/* Only now may the window move (§3.4.3). */
	if (replay_accept(rp, st->seq) != IPSECIF_REPLAY_OK)
		goto drop_replay;

	/* Trailer: Pad Length and Next Header end the text (§2.4, §2.6). */
	barrier_var(text);	/* re-derive its bounds for the verifier */
	if (text < 4 || text > IPSECIF_MAX_TEXT)
		goto drop_malformed;
	padlen = s->buf[SCR_TEXT + text - 2];
	nh = s->buf[SCR_TEXT + text - 1];
	if (padlen + 2 > text || esp_pad_bad(s, text, padlen)) {
		esp_in_drop(st, IPSECIF_DROP_BAD_PAD);
		return ESP_DROPPED;
	}
	inner = text - 2 - padlen;
	if (nh == 59) {
		esp_in_drop(st, IPSECIF_DROP_DUMMY);	/* §2.6: discard silently */
		return ESP_DROPPED;
	}
	if (nh == 4) {
		if (inner < 20 || (s->buf[SCR_TEXT] >> 4) != 4)
			goto drop_malformed;
		ilen = ld_be32(&s->buf[SCR_TEXT]) & 0xffff;
		in_ecn = s->buf[SCR_TEXT + 1] & 3;
		v6 = false;
	} else if (nh == 41) {
		if (!(ifc->flags & IPSECIF_F_INET6)) {
			esp_in_drop(st, IPSECIF_DROP_INNER_FAMILY);
			return ESP_DROPPED;
		}
		if (inner < 40 || (s->buf[SCR_TEXT] >> 4) != 6)
			goto drop_malformed;
		ilen = 40 + (ld_be32(&s->buf[SCR_TEXT + 4]) >> 16);
		in_ecn = (s->buf[SCR_TEXT + 1] >> 4) & 3;
		v6 = true;
	} else {
		esp_in_drop(st, IPSECIF_DROP_BAD_NEXT_HDR);
		return ESP_DROPPED;
	}
	/* The inner packet may be shorter than the text (TFC padding, §2.7). */
	if (ilen > inner || ilen < (v6 ? 40 : 20))
		goto drop_malformed;

	e = ecn_decap(in_ecn, st->o.ecn);
	if (e < 0) {
		esp_in_drop(st, IPSECIF_DROP_ECN);
		return ESP_DROPPED;
	}
	if (e != in_ecn)
		inner_set_ecn(s, v6, e);
	if (!sa_account(&st->sa, c, reqid, ilen, 0)) {
		esp_in_drop(st, IPSECIF_DROP_EXPIRED);
		return ESP_DROPPED;
	}
	st->ilen = ilen;
	st->v6 = v6;
	__builtin_memcpy(&st->ifc, ifc, sizeof(st->ifc));
	return ESP_GO;
drop_replay:
	esp_in_drop(st, IPSECIF_DROP_REPLAY);
	return ESP_DROPPED;
drop_malformed:
	esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	return ESP_DROPPED;
}

/* The decapsulated packet's Ethernet header, in front of it in the scratch. */
static __always_inline void esp_in_eth(struct scratch *s, const __u8 *dst, const __u8 *src, bool v6)
{
	__builtin_memcpy(&s->buf[SCR_TEXT - 14], dst, 6);
	__builtin_memcpy(&s->buf[SCR_TEXT - 8], src, 6);
	s->buf[SCR_TEXT - 2] = v6 ? 0x86 : 0x08;
	s->buf[SCR_TEXT - 1] = v6 ? 0xdd : 0x00;
}

/* XDP, after esp_in_accept: delivered. */
__noinline int esp_in_finish(struct xdp_md *ctx)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	__u32 id, reqid, ilen, delta, fwd, zero = 0;
	bool v6;
	int e;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!ctx || !st || !s)
		return XDP_ABORTED;
	id = st->sa_id;
	reqid = st->reqid;
	ilen = st->ilen;
	v6 = st->v6;
	barrier_var(ilen);
	if (ilen < 20 || ilen > IPSECIF_MAX_TEXT)
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);

	/*
	 * The frame: for ipsecN (its veth peer passes it on), or with
	 * IPSECIF_F_XDP_FWD and a complete route, for the next hop itself.
	 */
	fwd = 0;
	if (st->ifc.flags & IPSECIF_F_XDP_FWD)
		fwd = in_fast_route(ctx, ilen, v6, st->ifc.ifindex);
	if (fwd)
		esp_in_eth(s, st->fib.dmac, st->fib.smac, v6);
	else
		esp_in_eth(s, st->ifc.mac, st->ifc.peer_mac, v6);

	delta = st->o.esp_off + st->hdr - 14;
	if (bpf_xdp_adjust_head(ctx, delta))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	if (bpf_xdp_adjust_tail(ctx, (int)(14 + ilen) - (int)bpf_xdp_get_buff_len(ctx)))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);
	barrier_var(ilen);
	if (ilen > IPSECIF_MAX_TEXT ||
	    bpf_xdp_store_bytes(ctx, 0, &s->buf[SCR_TEXT - 14], 14 + ilen))
		return esp_in_drop(st, IPSECIF_DROP_MALFORMED);

	/*
	 * Counted as passed once the helper has taken the target.  What goes
	 * wrong after the program returns (a device without NAPI or down) is
	 * the kernel's to count (tracepoint xdp:xdp_redirect_err).
	 */
	e = bpf_redirect(fwd ? fwd : st->ifc.peer_ifindex, 0);
	if (e != XDP_REDIRECT)
		return esp_in_drop(st, IPSECIF_DROP_REDIRECT_FAILED);
	count(DIR_IN, id, reqid, fwd ? PASSED_FAST : PASSED, ilen);
	return e;
}

/*
 * The stages, as on the way out (esp_out.h), with one lookup per map for
 * the packet (docs/DATAPATH.md, "Lookups per packet"): the SA by its key
 * in esp_in_find, then here by its id and reqid the counters, interface,
 * key and window, handed by pointer to every stage that needs them.
 */
static __always_inline int esp_in(struct xdp_md *ctx)
{
	struct esp_in_state *st;
	struct scratch *s;
	struct ipsecif_sa_ctr *c;
	struct ipsecif_iface *ifc;
	struct ipsecif_key *k;
	struct ipsecif_replay *rp;
	__u32 zero = 0;
	int r;

	r = esp_in_find(ctx);
	if (r != ESP_IN_OPEN)
		return r;
	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	s = scratch_get();
	if (!st || !s)
		return XDP_ABORTED;
	c = sa_ctr_get(st->sa_id);
	ifc = bpf_map_lookup_elem(&ifaces, &st->reqid);
	k = sa_key_get(st->sa_id);
	rp = sa_replay_get(st->sa_id);
	r = esp_in_prepare(ctx, c, ifc, k, rp);
	if (r == ESP_IN_ENGINE)
		r = esp_in_engine(ctx);
	if (r != ESP_IN_OPEN)
		return r;
	if (!k)
		return XDP_ABORTED;	/* esp_in_prepare dropped it; for the verifier */
	r = crypt_key(k, s, &st->a, 1);
	if (r == -EBADMSG)
		return esp_in_drop(st, IPSECIF_DROP_AUTH);
	if (r)
		return esp_in_drop(st, IPSECIF_DROP_CRYPTO);
	if (esp_in_accept(rp, c, ifc) != ESP_GO)
		return XDP_DROP;
	return esp_in_finish(ctx);
}

#endif /* IPSECIF_ESP_IN_H */
