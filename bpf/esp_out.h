/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Outbound ESP (RFC 4303 §3.3): every packet the kernel routes into
 * ipsecN, sent locally or forwarded, is sealed with the interface's
 * outbound SA and sent to the tunnel's far end through the kernel's
 * routing and neighbour tables.
 *
 * The program runs at the TC ingress of ipsecN's veth peer, not at
 * ipsecN's egress: TC egress comes before the kernel completes partial
 * checksums and segments GSO packets (validate_xmit_skb), so local TCP
 * would be sealed with half a checksum, and the ESP packet would inherit
 * CHECKSUM_PARTIAL for the underlay NIC to write into.  ipsecN has no
 * checksum or segmentation offload, so what crosses to the peer is
 * complete.
 */
#ifndef IPSECIF_ESP_OUT_H
#define IPSECIF_ESP_OUT_H

#include <linux/pkt_cls.h>
#include "crypto.h"
#include "parse.h"
#include "ecn.h"
#include "stats.h"
#include "events.h"
#include "engine.h"

#define PACKET_HOST_	0	/* linux/if_packet.h */
#define OUTER_TTL	64	/* RFC 4301 §5.1.2.1 leaves it to us; what the kernel uses */

/*
 * Per-packet state in a per-CPU map: the ciphers need the stack, so the
 * work before and after them is done in functions of their own, whose
 * frames are gone by the time the cipher runs.
 */
struct esp_out_state {
	struct crypt_args a;
	struct bpf_fib_lookup fib;
	__u64 seq;
	__u32 id, reqid;
	__u32 len;			/* inner packet */
	__u32 text;			/* what is encrypted */
	__u32 ivlen, icv;
	__u16 inner_proto;		/* network order */
	__u8 dsfield;			/* for the outer header, ECN applied */
	__u8 df;			/* inner IPv4 DF */
	__u8 natt;
	__u8 enc;
	__u8 pad[2];
	__u32 eng;			/* the engine's link, when it ciphers this packet; or 0 */
	/*
	 * The SA's addressing, copied when the sequence number is taken: a
	 * new SA may replace it in sa_out meanwhile (make-before-break), and
	 * this packet must still leave as the old SA's.
	 */
	__u16 family;
	__be16 sport, dport;
	union ipsecif_addr src, dst;
	__u32 out_off;			/* the sealed packet in the scratch: offset */
	__u32 out_len;			/* and length, outer header included */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct esp_out_state);
} esp_out_state_map SEC(".maps");

static __always_inline int esp_out_drop(__u32 sa_id, __u32 reqid, __u32 reason)
{
	count(DIR_OUT, sa_id, reqid, reason, 0);
	return TC_ACT_SHOT;
}

/* Internet checksum of the 20-byte IPv4 header at h (RFC 1071). */
static __always_inline __u16 ip4_csum(const __u8 *h)
{
	__u32 sum = 0;
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 20; i += 2)
		sum += (h[i] << 8) | h[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

struct csum_loop {
	const __u8 *p;
	__u32 len;
	__u32 sum;
};

static int csum_loop_cb(__u32 i, void *data)
{
	struct csum_loop *c = data;
	__u32 off = i * 256, n;

	if (off >= c->len || off > IPSECIF_MAX_TEXT + 128)
		return 1;
	n = c->len - off;
	if (n > 256)
		n = 256;
	n &= ~3U;
	if (n)
		c->sum = bpf_csum_diff(NULL, 0, (void *)(c->p + off), n, c->sum);
	return 0;
}

/*
 * UDP checksum for ESP in UDP over IPv6, which needs one (RFC 8200 §8.1):
 * the pseudo-header, then the UDP header and ESP, all in the scratch
 * buffer.  The UDP length is a multiple of 4 (ESP is 4-aligned), as
 * bpf_csum_diff wants.
 */
static __always_inline void udp6_csum(struct scratch *s, __u8 *ip6, __u32 udp_len)
{
	struct csum_loop c = { .p = ip6 + 40, .len = udp_len };
	__u32 sum;

	__builtin_memcpy(&s->tail[0], ip6 + 8, 32);
	st_be32(&s->tail[32], udp_len);
	st_be32(&s->tail[36], IPPROTO_UDP);
	c.sum = bpf_csum_diff(NULL, 0, (void *)&s->tail[0], 40, 0);
	bpf_loop((udp_len + 255) / 256, csum_loop_cb, &c, 0);
	sum = c.sum;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	/* Stored as computed: the sum is over network-order words. */
	*(__u16 *)(ip6 + 46) = sum ? sum : 0xffff;
}

/*
 * The CBC IV must be unpredictable (RFC 3602 §2.3): the SA's own cipher
 * encrypts a per-SA counter (the sequence number), which also makes it
 * unique.  One extra block through the cipher per packet.
 */
static __always_inline int cbc_iv(const struct ipsecif_key *k, struct scratch *s, __u64 seq)
{
	struct bpf_crypto_ctx *ctx = k->aes;
	struct bpf_dynptr src, dst, iv;

	if (!ctx)
		return -ENOKEY;
	st64(&s->tail[0], __builtin_bswap64(seq));
	st64(&s->tail[8], 0x7669206669636573ULL);	/* a constant tag: "secif iv" */
	st64(&s->iv[0], 0);
	st64(&s->iv[8], 0);
	bpf_dynptr_from_mem(&s->tail[0], 16, 0, &src);
	bpf_dynptr_from_mem(&s->tail[0], 16, 0, &dst);
	bpf_dynptr_from_mem(s->iv, sizeof(s->iv), 0, &iv);
	if (bpf_crypto_encrypt(ctx, &src, &dst, &iv))
		return -EIO;
	st64(&s->buf[SCR_TEXT - 16], ld64(&s->tail[0]));
	st64(&s->buf[SCR_TEXT - 8], ld64(&s->tail[8]));
	return 0;
}

/*
 * Seal stage one, shared by both paths: the inner packet (st->len bytes,
 * st->inner_proto) is at SCR_TEXT.  Takes the interface's outbound SA and
 * a sequence number, counts the lifetimes, appends the trailer, and sets
 * up the IV and AAD for the cipher.  The interface ifc, the SA sa and its
 * counters c and key k (and its id in st->id) are esp_seal()'s one lookup
 * of each (NULL: none).  A static function, so that they arrive as map
 * values: a global one would see plain memory, and the key's AES context
 * (a kptr, for the CBC IV) is usable only from the map value.
 */
static __noinline int esp_seal_prepare(__u32 reqid, const struct ipsecif_iface *ifc,
				       struct ipsecif_sa *sa, struct ipsecif_sa_ctr *c,
				       const struct ipsecif_key *k)
{
	struct esp_out_state *st;
	struct scratch *s = scratch_get();
	__u32 id, spi, len, text, pad, ivlen, i, zero = 0;
	__u8 nh, dsfield;
	bool v6in, esn;
	__u64 seq, hard_ns, seq_limit, seq_mark;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	if (!st || !s)
		return ESP_DROPPED;
	st->reqid = reqid;
	id = st->id;
	st->id = 0;
	if (!ifc) {
		esp_out_drop(0, reqid, IPSECIF_DROP_NO_SA);
		return ESP_DROPPED;
	}
	if (st->inner_proto == bpf_htons(ETH_P_IP)) {
		v6in = false;
		nh = 4;
	} else if (st->inner_proto == bpf_htons(ETH_P_IPV6)) {
		if (!(ifc->flags & IPSECIF_F_INET6)) {
			esp_out_drop(0, reqid, IPSECIF_DROP_INNER_FAMILY);
			return ESP_DROPPED;
		}
		v6in = true;
		nh = 41;
	} else {
		esp_out_drop(0, reqid, IPSECIF_DROP_MALFORMED);
		return ESP_DROPPED;
	}
	len = st->len;
	if (len > ifc->mtu) {
		esp_out_drop(0, reqid, IPSECIF_DROP_TOO_BIG);
		return ESP_DROPPED;
	}
	if (len < (v6in ? 40 : 20)) {
		esp_out_drop(0, reqid, IPSECIF_DROP_MALFORMED);
		return ESP_DROPPED;
	}

	if (!sa) {
		event_acquire(reqid);	/* RFC 4301 §5.1: ask the key manager */
		esp_out_drop(0, reqid, IPSECIF_DROP_NO_SA);
		return ESP_DROPPED;
	}
	spi = sa->spi;
	st->id = id;
	if (!k) {
		esp_out_drop(id, reqid, IPSECIF_DROP_CRYPTO);
		return ESP_DROPPED;
	}
	if (!c) {
		esp_out_drop(id, reqid, IPSECIF_DROP_NO_SA);
		return ESP_DROPPED;
	}
	esn = sa->flags & IPSECIF_SA_F_ESN;
	st->natt = !!(sa->flags & IPSECIF_SA_F_NATT);
	st->family = sa->family;
	st->sport = sa->sport;
	st->dport = sa->dport;
	/*
	 * link0 turns NAT-T on for SAs set without ports; ipsecif(4) then
	 * uses the default port, 4500, both ways (RFC 3948 §2.1).
	 */
	if (!st->natt && (ifc->flags & IPSECIF_F_NATT)) {
		st->natt = 1;
		st->sport = st->dport = bpf_htons(IPSECIF_NATT_PORT);
	}
	st->src = sa->src;
	st->dst = sa->dst;
	hard_ns = sa->hard_ns;
	seq_limit = sa->seq_limit;
	seq_mark = sa->seq_mark;
	/*
	 * Still the entry it was: the agent replaces sa_out[reqid] whole, and
	 * a hash map reuses the replaced element for its next update at once.
	 * A torn read (one SA's id, another's SPI) would seal under the wrong
	 * key.
	 */
	barrier();
	if (sa->id != id || sa->reqid != reqid) {
		esp_out_drop(id, reqid, IPSECIF_DROP_NO_SA);
		return ESP_DROPPED;
	}

	/*
	 * Sequence numbers are taken atomically from the SA's own counter
	 * (sa_ctr: the agent never writes it back) and never repeat; without
	 * ESN the counter must not cycle (RFC 4303 §3.3.3).
	 */
	/* RFC 4301 §4.4.2.1: past its hard lifetime an SA carries nothing, agent or not. */
	if ((c->expired & IPSECIF_SA_EXP_HARD) || (hard_ns && bpf_ktime_get_ns() >= hard_ns)) {
		esp_out_drop(id, reqid, IPSECIF_DROP_EXPIRED);
		return ESP_DROPPED;
	}
	seq = __sync_fetch_and_add(&c->seq, 1) + 1;
	if (!esn && seq > 0xffffffffULL) {
		esp_out_drop(id, reqid, IPSECIF_DROP_SEQ_EXHAUSTED);
		return ESP_DROPPED;
	}
	/*
	 * A manual key seals only numbers reserved on disk, so that no
	 * restart, flush or reboot seals one twice (RFC 4106 §3, RFC 7634 §4:
	 * a repeated nonce undoes AES-GCM and ChaCha20-Poly1305).  Each number
	 * is taken once, so exactly one packet meets the mark, and one the
	 * first refusal: each asks the agent for more.
	 */
	if (seq_limit) {
		if (seq == seq_mark || seq == seq_limit + 1)
			event_send(IPSECIF_EV_SEQ_RESERVE, reqid, sa, seq);
		if (seq > seq_limit) {
			esp_out_drop(id, reqid, IPSECIF_DROP_SEQ_UNRESERVED);
			return ESP_DROPPED;
		}
	}
	if (!sa_account(sa, c, reqid, len, seq)) {
		esp_out_drop(id, reqid, IPSECIF_DROP_EXPIRED);
		return ESP_DROPPED;
	}
	st->seq = seq;

	/* Text: inner packet, padding 1, 2, 3, ..., pad length, next header (§2.4). */
	if (k->enc == IPSECIF_ENC_AES_CBC) {
		ivlen = IPSECIF_CBC_IV_LEN;
		text = (len + 2 + 15) & ~15U;
	} else {
		ivlen = IPSECIF_AEAD_IV_LEN;
		text = (len + 2 + 3) & ~3U;
	}
	st->text = text;
	st->ivlen = ivlen;
	st->icv = k->icv_len;
	st->enc = k->enc;
	/*
	 * The engine, or BPF's cipher?  Not for ESP in UDP over IPv6: its UDP
	 * checksum covers the ciphertext, which only the worker will know.
	 */
	st->eng = 0;
	if (!(st->natt && st->family == AF_INET6))
		st->eng = eng_pick(id, k->enc, text,
				   14 + (st->family == AF_INET6 ? 40 : 20) + (st->natt ? 8 : 0) +
				   8 + ivlen + text + k->icv_len, c, seq);
	pad = text - len - 2;
	barrier_var(len);
	if (len > IPSECIF_MAX_TEXT - 32 || pad > 15) {
		esp_out_drop(id, reqid, IPSECIF_DROP_TOO_BIG);
		return ESP_DROPPED;
	}
	/*
	 * All 16 candidates at once: the bytes past the pad are overwritten
	 * by the trailer or lie beyond the text, and writing them costs less
	 * than deciding (pad <= 15).
	 */
#pragma clang loop unroll(full)
	for (i = 0; i < 16; i++)
		s->buf[SCR_TEXT + len + i] = i + 1;
	s->buf[SCR_TEXT + len + pad] = pad;
	s->buf[SCR_TEXT + len + pad + 1] = nh;

	/* The inner header's DSCP and ECN, and DF, for the outer header. */
	if (v6in) {
		dsfield = (s->buf[SCR_TEXT] << 4) | (s->buf[SCR_TEXT + 1] >> 4);
		st->df = 0;
	} else {
		dsfield = s->buf[SCR_TEXT + 1];
		st->df = !!(s->buf[SCR_TEXT + 6] & 0x40);
	}
	st->dsfield = (dsfield & ~3) | ecn_encap(dsfield, ifc->flags & IPSECIF_F_ECN);

	/* ESP header: SPI, sequence number (low half), IV. */
	st32(&s->buf[SCR_TEXT - ivlen - 8], spi);
	st_be32(&s->buf[SCR_TEXT - ivlen - 4], (__u32)seq);
	if (ivlen == IPSECIF_CBC_IV_LEN) {
		/* The engine's worker writes the IV, the same one (ipsecif_engine.h). */
		if (st->eng) {
			st64(&s->buf[SCR_TEXT - 16], 0);
			st64(&s->buf[SCR_TEXT - 8], 0);
		} else if (cbc_iv(k, s, seq)) {
			esp_out_drop(id, reqid, IPSECIF_DROP_CRYPTO);
			return ESP_DROPPED;
		}
	} else {
		/* RFC 4106 §3.1, RFC 7634 §2: a counter is a fine AEAD IV. */
		st_be64(&s->buf[SCR_TEXT - 8], seq);
		__builtin_memcpy(st->a.iv, &s->buf[SCR_TEXT - 8], 8);
	}
	st->a.len = text;
	st->a.aad_len = esp_aad(s, spi, seq, esn);
	st->a.seq_hi = seq >> 32;
	st->a.esn = esn;
	return ESP_GO;
}

/*
 * Seal stage three, after the cipher: the outer header, built in the
 * scratch right in front of the ESP header (st->out_off, st->out_len),
 * and the route lookup's parameters in st->fib (all but the ifindex).
 */
__noinline int esp_seal_outer(void)
{
	struct esp_out_state *st;
	struct scratch *s = scratch_get();
	__u32 ivlen, hdr, ip_len, out_len, zero = 0;
	bool v6out;
	__u8 *o;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	if (!st || !s)
		return ESP_DROPPED;
	ivlen = st->ivlen;
	v6out = st->family == AF_INET6;
	ip_len = v6out ? 40 : 20;
	hdr = ip_len + (st->natt ? 8 : 0);
	out_len = hdr + 8 + ivlen + st->text + st->icv;
	if (ivlen > 16 || hdr > 48) {
		esp_out_drop(st->id, st->reqid, IPSECIF_DROP_MALFORMED);
		return ESP_DROPPED;
	}
	st->out_off = SCR_TEXT - ivlen - 8 - hdr;
	st->out_len = out_len;
	o = &s->buf[SCR_TEXT - ivlen - 8 - hdr];
	if (v6out) {
		st32(o, bpf_htonl(0x60000000 | ((__u32)st->dsfield << 20)));
		st_be32(o + 4, ((out_len - 40) << 16) |
			       ((st->natt ? IPPROTO_UDP : IPPROTO_ESP_) << 8) | OUTER_TTL);
		__builtin_memcpy(o + 8, st->src.v6, 16);
		__builtin_memcpy(o + 24, st->dst.v6, 16);
	} else {
		/* DF copied from the inner header (RFC 4301 §8.1); the ID matters only without it. */
		st_be32(o, (0x45 << 24) | ((__u32)st->dsfield << 16) | out_len);
		st_be32(o + 4, st->df ? 0x4000 : ((__u32)st->seq & 0xffff) << 16);
		st_be32(o + 8, (OUTER_TTL << 24) | ((st->natt ? IPPROTO_UDP : IPPROTO_ESP_) << 16));
		st32(o + 12, st->src.v4);
		st32(o + 16, st->dst.v4);
		st_be32(o + 8, ld_be32(o + 8) | ip4_csum(o));
	}
	if (st->natt) {
		__u8 *u = o + ip_len;

		/* RFC 3948 §2.1: IPv4 UDP checksum 0; IPv6 needs a real one. */
		st32(u, (__u32)st->sport | ((__u32)st->dport << 16));
		st_be32(u + 4, (out_len - ip_len) << 16);
		if (v6out)
			udp6_csum(s, o, out_len - ip_len);
	}

	__builtin_memset(&st->fib, 0, sizeof(st->fib));
	st->fib.family = st->family;
	st->fib.tot_len = out_len;
	if (v6out) {
		__builtin_memcpy(st->fib.ipv6_src, st->src.v6, 16);
		__builtin_memcpy(st->fib.ipv6_dst, st->dst.v6, 16);
	} else {
		st->fib.ipv4_src = st->src.v4;
		st->fib.ipv4_dst = st->dst.v4;
	}
	return ESP_GO;
}

/* The route lookup's answer as a verdict: drops counted. */
static __always_inline int esp_route_verdict(struct esp_out_state *st, int r)
{
	if (r == BPF_FIB_LKUP_RET_SUCCESS || r == BPF_FIB_LKUP_RET_NO_NEIGH)
		return ESP_GO;
	esp_out_drop(st->id, st->reqid, r == BPF_FIB_LKUP_RET_FRAG_NEEDED ?
		     IPSECIF_DROP_TOO_BIG : IPSECIF_DROP_NO_ROUTE);
	return ESP_DROPPED;
}

/* TC: the inner packet from the skb into the scratch. */
__noinline int esp_out_load(struct __sk_buff *skb, __u32 reqid)
{
	struct esp_out_state *st;
	struct scratch *s = scratch_get();
	__u32 len, zero = 0;
	__u16 proto;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	if (!skb || !st || !s)
		return ESP_DROPPED;
	if (bpf_skb_load_bytes(skb, 12, &proto, 2))
		goto malformed;
	st->inner_proto = proto;
	len = skb->len - 14;
	st->len = len;
	/* GSO packets would seal into something larger than the path takes. */
	if (skb->gso_segs > 1 || len > IPSECIF_MAX_TEXT - 32) {
		esp_out_drop(0, reqid, IPSECIF_DROP_TOO_BIG);
		return ESP_DROPPED;
	}
	if (len < 20 || bpf_skb_load_bytes(skb, 14, &s->buf[SCR_TEXT], len))
		goto malformed;
	return ESP_GO;
malformed:
	esp_out_drop(0, reqid, IPSECIF_DROP_MALFORMED);
	return ESP_DROPPED;
}

/*
 * Out through the neighbour table: the ESP packet (Ethernet header
 * written, PACKET_HOST) to the next hop nh (IPv4 in its first 4 bytes) on
 * ifindex; counted as passed (reason) once the helper has taken it.  A
 * failure after the program returns (the device gone, no neighbour
 * resolvable) is the kernel's to count, on the device.
 */
static __always_inline int esp_out_neigh(__u32 id, __u32 reqid, __u32 len, __u32 family,
					 const void *nh, __u32 ifindex, __u32 reason)
{
	struct bpf_redir_neigh rn = {};
	int r;

	rn.nh_family = family;
	if (family == AF_INET6)
		__builtin_memcpy(rn.ipv6_nh, nh, 16);
	else
		__builtin_memcpy(&rn.ipv4_nh, nh, 4);
	r = bpf_redirect_neigh(ifindex, &rn, sizeof(rn), 0);
	if (r != TC_ACT_REDIRECT) {
		esp_out_drop(id, reqid, IPSECIF_DROP_REDIRECT_FAILED);
		return TC_ACT_SHOT;
	}
	count(DIR_OUT, id, reqid, reason, len);
	return r;
}

/*
 * The engine's trailer for a packet about to be sealed: the frame is the
 * outer packet (st->out_off, st->out_len in the scratch) behind a 14-byte
 * Ethernet header, the ICV's room zeroed, the route's answer kept for the
 * way back (eng_link.h).
 */
static __always_inline void esp_out_trailer(struct esp_out_state *st, struct scratch *s)
{
	struct ipsecif_eng_trailer *t;
	__u32 text = st->text, hdr = 8 + st->ivlen;

	barrier_var(text);
	if (text > IPSECIF_MAX_TEXT)
		return;
	st64(&s->buf[SCR_TEXT + text], 0);
	st64(&s->buf[SCR_TEXT + text + 8], 0);
	t = eng_trailer(s, IPSECIF_ENG_SEAL, DIR_OUT, st->id, st->seq, st->reqid,
			14 + SCR_TEXT - hdr - st->out_off, hdr, text, st->enc, st->icv,
			st->a.aad_len);
	t->len = st->len;
	t->ifindex = st->fib.ifindex;
	t->family = st->fib.family;
	if (st->fib.family == AF_INET6)
		__builtin_memcpy(t->nh, st->fib.ipv6_dst, 16);
	else
		__builtin_memcpy(t->nh, &st->fib.ipv4_dst, 4);
}

/*
 * TC, after the cipher: route to the far end through the kernel's tables,
 * as if the ESP packet were forwarded from the peer device it arrived on
 * (an output lookup would pin the route to that device; so the peer needs
 * net.ipv{4,6}.conf.DEV.forwarding, nothing global), resize, write, and
 * out through the neighbour table.  A packet for the engine goes, with
 * its trailer, into the engine's link instead; it comes back sealed to
 * eng_link.h, which sends it on as here.
 */
__noinline int esp_out_send(struct __sk_buff *skb)
{
	struct esp_out_state *st;
	struct scratch *s = scratch_get();
	__u32 out_len, off, trl, zero = 0;
	__u16 outer_proto;
	int r;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	if (!skb || !st || !s)
		return TC_ACT_SHOT;
	st->fib.ifindex = skb->ifindex;
	r = bpf_fib_lookup(skb, &st->fib, sizeof(st->fib), 0);
	if (esp_route_verdict(st, r) != ESP_GO)
		return TC_ACT_SHOT;

	outer_proto = st->family == AF_INET6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);
	out_len = st->out_len;
	off = st->out_off;
	trl = st->eng ? ENG_TRL : 0;
	if (outer_proto != st->inner_proto && bpf_skb_change_proto(skb, outer_proto, 0))
		goto malformed;
	if (bpf_skb_change_tail(skb, 14 + out_len + trl, 0)) {
		esp_out_drop(st->id, st->reqid, IPSECIF_DROP_TOO_BIG);
		return TC_ACT_SHOT;
	}
	if (trl)
		esp_out_trailer(st, s);
	/*
	 * The frame's MACs are still the inner packet's.  bpf_redirect_neigh
	 * frees a frame whose destination is a group address without a word
	 * (__bpf_redirect_neigh, net/core/filter.c), and an inner multicast or
	 * broadcast packet has one (01:00:5e:..., 33:33:..., ff:...): OSPF
	 * hellos would be sealed and then lost.  The neighbour layer writes the
	 * real header, so zeros (unicast) will do; and the packet, now an
	 * ordinary unicast one, is PACKET_HOST.
	 */
	__builtin_memset(&s->tail[ENG_TRL], 0, 12);
	__builtin_memcpy(&s->tail[ENG_TRL + 12], &outer_proto, 2);
	barrier_var(out_len);
	if (out_len < 28 || out_len > IPSECIF_MAX_TEXT + 120 || off > SCR_TEXT ||
	    bpf_skb_store_bytes(skb, 14, &s->buf[off], out_len, 0) ||
	    bpf_skb_store_bytes(skb, 0, &s->tail[ENG_TRL], 14, 0))
		goto malformed;
	if (trl) {
		if (bpf_skb_store_bytes(skb, 14 + out_len, &s->tail[0], ENG_TRL, 0))
			goto malformed;
		r = bpf_redirect(st->eng, 0);
		if (r != TC_ACT_REDIRECT) {
			esp_out_drop(st->id, st->reqid, IPSECIF_DROP_REDIRECT_FAILED);
			return TC_ACT_SHOT;
		}
		eng_count(ENG_SENT, DIR_OUT);
		return r;
	}
	if (bpf_skb_change_type(skb, PACKET_HOST_))
		goto malformed;
	return esp_out_neigh(st->id, st->reqid, st->len, st->fib.family, st->fib.ipv6_dst,
			     st->fib.ifindex, PASSED);
malformed:
	esp_out_drop(st->id, st->reqid, IPSECIF_DROP_MALFORMED);
	return TC_ACT_SHOT;
}

/*
 * The stages around the cipher (stage two), for the interface ifc of reqid
 * (NULL: none), with one lookup per map for the packet (docs/DATAPATH.md,
 * "Lookups per packet"): the outbound SA, then by its id the key and the
 * counters, handed by pointer to the stages that need them.  The id read
 * here is the one esp_seal_prepare checks the SA against, so the key and
 * counters are the SA's own however the entry changes meanwhile.
 */
static __always_inline int esp_seal(__u32 reqid, const struct ipsecif_iface *ifc)
{
	struct esp_out_state *st;
	struct scratch *s;
	struct ipsecif_sa *sa;
	struct ipsecif_sa_ctr *c = NULL;
	struct ipsecif_key *k = NULL;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&esp_out_state_map, &zero);
	s = scratch_get();
	if (!st || !s)
		return ESP_DROPPED;
	sa = bpf_map_lookup_elem(&sa_out, &reqid);
	st->id = 0;
	if (sa) {
		st->id = sa->id;
		k = sa_key_get(st->id);
		c = sa_ctr_get(st->id);
	}
	if (esp_seal_prepare(reqid, ifc, sa, c, k) != ESP_GO)
		return ESP_DROPPED;
	if (!k)
		return ESP_DROPPED;	/* esp_seal_prepare dropped it; for the verifier */
	if (!st->eng && crypt_key(k, s, &st->a, 0)) {
		esp_out_drop(st->id, st->reqid, IPSECIF_DROP_CRYPTO);
		return ESP_DROPPED;
	}
	return esp_seal_outer();
}

/*
 * The stages are global functions: the verifier checks each once instead
 * of once per path through the one before, and none of their frames is
 * on the stack while another runs.
 */
static __always_inline int esp_out(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex, *rq, reqid;

	rq = bpf_map_lookup_elem(&if_reqid, &ifindex);
	if (!rq)
		return TC_ACT_OK;	/* not an ipsecif device's peer */
	reqid = *rq;
	if (esp_out_load(skb, reqid) != ESP_GO)
		return TC_ACT_SHOT;
	if (esp_seal(reqid, bpf_map_lookup_elem(&ifaces, &reqid)) != ESP_GO)
		return TC_ACT_SHOT;
	return esp_out_send(skb);
}

#endif /* IPSECIF_ESP_OUT_H */
