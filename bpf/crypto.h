/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ESP transforms over the per-CPU scratch buffer:
 *   ChaCha20-Poly1305	RFC 7634 (construction of RFC 8439 §2.8)
 *   AES-GCM-16		RFC 4106 (AES through the bpf_crypto kfuncs)
 *   AES-CBC		RFC 3602, with HMAC-SHA-256-128 (RFC 4868) or
 *			HMAC-SHA1-96 (RFC 2404), or none
 *
 * The caller puts the text at s->buf[SCR_TEXT], and for CBC the SPI,
 * sequence number and IV in the 24 bytes in front of it (RFC 4303 §2: the
 * ICV covers them).  Seal writes the ICV behind the text; open expects it
 * there, and decrypts only once it has been verified.
 */
#ifndef IPSECIF_CRYPTO_BPF_H
#define IPSECIF_CRYPTO_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "chacha.h"
#include "poly1305.h"
#include "ghash.h"
#include "sha.h"
#include "wrap.h"

struct crypt_args {
	__u32 len;		/* text bytes at SCR_TEXT */
	__u32 aad_len;		/* AEAD: bytes of s->aad, zero-padded */
	__u32 seq_hi;		/* ESN high half, host order */
	__u32 esn;		/* HMAC: append seq_hi (RFC 4303 §2.2.1) */
	__u8 iv[IPSECIF_AEAD_IV_LEN];	/* AEAD only; CBC's is in the buffer */
};

/*
 * The loop callbacks bound the offset they compute, not the index: the
 * verifier then knows the very register used for the access.
 */
struct chacha_loop {
	struct scratch *s;
	const __u32 *key;	/* the opened key, on chapoly_crypt's stack */
	struct chacha_nonce nc;
};

/* Block 0 keys Poly1305, so the text starts at block 1 (RFC 8439 §2.8). */
static int chacha_loop_cb(__u32 i, void *data)
{
	struct chacha_loop *c = data;
	__u32 off = i * 64;

	if (off > IPSECIF_MAX_TEXT - 64)
		return 1;
	chacha20_xor_block(c->key, &c->nc, i + 1, &c->s->buf[SCR_TEXT + off]);
	return 0;
}

struct mac_loop {
	struct scratch *s;
	const __u64 *gh;	/* GHASH: the prepared H, on gcm_crypt's stack */
	void *st;		/* struct poly1305 or the GHASH accumulator */
};

static int poly_loop_cb(__u32 i, void *data)
{
	struct mac_loop *c = data;
	__u32 off = i * 16;

	if (off > IPSECIF_MAX_TEXT - 16)
		return 1;
	poly1305_block(c->st, &c->s->buf[SCR_TEXT + off]);
	return 0;
}

static int ghash_loop_cb(__u32 i, void *data)
{
	struct mac_loop *c = data;
	__u32 off = i * 16;

	if (off > IPSECIF_MAX_TEXT - 16)
		return 1;
	ghash_block(c->st, c->gh, &c->s->buf[SCR_TEXT + off]);
	return 0;
}

struct ctr_loop {
	struct scratch *s;
	struct keystream *ks;
	__u32 salt;
	__u32 pad;
	__u64 iv;
};

/*
 * Counter block j: salt | IV | j + 2, big-endian (RFC 4106 §4); text
 * block j takes its keystream from block j.  J0 (counter 1, for the tag)
 * goes behind the text's blocks so the keystream of text offset x is at
 * offset x, a shape the verifier can bound.
 */
static int ctr_fill_cb(__u32 j, void *data)
{
	struct ctr_loop *c = data;
	__u32 off = j * 16;
	__u8 *q;

	if (off > KS_BLOCKS * 16 - 16)
		return 1;
	q = &c->ks->buf[off];
	st32(q, c->salt);
	st64(q + 4, c->iv);
	st_be32(q + 12, j + 2);
	return 0;
}

/* Text bytes [64 i, 64 i + 64) ^= keystream. */
static int ctr_xor_cb(__u32 i, void *data)
{
	struct ctr_loop *c = data;
	__u32 off = i * 64;
	__u8 *p, *q;
	int j;

	if (off > IPSECIF_MAX_TEXT - 64)
		return 1;
	p = &c->s->buf[SCR_TEXT + off];
	q = &c->ks->buf[off];
#pragma clang loop unroll(full)
	for (j = 0; j < 64; j += 8)
		st64(p + j, ld64(p + j) ^ ld64(q + j));
	return 0;
}

/* Zero the text's padding up to the next 16 bytes (RFC 8439 §2.8, GCM §2.3). */
static __always_inline void zero_pad16(struct scratch *s, __u32 len)
{
	__u32 end = (len + 15) & ~15U;
	int i;

	if (len > IPSECIF_MAX_TEXT)
		return;
#pragma clang loop unroll(full)
	for (i = 0; i < 15; i++)
		s->buf[SCR_TEXT + len + i] &= ~lt_mask(len + i, end);
}

/* 0 when the first n bytes of a and b match; time depends on n only. */
static __always_inline __u32 tag_diff(const __u8 *a, const __u8 *b, __u32 n)
{
	__u32 d = 0;
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 16; i++)
		d |= (a[i] ^ b[i]) & lt_mask(i, n);
	return d;
}

static __always_inline void tag_save(struct scratch *s, __u32 len)
{
	if (len > IPSECIF_MAX_TEXT)
		return;
	st64(&s->tag[32], ld64(&s->buf[SCR_TEXT + len]));
	st64(&s->tag[40], ld64(&s->buf[SCR_TEXT + len + 8]));
}

static __always_inline void tag_put(struct scratch *s, __u32 len)
{
	if (len > IPSECIF_MAX_TEXT)
		return;
	st64(&s->buf[SCR_TEXT + len], ld64(&s->tag[0]));
	st64(&s->buf[SCR_TEXT + len + 8], ld64(&s->tag[8]));
}

static __always_inline void zero64(__u8 *p)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 64; i += 8)
		st64(p + i, 0);
}

static __noinline int chapoly_crypt(const struct ipsecif_key *k, struct scratch *s,
					 const struct crypt_args *a, bool open)
{
	struct key32 key = {};
	struct chacha_loop cl = { .s = s, .key = key.w };
	struct poly1305 *st = &s->poly;
	struct mac_loop ml = { .s = s, .st = st };
	__u32 len = a->len, aad_len = a->aad_len;
	int err;

	if (len > IPSECIF_MAX_TEXT || aad_len > IPSECIF_MAX_AAD)
		return -EINVAL;
	err = key_open(s, k, k->chacha_key, &key, sizeof(key), IPSECIF_SEAL_CHACHA);
	if (err)
		return err;

	/* Nonce = salt | IV (RFC 7634 §2). */
	cl.nc.n[0] = ld32(k->salt);
	cl.nc.n[1] = *(const __u32 *)&a->iv[0];
	cl.nc.n[2] = *(const __u32 *)&a->iv[4];

	/* One-time Poly1305 key from block 0 (RFC 8439 §2.6). */
	zero64(s->tail);
	chacha20_xor_block(key.w, &cl.nc, 0, s->tail);
	poly1305_init(st, s->tail);

	if (open)
		tag_save(s, len);
	else
		bpf_loop((len + 63) / 64, chacha_loop_cb, &cl, 0);
	zero_pad16(s, len);

	if (aad_len)
		poly1305_block(st, &s->aad[0]);
	if (aad_len > 16)
		poly1305_block(st, &s->aad[16]);
	bpf_loop((len + 15) / 16, poly_loop_cb, &ml, 0);
	st64(&s->tail[0], aad_len);
	st64(&s->tail[8], len);
	poly1305_block(st, s->tail);
	poly1305_finish(st, s->tag);

	if (!open) {
		tag_put(s, len);
	} else if (tag_diff(&s->tag[0], &s->tag[32], IPSECIF_AEAD_ICV_LEN)) {
		err = -EBADMSG;
	} else {
		bpf_loop((len + 63) / 64, chacha_loop_cb, &cl, 0);
	}
	key_wipe(&key, sizeof(key));
	return err;
}

/* The prepared GHASH key (bpf/ghash.h), on gcm_crypt's stack. */
struct ghash_key {
	__u64 gh[GHASH_KEY_WORDS];
};

/*
 * One kfunc call per packet: the counter blocks for the text and J0 go
 * through ecb(aes) at once.  Leaves E(K, J0) at ks->buf[16 * nblocks].
 * With h, one zero block more: the GHASH key H = E(K, 0^128) (GCM spec
 * §2.3), which moves to h on the stack and is wiped from the keystream at
 * once (the key's first packet in an agent load; the cache has it after,
 * bpf/wrap.h).  H is never stored in map memory but for those few
 * instructions.
 */
static __always_inline int gcm_keystream(const struct ipsecif_key *k, struct ctr_loop *cl,
					 __u32 nblocks, __u64 *h)
{
	struct bpf_crypto_ctx *ctx = k->aes;
	struct bpf_dynptr src, dst;
	__u32 n = nblocks * 16;
	__u8 *j0, *e;
	int err = 0;

	if (!ctx)
		return -ENOKEY;
	if (n > KS_BLOCKS * 16 - 32)
		return -EINVAL;
	bpf_loop(nblocks, ctr_fill_cb, cl, 0);
	j0 = &cl->ks->buf[n];
	st32(j0, cl->salt);
	st64(j0 + 4, cl->iv);
	st_be32(j0 + 12, 1);
	e = j0 + 16;
	st64(e, 0);
	st64(e + 8, 0);
	n += h ? 32 : 16;
	bpf_dynptr_from_mem(cl->ks->buf, n, 0, &src);
	bpf_dynptr_from_mem(cl->ks->buf, n, 0, &dst);
	if (bpf_crypto_encrypt(ctx, &src, &dst, NULL))
		err = -EIO;
	if (h) {
		h[0] = ld64(e);
		h[1] = ld64(e + 8);
		st64(e, 0);
		st64(e + 8, 0);
	}
	return err;
}

static __noinline int gcm_crypt(const struct ipsecif_key *k, struct scratch *s,
				     const struct crypt_args *a, bool open)
{
	struct ghash_key g = {};
	struct ctr_loop cl = { .s = s };
	__u64 x[2] = { 0, 0 }, h[2];
	bool cached;
	struct mac_loop ml = { .s = s, .gh = g.gh, .st = x };
	__u32 len = a->len, aad_len = a->aad_len, j0;
	const __u8 *ekj0;
	int err;

	if (len > IPSECIF_MAX_TEXT || aad_len > IPSECIF_MAX_AAD)
		return -EINVAL;
	cl.ks = keystream_get();
	if (!cl.ks)
		return -EFAULT;
	cl.salt = ld32(k->salt);
	cl.iv = *(const __u64 *)a->iv;
	cached = !key_cached(k, g.gh, sizeof(g.gh));
	err = gcm_keystream(k, &cl, (len + 15) / 16, cached ? NULL : h);
	if (!err && !cached) {
		ghash_setkey(g.gh, (const __u8 *)h);
		key_cache_put(k, g.gh, sizeof(g.gh));
	}
	key_wipe(h, sizeof(h));
	if (err) {
		key_wipe(&g, sizeof(g));
		return err;
	}

	if (open)
		tag_save(s, len);
	else
		bpf_loop((len + 63) / 64, ctr_xor_cb, &cl, 0);
	zero_pad16(s, len);

	if (aad_len)
		ghash_block(x, g.gh, &s->aad[0]);
	if (aad_len > 16)
		ghash_block(x, g.gh, &s->aad[16]);
	bpf_loop((len + 15) / 16, ghash_loop_cb, &ml, 0);
	st_be64(&s->tail[0], (__u64)aad_len * 8);
	st_be64(&s->tail[8], (__u64)len * 8);
	ghash_block(x, g.gh, s->tail);
	key_wipe(&g, sizeof(g));

	/* T = GHASH ^ E(K, J0) (GCM spec §2.3) */
	st_be64(&s->tag[0], x[0]);
	st_be64(&s->tag[8], x[1]);
	j0 = (len + 15) & ~15U;
	if (j0 > KS_BLOCKS * 16 - 16)
		return -EINVAL;
	ekj0 = &cl.ks->buf[j0];
	barrier_var(ekj0);
	st64(&s->tag[0], ld64(&s->tag[0]) ^ ld64(ekj0));
	st64(&s->tag[8], ld64(&s->tag[8]) ^ ld64(ekj0 + 8));

	if (!open) {
		tag_put(s, len);
		return 0;
	}
	if (tag_diff(&s->tag[0], &s->tag[32], IPSECIF_AEAD_ICV_LEN))
		return -EBADMSG;
	bpf_loop((len + 63) / 64, ctr_xor_cb, &cl, 0);
	return 0;
}

struct sha_loop {
	struct scratch *s;
	__u32 *st;
	__u32 off;
};

static int sha256_loop_cb(__u32 i, void *data)
{
	struct sha_loop *c = data;
	__u32 off = c->off + i * 64;

	if (off > SCR_SIZE - 64)
		return 1;
	sha256_compress(c->st, &c->s->buf[off], c->s);
	return 0;
}

static int sha1_loop_cb(__u32 i, void *data)
{
	struct sha_loop *c = data;
	__u32 off = c->off + i * 64;

	if (off > SCR_SIZE - 64)
		return 1;
	sha1_compress(c->st, &c->s->buf[off], c->s);
	return 0;
}

/*
 * The hash functions below take auth as a compile-time constant: callers
 * branch once on the key's transform (sha_dispatch) and each branch gets
 * its own copy.  A runtime choice per block would fork the verifier's
 * state at every call and the forks would multiply.
 */
#define sha_dispatch(auth, fn, ...)					\
	((auth) == IPSECIF_AUTH_HMAC_SHA1_96 ?				\
		fn(IPSECIF_AUTH_HMAC_SHA1_96, __VA_ARGS__) :		\
		fn(IPSECIF_AUTH_HMAC_SHA256_128, __VA_ARGS__))

/*
 * Continue hash state st over s->buf[off, off + mlen), then the 4 bytes
 * of seq_hi when esn, and finish with FIPS 180-4 §5.1.1 padding.  pre is
 * how many bytes st has absorbed already (64 after an HMAC pad block).
 */
static __always_inline int sha_run(const __u8 auth, __u32 *st, struct scratch *s, __u32 off,
				   __u32 mlen, __u32 pre, bool esn, __u32 seq_hi)
{
	struct sha_loop sl = { .s = s, .st = st, .off = off };
	__u32 rem = mlen & 63, src = off + (mlen & ~63U);
	__u64 bits;
	int i;

	if (off > SCR_TEXT || mlen > IPSECIF_MAX_TEXT + SCR_TEXT)
		return -EINVAL;
	bpf_loop(mlen / 64, auth == IPSECIF_AUTH_HMAC_SHA1_96 ? sha1_loop_cb : sha256_loop_cb,
		 &sl, 0);

	barrier_var(src);
	if (src > SCR_SIZE - 64)
		return -EINVAL;
	zero64(&s->tail[0]);
	zero64(&s->tail[64]);
	for (i = 0; i < 64; i++)
		s->tail[i] = s->buf[src + i] & lt_mask(i, rem);
	bits = (__u64)(pre + mlen) * 8;
	if (esn) {
		st_be32(&s->tail[rem], seq_hi);
		rem += 4;
		bits += 32;
	}
	s->tail[rem] = 0x80;
	if (rem + 1 + 8 <= 64) {
		st_be64(&s->tail[56], bits);
		sha_compress(auth, st, &s->tail[0], s);
	} else {
		st_be64(&s->tail[120], bits);
		sha_compress(auth, st, &s->tail[0], s);
		sha_compress(auth, st, &s->tail[64], s);
	}
	return 0;
}

/* Write the digest of state st big-endian to out. */
static __always_inline void sha_digest(const __u8 auth, const __u32 *st, __u8 *out)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++)
		if (i < sha_words(auth))
			st_be32(out + 4 * i, st[i]);
}

static __always_inline int hmac_alg(const __u8 auth, const struct ipsecif_key *k,
				    struct scratch *s, __u32 off, __u32 mlen, bool esn,
				    __u32 seq_hi)
{
	struct key64 h = {};
	__u32 *st = h.ist.w;
	__u32 dlen = sha_words(auth) * 4;
	int err;

	/* Both states in one call: hmac_ost follows hmac_ist. */
	err = key_open(s, k, k->hmac_ist, &h, sizeof(h), IPSECIF_SEAL_HMAC_IST);
	if (err)
		goto wipe;
	err = sha_run(auth, st, s, off, mlen, 64, esn, seq_hi);
	if (err)
		goto wipe;

	zero64(&s->tail[0]);
	sha_digest(auth, st, &s->tail[0]);
	s->tail[dlen] = 0x80;
	st_be64(&s->tail[56], (__u64)(64 + dlen) * 8);
	st = h.ost.w;
	sha_compress(auth, st, &s->tail[0], s);
	sha_digest(auth, st, &s->tag[0]);
wipe:
	key_wipe(&h, sizeof(h));
	return err;
}

/*
 * HMAC (RFC 2104) of s->buf[off, off + mlen) [+ seq_hi] into s->tag[0..],
 * from the precomputed inner and outer states.  A subprogram of its own,
 * so its frame is not stacked on its callers' (BPF's 512 bytes are
 * shared along the call chain); ESN and the high half travel in one
 * argument because BPF calls take five.
 */
#define HMAC_ESN(seq_hi) ((1ULL << 32) | (seq_hi))

static __noinline __attribute__((used)) int hmac_(const struct ipsecif_key *k, struct scratch *s,
						  __u32 off, __u32 mlen, __u64 esn_hi)
{
	bool esn = esn_hi >> 32;

	return sha_dispatch(k->auth, hmac_alg, k, s, off, mlen, esn, (__u32)esn_hi);
}

static __always_inline int hmac(const struct ipsecif_key *k, struct scratch *s, __u32 off,
				__u32 mlen, bool esn, __u32 seq_hi)
{
	return hmac_(k, s, off, mlen, esn ? HMAC_ESN(seq_hi) : 0);
}

/* Offset of SPI | sequence | IV in front of a CBC text. */
#define CBC_AUTH_OFF	(SCR_TEXT - 8 - IPSECIF_CBC_IV_LEN)

/* CBC over the text in place, from the IV in front of it (RFC 3602 §2.4). */
static __noinline __attribute__((used)) int cbc_cipher(const struct ipsecif_key *k,
							struct scratch *s, __u32 len, bool open)
{
	struct bpf_crypto_ctx *ctx = k->aes;
	struct bpf_dynptr src, dst, iv;
	int err;

	if (!ctx)
		return -ENOKEY;
	if (!len)
		return 0;
	if (len > IPSECIF_MAX_TEXT)
		return -EINVAL;
	/* The cipher leaves the chaining value in the IV: use a copy. */
	st64(&s->iv[0], ld64(&s->buf[SCR_TEXT - 16]));
	st64(&s->iv[8], ld64(&s->buf[SCR_TEXT - 8]));
	bpf_dynptr_from_mem(&s->buf[SCR_TEXT], len, 0, &src);
	bpf_dynptr_from_mem(&s->buf[SCR_TEXT], len, 0, &dst);
	bpf_dynptr_from_mem(s->iv, sizeof(s->iv), 0, &iv);
	if (open)
		err = bpf_crypto_decrypt(ctx, &src, &dst, &iv);
	else
		err = bpf_crypto_encrypt(ctx, &src, &dst, &iv);
	return err ? -EIO : 0;
}

static __noinline int cbc_crypt(const struct ipsecif_key *k, struct scratch *s,
				const struct crypt_args *a, bool open)
{
	__u32 len = a->len, icv = k->icv_len;
	int err;

	if (len > IPSECIF_MAX_TEXT || (len & 15) || icv > IPSECIF_MAX_ICV_LEN)
		return -EINVAL;

	if (open && k->auth) {
		tag_save(s, len);
		err = hmac(k, s, CBC_AUTH_OFF, 8 + IPSECIF_CBC_IV_LEN + len, a->esn, a->seq_hi);
		if (err)
			return err;
		if (tag_diff(&s->tag[0], &s->tag[32], icv))
			return -EBADMSG;
	}

	err = cbc_cipher(k, s, len, open);
	if (err)
		return err;

	if (!open && k->auth) {
		err = hmac(k, s, CBC_AUTH_OFF, 8 + IPSECIF_CBC_IV_LEN + len, a->esn, a->seq_hi);
		if (err)
			return err;
		tag_put(s, len);
	}
	return 0;
}

/*
 * Seal (open == 0) or open the text in the per-CPU scratch buffer s with
 * key k, a pointer into the keys map (the AES context's kptr is usable
 * only from there).  Returns 0, -EBADMSG when the ICV does not verify,
 * -EINVAL for lengths the suite cannot take, -ENOKEY for a missing or
 * incomplete key, -EIO when the kernel cipher fails.  Inlined into the
 * ESP programs, which have looked the key up once for the packet.
 */
static __always_inline int crypt_key(const struct ipsecif_key *k, struct scratch *s,
				     const struct crypt_args *a, __u32 open)
{
	if (!(k->flags & IPSECIF_KEY_F_READY))
		return -ENOKEY;
	switch (k->enc) {
	case IPSECIF_ENC_CHACHA20_POLY1305:
		return chapoly_crypt(k, s, a, open);
	case IPSECIF_ENC_AES_GCM16:
		return gcm_crypt(k, s, a, open);
	case IPSECIF_ENC_AES_CBC:
		return cbc_crypt(k, s, a, open);
	}
	return -EINVAL;
}

/*
 * crypt_key() by key id, for the callers that hold no key pointer (the
 * engine's fallback, the crypto tests).  A global function: the verifier
 * checks it once per program instead of at every call.  It looks up the
 * key and the scratch buffer itself, because to a global function a
 * pointer argument is plain memory, and the AES context's kptr must be
 * read from the key map to be usable.
 */
__noinline int ipsecif_crypt(__u32 key_id, const struct crypt_args *a, __u32 open)
{
	struct ipsecif_key *k = sa_key_get(key_id);
	struct scratch *s = scratch_get();

	if (!k || !s || !a)
		return -ENOKEY;
	return crypt_key(k, s, a, open);
}

#endif /* IPSECIF_CRYPTO_BPF_H */
