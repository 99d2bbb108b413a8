/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The engine's link (include/ipsecif_engine.h): three programs.
 *
 * xdp_eng_wrk, on the workers' device: every frame to the worker bound to
 * its rx queue; with none bound, XDP_PASS (bpf_redirect_map's fallback),
 * and then at the same device's TC ingress tc_eng_fallback does the
 * cipher in BPF and sends the frame back as a worker would.  A worker
 * that dies or is taken out of the map costs no packet beyond those in
 * its rings.
 *
 * tc_eng_back, at the TC ingress of BPF's end: every frame coming back.
 * Sealed: the trailer goes, and the ESP packet leaves through the
 * neighbour table, as esp_out_send would have sent it.  Opened: the rest
 * of the inbound path (esp_in_accept: window after the ICV, trailer, RFC
 * 6040, lifetimes) and the inner packet to ipsecN.  A bad ICV is the
 * auth drop it would have been in BPF.
 */
#ifndef IPSECIF_ENG_LINK_H
#define IPSECIF_ENG_LINK_H

#include "esp_in.h"
#include "esp_out.h"

/* The frame's trailer into the scratch's tail; NULL if there is none. */
static __always_inline struct ipsecif_eng_trailer *eng_load_trailer(struct __sk_buff *skb,
								  struct scratch *s)
{
	struct ipsecif_eng_trailer *t = (void *)s->tail;
	__u32 len = skb->len;

	if (len < 14 + ENG_TRL || bpf_skb_load_bytes(skb, len - ENG_TRL, t, ENG_TRL) ||
	    t->magic != IPSECIF_ENG_MAGIC || t->dir > 1)
		return NULL;
	return t;
}

/*
 * The region the cipher works on, ESP header to ICV, its bounds checked
 * against the frame: its length, or 0.
 */
static __always_inline __u32 eng_region(const struct __sk_buff *skb,
					const struct ipsecif_eng_trailer *t)
{
	__u32 hdr = t->hdr, text = t->text_len, icv = t->icv_len;

	if ((hdr != 8 + IPSECIF_AEAD_IV_LEN && hdr != 8 + IPSECIF_CBC_IV_LEN) ||
	    text > IPSECIF_MAX_TEXT || text < 4 || icv > IPSECIF_MAX_ICV_LEN ||
	    (__u32)t->esp_off + hdr + text + icv + ENG_TRL > skb->len)
		return 0;
	return hdr + text + icv;
}

/* The fallback's per-packet state: what the cipher and the way back need. */
struct eng_fallback_state {
	struct crypt_args a;
	__u64 seq;
	__u32 key_id;
	__u32 open;
	__u32 dir;
	__u32 off;		/* the region: ESP header */
	__u32 hdr;
	__u32 region;		/* ESP header to ICV */
	__u8 op;		/* the answer, into the trailer */
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eng_fallback_state);
} eng_fallback_map SEC(".maps");

/*
 * At the workers' device, a frame no worker took: the region a worker
 * would have worked on into the scratch, for BPF's cipher.  ESP_GO; or
 * ESP_DROPPED, not the engine's frame; or ESP_NOT_OURS, fs->op says
 * what goes back without a cipher.
 */
__noinline int eng_fallback_load(struct __sk_buff *skb)
{
	struct scratch *s = scratch_get();
	struct eng_fallback_state *fs;
	struct ipsecif_eng_trailer *t;
	struct ipsecif_key *k;
	__u32 zero = 0, region, hdr;

	fs = bpf_map_lookup_elem(&eng_fallback_map, &zero);
	if (!skb || !s || !fs)
		return ESP_DROPPED;
	t = eng_load_trailer(skb, s);
	if (!t || (t->op != IPSECIF_ENG_SEAL && t->op != IPSECIF_ENG_OPEN))
		return ESP_DROPPED;	/* not the engine's: nothing else crosses this link */
	region = eng_region(skb, t);
	/* One of two values (eng_region checked), as a constant the verifier sees. */
	hdr = t->hdr == 8 + IPSECIF_CBC_IV_LEN ? 8 + IPSECIF_CBC_IV_LEN : 8 + IPSECIF_AEAD_IV_LEN;
	fs->off = t->esp_off;
	fs->hdr = hdr;
	fs->region = region;
	fs->open = t->op == IPSECIF_ENG_OPEN;
	fs->key_id = t->key_id;
	fs->dir = t->dir;
	fs->seq = t->seq;
	fs->op = IPSECIF_ENG_BAD_FRAME;
	/* The ciphers use the scratch's tail: what they need of the trailer, first. */
	__builtin_memset(s->aad, 0, sizeof(s->aad));
	__builtin_memcpy(s->aad, t->aad, sizeof(t->aad));
	fs->a.len = t->text_len;
	fs->a.aad_len = t->aad_len == 12 ? 12 : 8;
	fs->a.seq_hi = fs->seq >> 32;
	fs->a.esn = t->aad_len == 12;
	barrier_var(region);
	if (!region || region > IPSECIF_MAX_TEXT + 24 + IPSECIF_MAX_ICV_LEN ||
	    bpf_skb_load_bytes(skb, fs->off, &s->buf[SCR_TEXT - hdr], region))
		return ESP_NOT_OURS;
	if (hdr == 8 + IPSECIF_CBC_IV_LEN && !fs->open) {
		k = sa_key_get(fs->key_id);
		if (!k || cbc_iv(k, s, fs->seq)) {
			fs->op = IPSECIF_ENG_NO_KEY;
			return ESP_NOT_OURS;
		}
	}
	__builtin_memcpy(fs->a.iv, &s->buf[SCR_TEXT - 8], 8);
	return ESP_GO;
}

/*
 * After BPF's cipher (err its answer; 1: none ran, fs->op says why): the
 * region and the op into the frame, and back.
 */
__noinline int eng_fallback_done(struct __sk_buff *skb, int err)
{
	struct scratch *s = scratch_get();
	struct eng_fallback_state *fs;
	__u32 zero = 0, region, hdr;

	fs = bpf_map_lookup_elem(&eng_fallback_map, &zero);
	if (!skb || !s || !fs)
		return TC_ACT_SHOT;
	region = fs->region;
	hdr = fs->hdr == 8 + IPSECIF_CBC_IV_LEN ? 8 + IPSECIF_CBC_IV_LEN : 8 + IPSECIF_AEAD_IV_LEN;
	if (err == -EBADMSG) {
		fs->op = IPSECIF_ENG_BAD_ICV;
	} else if (err < 0) {
		fs->op = IPSECIF_ENG_NO_KEY;
	} else if (!err) {
		barrier_var(region);
		if (region > IPSECIF_MAX_TEXT + 24 + IPSECIF_MAX_ICV_LEN || !region ||
		    bpf_skb_store_bytes(skb, fs->off, &s->buf[SCR_TEXT - hdr], region, 0)) {
			fs->op = IPSECIF_ENG_BAD_FRAME;
		} else {
			fs->op = fs->open ? IPSECIF_ENG_OPENED : IPSECIF_ENG_SEALED;
			eng_count(ENG_FALLBACK, fs->dir);
		}
	}
	if (skb->len < ENG_TRL ||
	    bpf_skb_store_bytes(skb, skb->len - ENG_TRL +
				__builtin_offsetof(struct ipsecif_eng_trailer, op), &fs->op, 1, 0))
		return TC_ACT_SHOT;
	/* Out of the worker's device, as the worker would have sent it: to BPF's end. */
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int eng_fallback(struct __sk_buff *skb)
{
	struct eng_fallback_state *fs;
	__u32 zero = 0;
	int r;

	r = eng_fallback_load(skb);
	if (r == ESP_DROPPED) {
		eng_count(ENG_BAD, DIR_IN);	/* not the engine's: counted as tc_eng_back does */
		return TC_ACT_SHOT;
	}
	if (r == ESP_NOT_OURS)
		return eng_fallback_done(skb, 1);
	fs = bpf_map_lookup_elem(&eng_fallback_map, &zero);
	if (!fs)
		return TC_ACT_SHOT;
	return eng_fallback_done(skb, ipsecif_crypt(fs->key_id, &fs->a, fs->open));
}

/* Back from the engine, sealed: out to the underlay. */
static __always_inline int eng_back_out(struct __sk_buff *skb, struct ipsecif_eng_trailer *t)
{
	if (bpf_skb_change_tail(skb, skb->len - ENG_TRL, 0) ||
	    bpf_skb_change_type(skb, PACKET_HOST_)) {
		esp_out_drop(t->key_id, t->reqid, IPSECIF_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	eng_count(ENG_BACK, DIR_OUT);
	eng_came_back(t->key_id, t->seq);
	return esp_out_neigh(t->key_id, t->reqid, t->len, t->family, t->nh, t->ifindex,
			     PASSED_ENGINE);
}

/* Back from the engine, opened: the rest of the inbound path, to ipsecN. */
__noinline int eng_back_in(struct __sk_buff *skb)
{
	struct esp_in_state *st;
	struct scratch *s = scratch_get();
	struct ipsecif_eng_trailer *t;
	struct ipsecif_sa *sa;
	__u32 zero = 0, text, ilen, off;
	int r;

	st = bpf_map_lookup_elem(&esp_in_state_map, &zero);
	if (!skb || !st || !s)
		return TC_ACT_SHOT;
	t = eng_load_trailer(skb, s);
	if (!t)
		return TC_ACT_SHOT;
	st->sa_id = t->key_id;
	st->reqid = t->reqid;
	if (!eng_region(skb, t)) {
		esp_in_drop(st, IPSECIF_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	eng_count(ENG_BACK, DIR_IN);
	eng_came_back(t->key_id, t->seq);
	st->seq = t->seq;
	st->text = t->text_len;
	st->hdr = t->hdr;
	st->o.ecn = t->ecn;
	st->o.family = t->family;
	st->sk.spi = t->spi;
	st->sk.family = t->family;
	__builtin_memcpy(&st->sk.dst, t->dst, 16);
	text = st->text;
	off = (__u32)t->esp_off + t->hdr;
	barrier_var(text);
	if (text < 4 || text > IPSECIF_MAX_TEXT ||
	    bpf_skb_load_bytes(skb, off, &s->buf[SCR_TEXT], text)) {
		esp_in_drop(st, IPSECIF_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	/*
	 * The SA again, by its key: it may have been removed while the worker
	 * had the packet, for longer than its slots linger (100 ms); then the
	 * packet is no_sa.  Its lifetimes for esp_in_accept, from the copy.
	 */
	sa = bpf_map_lookup_elem(&sa_in, &st->sk);
	if (!sa || sa->id != st->sa_id) {
		esp_in_drop(st, IPSECIF_DROP_NO_SA);
		return TC_ACT_SHOT;
	}
	__builtin_memcpy(&st->sa, sa, sizeof(st->sa));
	if (esp_in_accept(sa_replay_get(st->sa_id),
			  sa_ctr_get(st->sa_id),
			  bpf_map_lookup_elem(&ifaces, &st->reqid)) != ESP_GO)
		return TC_ACT_SHOT;

	ilen = st->ilen;
	esp_in_eth(s, st->ifc.mac, st->ifc.peer_mac, st->v6);
	barrier_var(ilen);
	if (ilen < 20 || ilen > IPSECIF_MAX_TEXT || bpf_skb_change_tail(skb, 14 + ilen, 0) ||
	    bpf_skb_store_bytes(skb, 0, &s->buf[SCR_TEXT - 14], 14 + ilen, 0)) {
		esp_in_drop(st, IPSECIF_DROP_MALFORMED);
		return TC_ACT_SHOT;
	}
	r = bpf_redirect(st->ifc.peer_ifindex, 0);
	if (r != TC_ACT_REDIRECT) {
		esp_in_drop(st, IPSECIF_DROP_REDIRECT_FAILED);
		return TC_ACT_SHOT;
	}
	count(DIR_IN, st->sa_id, st->reqid, PASSED_ENGINE, ilen);
	return r;
}

static __always_inline int eng_back(struct __sk_buff *skb)
{
	struct scratch *s = scratch_get();
	struct ipsecif_eng_trailer *t;
	__u32 dir, id, reqid;

	if (!s)
		return TC_ACT_SHOT;
	t = eng_load_trailer(skb, s);
	if (!t) {
		eng_count(ENG_BAD, DIR_IN);
		return TC_ACT_SHOT;	/* nothing but the engine's frames cross this link */
	}
	if (t->op == IPSECIF_ENG_SEALED && t->dir == DIR_OUT)
		return eng_back_out(skb, t);
	if (t->op == IPSECIF_ENG_OPENED && t->dir == DIR_IN)
		return eng_back_in(skb);
	dir = t->dir;
	id = t->key_id;
	reqid = t->reqid;
	eng_came_back(id, t->seq);
	if (t->op == IPSECIF_ENG_BAD_ICV && dir == DIR_IN) {
		eng_count(ENG_BACK, dir);
		count(dir, id, reqid, IPSECIF_DROP_AUTH, 0);
		return TC_ACT_SHOT;
	}
	/* No key (a slot reused meanwhile), a bad frame, an op out of place. */
	eng_count(ENG_BAD, dir);
	count(dir, id, reqid, IPSECIF_DROP_CRYPTO, 0);
	return TC_ACT_SHOT;
}

#endif /* IPSECIF_ENG_LINK_H */
