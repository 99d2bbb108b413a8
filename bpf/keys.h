/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Key installation: everything derived from a key is computed once here,
 * not per packet.  Runs in the SEC("syscall") key_install program (which
 * may sleep, as bpf_crypto_ctx_create needs) and in key_derive, an XDP
 * program, because the cipher kfuncs are not offered to syscall programs.
 */
#ifndef IPSECIF_KEYS_H
#define IPSECIF_KEYS_H

#include "crypto.h"

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
	__u32 st[8];
	int i;

	for (i = 0; i < 64; i++)
		s->tail[i] = s->tag[i] ^ pad;
	sha_init(auth, st);
	sha_compress(auth, st, &s->tail[0], s);
#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++)
		out[i] = st[i];
}

/* Inner and outer HMAC states from the key (RFC 2104 §2). */
static __always_inline int hmac_setkey_alg(const __u8 auth, struct ipsecif_key *k,
					   struct scratch *s, const struct ipsecif_key_req *req)
{
	__u32 klen = req->auth_key_len, st[8];
	int i, err = 0;

	if (klen > IPSECIF_MAX_AUTH_KEY)
		return -EINVAL;
#pragma clang loop unroll(full)
	for (i = 0; i < IPSECIF_MAX_AUTH_KEY; i += 8)
		st64(&s->buf[SCR_TEXT + i], *(const __u64 *)&req->auth_key[i]);
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

	hmac_pad_state(auth, s, 0x36, k->hmac_ist);
	hmac_pad_state(auth, s, 0x5c, k->hmac_ost);

wipe:
	/* Leave no key bytes in the scratch buffer. */
#pragma clang loop unroll(full)
	for (i = 0; i < IPSECIF_MAX_AUTH_KEY; i += 8)
		st64(&s->buf[SCR_TEXT + i], 0);
	zero64(&s->tag[0]);
	zero64(&s->tail[0]);
	return err;
}

static __always_inline int hmac_setkey(struct ipsecif_key *k, struct scratch *s,
				       const struct ipsecif_key_req *req)
{
	return sha_dispatch(req->auth, hmac_setkey_alg, k, s, req);
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
