// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecif BPF object: key management programs and the crypto self-test.
 * The ESP data path programs join this object and share its maps.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "crypto.h"
#include "keys.h"
#include "replay.h"
#include "esp_in.h"
#include "esp_out.h"
#include "fast.h"
#include "eng_link.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * Raise SA req->id's sequence counter to req->to, never lower it: a
 * compare-and-swap, so that no number the data path takes meanwhile is
 * taken twice (numbers skipped are never sealed: RFC 4303 §3.3.3 asks
 * only that they increase).  Then, at once, its new limit: tc_esp_out reads
 * the limit before it takes a number, so a number it seals under the new
 * one was taken after the counter jumped.  Numbers taken past the old
 * limit before the new one lands are dropped (seq_unreserved): the
 * nanoseconds between these two writes, never a number of another SA's.
 */
SEC("syscall")
int seq_raise(struct ipsecif_seq_req *req)
{
	struct ipsecif_sa_ctr *c;
	struct ipsecif_sa *sa;
	__u32 id = req->id, reqid;
	__u64 old;
	int i;

	c = sa_ctr_get(id);
	if (!c) {
		req->err = -ENOENT;
		return 0;
	}
	req->err = -EAGAIN;
	for (i = 0; i < 16; i++) {
		old = READ_ONCE(c->seq);
		if (old >= req->to || __sync_val_compare_and_swap(&c->seq, old, req->to) == old) {
			req->err = 0;
			break;
		}
	}
	if (req->err)
		return 0;
	reqid = req->reqid;
	sa = bpf_map_lookup_elem(&sa_out, &reqid);
	if (sa && sa->id == id) {
		WRITE_ONCE(sa->seq_mark, req->seq_mark);
		WRITE_ONCE(sa->seq_limit, req->seq_limit);
	}
	return 0;
}

/* A zeroed key value in the scratch buffer (too big for the stack). */
static __always_inline void key_zero(struct scratch *s)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < sizeof(struct ipsecif_key); i += 8)
		st64(&s->buf[i], 0);
}

/*
 * Install key req->id, first step, at its SA's slot.  The slot must be
 * free (id 0): keys are never changed in place under a running SA; the
 * daemon gives a new SA a new id, and a free slot with it.  Makes the AES
 * context; the suites with material to seal (ChaCha20, HMAC) are ready
 * only once key_derive has run.
 */
SEC("syscall")
int key_install(struct ipsecif_key_req *req)
{
	struct ipsecif_key *k;
	struct scratch *s;
	__u32 id = req->id, slot = IPSECIF_SA_SLOT(id);
	int err;

	err = key_req_check(req);
	if (err)
		goto out;
	err = wrap_ensure(req);
	if (err)
		goto out;
	s = ctl_scratch_get();
	k = bpf_map_lookup_elem(&keys, &slot);
	if (!s || !k) {
		err = -EFAULT;
		goto out;
	}
	if (!id || k->id) {
		err = id ? -EEXIST : -EINVAL;
		goto out;
	}
	key_zero(s);	/* whatever the slot held before, its AES context too, goes */
	err = bpf_map_update_elem(&keys, &slot, s->buf, BPF_ANY);
	if (err)
		goto out;

	k->enc = req->enc;
	k->auth = req->auth;
	k->id = id;
	k->icv_len = key_icv_len(req->enc, req->auth);
	__builtin_memcpy(k->salt, req->salt, sizeof(k->salt));
	if (req->enc == IPSECIF_ENC_CHACHA20_POLY1305)
		goto out;	/* key_derive seals the key */

	err = aes_ctx_create(k, req);
	if (err)
		goto del;
	if (req->enc == IPSECIF_ENC_AES_GCM16)
		k->flags = IPSECIF_KEY_F_READY;		/* H comes per packet */
	else if (req->auth == IPSECIF_AUTH_NONE)
		k->flags = IPSECIF_KEY_F_READY | IPSECIF_KEY_F_NO_AUTH;
	goto out;	/* HMAC: key_derive seals the padded-key states */

del:
	key_zero(s);
	bpf_map_update_elem(&keys, &slot, s->buf, BPF_ANY);
out:
	req->err = err;
	return 0;
}

/* Where the frame lands in the scratch buffer: the HMAC key at SCR_TEXT. */
#define KD_OFF	(SCR_TEXT - __builtin_offsetof(struct ipsecif_key_derive, auth_key))

/* Second install step: seal the ChaCha20 key, or the HMAC states. */
SEC("xdp")
int key_derive(struct xdp_md *ctx)
{
	struct ipsecif_key_derive *pkt;
	struct ipsecif_key *k;
	struct scratch *s = ctl_scratch_get();
	__s32 err = 0;

	if (!s)
		return XDP_ABORTED;
	pkt = (void *)&s->buf[KD_OFF];
	if (bpf_xdp_load_bytes(ctx, 0, pkt, sizeof(*pkt)))
		return XDP_ABORTED;
	k = sa_key_get(pkt->id);
	if (!k) {
		err = -ENOENT;
		goto out;
	}
	if (k->flags & IPSECIF_KEY_F_READY) {
		err = -EINVAL;
		goto out;
	}
	if (k->enc == IPSECIF_ENC_CHACHA20_POLY1305)
		err = key_seal(s, pkt->enc_key, k->chacha_key, k->id, IPSECIF_SEAL_CHACHA);
	else if (k->enc == IPSECIF_ENC_AES_CBC && k->auth != IPSECIF_AUTH_NONE) {
		err = hmac_setkey(k, s, pkt->auth_key_len);
	} else {
		err = -EINVAL;
	}
	if (!err)
		k->flags |= IPSECIF_KEY_F_READY;
out:
	key_wipe(pkt, sizeof(*pkt));	/* the frame's copy held the keys */
	bpf_xdp_store_bytes(ctx, __builtin_offsetof(struct ipsecif_key_derive, err), &err, sizeof(err));
	return XDP_PASS;
}

/* Per-CPU copy of the test header: BPF's stack is spoken for by the ciphers. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipsecif_ctest);
} ctest_map SEC(".maps");

static __noinline int ctest_mac(const struct ipsecif_key *k, struct scratch *s,
				const struct ipsecif_ctest *t)
{
	__u32 len = t->len;
	int err;

	if (k->auth == IPSECIF_AUTH_NONE || !(k->flags & IPSECIF_KEY_F_READY))
		return -EINVAL;
	if (len > IPSECIF_MAX_TEXT)
		return -EINVAL;
	err = hmac(k, s, SCR_TEXT, len, t->flags & IPSECIF_CTEST_F_ESN, t->seq_hi);
	if (err)
		return err;
	/* The full digest goes behind the text. */
	__builtin_memcpy(&s->buf[SCR_TEXT + len], s->tag, 32);
	return 0;
}

static __noinline int ctest_keystream(const struct ipsecif_key *k, struct scratch *s,
				      const struct ipsecif_ctest *t)
{
	struct ctr_loop cl = { .s = s };

	if (k->enc != IPSECIF_ENC_AES_GCM16 || t->len > IPSECIF_MAX_TEXT)
		return -EINVAL;
	cl.ks = keystream_get();
	if (!cl.ks)
		return -EFAULT;
	cl.salt = ld32(k->salt);
	cl.iv = ld64(t->iv);
	return gcm_keystream(k, &cl, (t->len + 15) / 16, NULL);
}

static __always_inline int ctest_run(struct xdp_md *ctx, struct ipsecif_ctest *t,
				     struct scratch *s)
{
	struct crypt_args a = {};
	struct ipsecif_key *k;
	__u32 len = t->len, in, out, i;
	int err;

	k = sa_key_get(t->key_id);
	if (!k)
		return -ENOENT;
	if (len > IPSECIF_MAX_TEXT || t->aad_len > IPSECIF_MAX_AAD)
		return -EINVAL;

	in = len;
	if (t->op == IPSECIF_CTEST_OPEN)
		in += k->icv_len;
	if (in > IPSECIF_MAX_TEXT + IPSECIF_MAX_ICV_LEN)
		return -EINVAL;
	if (in && bpf_xdp_load_bytes(ctx, sizeof(*t), &s->buf[SCR_TEXT], in))
		return -EMSGSIZE;

	/* AEAD AAD, zero-padded; for CBC the first 8 bytes are SPI | seq. */
#pragma clang loop unroll(full)
	for (i = 0; i < IPSECIF_MAX_AAD; i++)
		s->aad[i] = t->aad[i] & lt_mask(i, t->aad_len);
	__builtin_memcpy(&s->buf[CBC_AUTH_OFF], t->aad, 8);
	__builtin_memcpy(&s->buf[SCR_TEXT - IPSECIF_CBC_IV_LEN], t->iv, IPSECIF_CBC_IV_LEN);

	a.len = len;
	a.aad_len = t->aad_len;
	a.seq_hi = t->seq_hi;
	a.esn = !!(t->flags & IPSECIF_CTEST_F_ESN);
	__builtin_memcpy(a.iv, t->iv, sizeof(a.iv));

	out = len;
	switch (t->op) {
	case IPSECIF_CTEST_SEAL:
		err = ipsecif_crypt(t->key_id, &a, 0);
		out += k->icv_len;
		break;
	case IPSECIF_CTEST_OPEN:
		err = ipsecif_crypt(t->key_id, &a, 1);
		break;
	case IPSECIF_CTEST_MAC:
		err = ctest_mac(k, s, t);
		out += sha_words(k->auth) * 4;
		break;
	case IPSECIF_CTEST_KEYSTREAM:
		return ctest_keystream(k, s, t);
	default:
		return -EINVAL;
	}
	if (err)
		return err;

	t->out_len = out;
	if ((t->flags & IPSECIF_CTEST_F_NOSTORE) || !out)
		return 0;
	if (out > IPSECIF_MAX_TEXT + 32)
		return -EINVAL;
	if (bpf_xdp_store_bytes(ctx, sizeof(*t), &s->buf[SCR_TEXT], out))
		return -EMSGSIZE;
	return 0;
}

/*
 * Crypto self-test: a struct ipsecif_ctest header, then the text.  Run
 * through BPF_PROG_TEST_RUN by the tests and the benchmark; frags let it
 * take texts past a page.
 */
SEC("xdp.frags")
int crypto_test(struct xdp_md *ctx)
{
	struct scratch *s = scratch_get();
	struct ipsecif_ctest *t;
	__u32 zero = 0;

	t = bpf_map_lookup_elem(&ctest_map, &zero);
	if (!s || !t || bpf_xdp_load_bytes(ctx, 0, t, sizeof(*t)))
		return XDP_ABORTED;
	t->out_len = 0;
	t->status = ctest_run(ctx, t, s);
	bpf_xdp_store_bytes(ctx, 0, t, sizeof(*t));
	return XDP_PASS;
}

/* One replay window for replay_test, the self-test of bpf/replay.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipsecif_replay);
} replay_test_map SEC(".maps");

SEC("xdp")
int replay_test(struct xdp_md *ctx)
{
	struct ipsecif_rtest t;
	struct ipsecif_replay *r;
	__u32 zero = 0, i;

	r = bpf_map_lookup_elem(&replay_test_map, &zero);
	if (!r || bpf_xdp_load_bytes(ctx, 0, &t, sizeof(t)))
		return XDP_ABORTED;
	switch (t.op) {
	case IPSECIF_RTEST_RESET:
		if (t.arg > IPSECIF_REPLAY_WINDOW_MAX) {
			t.verdict = -EINVAL;
			break;
		}
		bpf_spin_lock(&r->lock);
		r->window = t.arg;
		r->top = t.seq;
		for (i = 0; i < IPSECIF_REPLAY_WORDS; i++)
			r->bitmap[i] = 0;
		bpf_spin_unlock(&r->lock);
		t.verdict = 0;
		break;
	case IPSECIF_RTEST_CHECK:
		t.verdict = replay_check(r, (__u32)t.seq, t.esn, &t.seq64);
		break;
	case IPSECIF_RTEST_ACCEPT:
		t.verdict = replay_check(r, (__u32)t.seq, t.esn, &t.seq64);
		if (t.verdict == IPSECIF_REPLAY_OK)
			t.verdict = replay_accept(r, t.seq64);
		break;
	case IPSECIF_RTEST_UPDATE:
		t.verdict = replay_accept(r, t.seq);
		break;
	default:
		t.verdict = -EINVAL;
	}
	t.top = r->top;
	bpf_xdp_store_bytes(ctx, 0, &t, sizeof(t));
	return XDP_PASS;
}

/* Inbound ESP, attached to the underlay device (XDP). */
SEC("xdp.frags")
int xdp_esp_in(struct xdp_md *ctx)
{
	return esp_in(ctx);
}

/* Outbound ESP, attached to the TC ingress of ipsecN's veth peer. */
SEC("tc")
int tc_esp_out(struct __sk_buff *skb)
{
	return esp_out(skb);
}

/* The XDP line-rate path for LAN-facing devices (optional; bpf/fast.h). */
SEC("xdp.frags")
int xdp_lan(struct xdp_md *ctx)
{
	return xdp_lan_fast(ctx);
}

/*
 * The engine's link (bpf/eng_link.h): the worker's device, XDP.  Frames
 * in fragments too (an underlay's xdp_frame handed on as it came): the
 * worker's socket (XDP_USE_SG) gets each in one descriptor, as copy mode
 * copies a frame whole into a umem frame when it fits, and they all do.
 */
SEC("xdp.frags")
int xdp_eng_wrk(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex, *q = bpf_map_lookup_elem(&eng_wdevs, &ifindex);

	return q ? bpf_redirect_map(&eng_xsks, *q, XDP_PASS) : XDP_PASS;
}

/* The workers' device, TC ingress: what no worker took. */
SEC("tc")
int tc_eng_fallback(struct __sk_buff *skb)
{
	return eng_fallback(skb);
}

/* BPF's end of the engine's link, TC ingress: what comes back. */
SEC("tc")
int tc_eng_back(struct __sk_buff *skb)
{
	return eng_back(skb);
}
