/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Key installation: everything derived from a key is computed once here,
 * not per packet, and sealed (bpf/wrap.h).  Runs in the SEC("syscall")
 * key_install program (which may sleep, as bpf_crypto_ctx_create needs)
 * and in key_derive, an XDP program, because the cipher kfuncs that seal
 * are not offered to syscall programs.
 */
#ifndef IPSECIF_KEYS_H
#define IPSECIF_KEYS_H

#include "crypto.h"
#include "wrap.h"

/* Per-CPU room for the crypto context parameters: 408 bytes, too big for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_crypto_params);
} crypto_params_map SEC(".maps");

/* Structural checks; the daemon applies the ESP rules (key sizes per RFC) before. */
static __always_inline int key_req_check(const struct ipsecif_key_req *req)
{
	__u8 enc = req->enc, auth = req->auth, klen = req->enc_key_len;

	switch (enc) {
	case IPSECIF_ENC_CHACHA20_POLY1305:
		if (klen != 32 || auth != IPSECIF_AUTH_NONE)
			return -EINVAL;
		return 0;
	case IPSECIF_ENC_AES_GCM16:
		if (auth != IPSECIF_AUTH_NONE)
			return -EINVAL;
		break;
	case IPSECIF_ENC_AES_CBC:
		if (auth >= IPSECIF_AUTH_MAX)
			return -EINVAL;
		if (auth != IPSECIF_AUTH_NONE &&
		    (req->auth_key_len == 0 || req->auth_key_len > IPSECIF_MAX_AUTH_KEY))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (klen != 16 && klen != 24 && klen != 32)
		return -EINVAL;
	return 0;
}

static __always_inline int aes_ctx_create(struct ipsecif_key *k, const struct ipsecif_key_req *req)
{
	struct bpf_crypto_params *p;
	struct bpf_crypto_ctx *ctx, *old;
	__u32 zero = 0;
	int err = 0, i;

	p = bpf_map_lookup_elem(&crypto_params_map, &zero);
	if (!p)
		return -EFAULT;
	__builtin_memset(p, 0, sizeof(*p));
	__builtin_memcpy(p->type, "skcipher", sizeof("skcipher"));
	/* GCM needs only the forward cipher, for CTR; CBC its own mode. */
	if (req->enc == IPSECIF_ENC_AES_GCM16)
		__builtin_memcpy(p->algo, "ecb(aes)", sizeof("ecb(aes)"));
	else
		__builtin_memcpy(p->algo, "cbc(aes)", sizeof("cbc(aes)"));
#pragma clang loop unroll(full)
	for (i = 0; i < IPSECIF_MAX_ENC_KEY; i++)
		p->key[i] = req->enc_key[i];
	p->key_len = req->enc_key_len;

	ctx = bpf_crypto_ctx_create(p, sizeof(*p), &err);
	__builtin_memset(p->key, 0, IPSECIF_MAX_ENC_KEY);
	if (!ctx)
		return err ? err : -ENOMEM;
	old = bpf_kptr_xchg(&k->aes, ctx);
	if (old)
		bpf_crypto_ctx_release(old);
	return 0;
}

/* out = the hash state after one block of (key block in s->tag) ^ pad. */
static __always_inline void hmac_pad_state(const __u8 auth, struct scratch *s, __u8 pad,
					   __u32 *out)
{
	int i;

	for (i = 0; i < 64; i++)
		s->tail[i] = s->tag[i] ^ pad;
	sha_init(auth, out);
	sha_compress(auth, out, &s->tail[0], s);
}

/*
 * Inner and outer HMAC states (RFC 2104 §2) from the klen-byte key at
 * s->buf[SCR_TEXT], sealed into k.  Wipes the key and what came of it.
 */
static __always_inline int hmac_setkey_alg(const __u8 auth, struct ipsecif_key *k,
					   struct scratch *s, __u32 klen)
{
	__u32 st[8] = {};
	int i, err = 0;

	if (klen > IPSECIF_MAX_AUTH_KEY)
		return -EINVAL;
	zero64(&s->tag[0]);

	if (klen > 64) {
		/* Keys longer than a block are hashed first. */
		sha_init(auth, st);
		err = sha_run(auth, st, s, SCR_TEXT, klen, 0, false, 0);
		if (err)
			goto wipe;
		sha_digest(auth, st, &s->tag[0]);
	} else {
		for (i = 0; i < 64; i++)
			s->tag[i] = s->buf[SCR_TEXT + i] & lt_mask(i, klen);
	}

	hmac_pad_state(auth, s, 0x36, st);
	err = key_seal(s, (__u8 *)st, k->hmac_ist, k->id, IPSECIF_SEAL_HMAC_IST);
	if (err)
		goto wipe;
	hmac_pad_state(auth, s, 0x5c, st);
	err = key_seal(s, (__u8 *)st, k->hmac_ost, k->id, IPSECIF_SEAL_HMAC_OST);

wipe:
	key_wipe(st, sizeof(st));
	zero64(&s->tag[0]);
	zero64(&s->tail[0]);
	return err;
}

static __always_inline int hmac_setkey(struct ipsecif_key *k, struct scratch *s, __u32 klen)
{
	return sha_dispatch(k->auth, hmac_setkey_alg, k, s, klen);
}

/*
 * The wrap key, made once per map set (it lives as long as the pinned
 * map) from the random bytes the agent sends with every key.
 */
static __always_inline int wrap_ensure(const struct ipsecif_key_req *req)
{
	struct bpf_crypto_params *p;
	struct bpf_crypto_ctx *ctx, *old;
	struct ipsecif_wrap *w;
	__u32 zero = 0;
	int err = 0, i;

	w = bpf_map_lookup_elem(&wrap, &zero);
	if (!w)
		return -EFAULT;
	if (w->aes)
		return 0;
	p = bpf_map_lookup_elem(&crypto_params_map, &zero);
	if (!p)
		return -EFAULT;
	__builtin_memset(p, 0, sizeof(*p));
	__builtin_memcpy(p->type, "skcipher", sizeof("skcipher"));
	__builtin_memcpy(p->algo, "ecb(aes)", sizeof("ecb(aes)"));
#pragma clang loop unroll(full)
	for (i = 0; i < IPSECIF_WRAP_KEY_LEN; i++)
		p->key[i] = req->wrap_key[i];
	p->key_len = IPSECIF_WRAP_KEY_LEN;
	ctx = bpf_crypto_ctx_create(p, sizeof(*p), &err);
	__builtin_memset(p->key, 0, IPSECIF_WRAP_KEY_LEN);
	if (!ctx)
		return err ? err : -ENOMEM;
	old = bpf_kptr_xchg(&w->aes, ctx);
	if (old) {
		/* Made meanwhile by another call: keep the one keys may be sealed under. */
		ctx = bpf_kptr_xchg(&w->aes, old);
		if (ctx)
			bpf_crypto_ctx_release(ctx);
	}
	return 0;
}

static __always_inline __u8 key_icv_len(__u8 enc, __u8 auth)
{
	if (enc != IPSECIF_ENC_AES_CBC)
		return IPSECIF_AEAD_ICV_LEN;
	if (auth == IPSECIF_AUTH_HMAC_SHA256_128)
		return 16;	/* RFC 4868 §2.1.1 */
	if (auth == IPSECIF_AUTH_HMAC_SHA1_96)
		return 12;	/* RFC 2404 §2 */
	return 0;
}

#endif /* IPSECIF_KEYS_H */
