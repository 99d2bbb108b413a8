/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Poly1305 (RFC 8439 §2.5) in plain BPF with five 26-bit limbs, so every
 * product fits BPF's 64-bit multiply.  Constant time: the final reduction
 * selects with masks, never with a branch.
 *
 * Every block here is a full 16-byte block with the 2^128 bit set: the
 * AEAD construction (RFC 8439 §2.8) zero-pads AAD and ciphertext to 16.
 */
#ifndef IPSECIF_POLY1305_H
#define IPSECIF_POLY1305_H

#include "common.h"
#include "maps.h"

#define P26 0x3ffffff

/* struct poly1305, the state, is in maps.h: it lives in the scratch buffer. */
/* key: the first 32 bytes of ChaCha20 block 0 (RFC 8439 §2.6). */
static __always_inline void poly1305_init(struct poly1305 *st, const __u8 *key)
{
	/* Clamp r (RFC 8439 §2.5.1) while splitting it into limbs. */
	st->r[0] = ld32(key + 0) & 0x3ffffff;
	st->r[1] = (ld32(key + 3) >> 2) & 0x3ffff03;
	st->r[2] = (ld32(key + 6) >> 4) & 0x3ffc0ff;
	st->r[3] = (ld32(key + 9) >> 6) & 0x3f03fff;
	st->r[4] = (ld32(key + 12) >> 8) & 0x00fffff;
	st->s[0] = 0;
	st->s[1] = st->r[1] * 5;
	st->s[2] = st->r[2] * 5;
	st->s[3] = st->r[3] * 5;
	st->s[4] = st->r[4] * 5;
	st->h[0] = st->h[1] = st->h[2] = st->h[3] = st->h[4] = 0;
	st->pad[0] = ld32(key + 16);
	st->pad[1] = ld32(key + 20);
	st->pad[2] = ld32(key + 24);
	st->pad[3] = ld32(key + 28);
}

/* h = (h + m + 2^128) * r mod 2^130 - 5, for one 16-byte block m. */
static __noinline __attribute__((used)) int poly1305_block(struct poly1305 *st, const __u8 *m)
{
	__u32 r0 = st->r[0], r1 = st->r[1], r2 = st->r[2], r3 = st->r[3], r4 = st->r[4];
	__u32 s1 = st->s[1], s2 = st->s[2], s3 = st->s[3], s4 = st->s[4];
	__u32 h0, h1, h2, h3, h4, c;
	__u64 d0, d1, d2, d3, d4;

	h0 = st->h[0] + (ld32(m + 0) & P26);
	h1 = st->h[1] + ((ld32(m + 3) >> 2) & P26);
	h2 = st->h[2] + ((ld32(m + 6) >> 4) & P26);
	h3 = st->h[3] + ((ld32(m + 9) >> 6) & P26);
	h4 = st->h[4] + ((ld32(m + 12) >> 8) | (1 << 24));

	/* 2^130 = 5 mod p, hence the s[i] = 5 r[i] terms (RFC 8439 §2.5.1). */
	d0 = (__u64)h0 * r0 + (__u64)h1 * s4 + (__u64)h2 * s3 + (__u64)h3 * s2 + (__u64)h4 * s1;
	d1 = (__u64)h0 * r1 + (__u64)h1 * r0 + (__u64)h2 * s4 + (__u64)h3 * s3 + (__u64)h4 * s2;
	d2 = (__u64)h0 * r2 + (__u64)h1 * r1 + (__u64)h2 * r0 + (__u64)h3 * s4 + (__u64)h4 * s3;
	d3 = (__u64)h0 * r3 + (__u64)h1 * r2 + (__u64)h2 * r1 + (__u64)h3 * r0 + (__u64)h4 * s4;
	d4 = (__u64)h0 * r4 + (__u64)h1 * r3 + (__u64)h2 * r2 + (__u64)h3 * r1 + (__u64)h4 * r0;

	c = d0 >> 26; h0 = d0 & P26;
	d1 += c; c = d1 >> 26; h1 = d1 & P26;
	d2 += c; c = d2 >> 26; h2 = d2 & P26;
	d3 += c; c = d3 >> 26; h3 = d3 & P26;
	d4 += c; c = d4 >> 26; h4 = d4 & P26;
	h0 += c * 5; c = h0 >> 26; h0 &= P26;
	h1 += c;

	st->h[0] = h0;
	st->h[1] = h1;
	st->h[2] = h2;
	st->h[3] = h3;
	st->h[4] = h4;
	return 0;
}

/* tag = (h mod p) + pad mod 2^128, written little-endian to out (16 bytes). */
static __always_inline void poly1305_finish(struct poly1305 *st, __u8 *out)
{
	__u32 h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
	__u32 g0, g1, g2, g3, g4, c, mask;
	__u64 f;

	/* Fully carry h. */
	c = h1 >> 26; h1 &= P26;
	h2 += c; c = h2 >> 26; h2 &= P26;
	h3 += c; c = h3 >> 26; h3 &= P26;
	h4 += c; c = h4 >> 26; h4 &= P26;
	h0 += c * 5; c = h0 >> 26; h0 &= P26;
	h1 += c;

	/* g = h + 5 - 2^130; use it if it did not go negative. */
	g0 = h0 + 5; c = g0 >> 26; g0 &= P26;
	g1 = h1 + c; c = g1 >> 26; g1 &= P26;
	g2 = h2 + c; c = g2 >> 26; g2 &= P26;
	g3 = h3 + c; c = g3 >> 26; g3 &= P26;
	g4 = h4 + c - (1 << 26);

	mask = (g4 >> 31) - 1;
	g0 &= mask; g1 &= mask; g2 &= mask; g3 &= mask; g4 &= mask;
	mask = ~mask;
	h0 = (h0 & mask) | g0;
	h1 = (h1 & mask) | g1;
	h2 = (h2 & mask) | g2;
	h3 = (h3 & mask) | g3;
	h4 = (h4 & mask) | g4;

	/* Back to four 32-bit words, mod 2^128. */
	h0 = h0 | (h1 << 26);
	h1 = (h1 >> 6) | (h2 << 20);
	h2 = (h2 >> 12) | (h3 << 14);
	h3 = (h3 >> 18) | (h4 << 8);

	f = (__u64)h0 + st->pad[0];
	st32(out + 0, (__u32)f);
	f = (__u64)h1 + st->pad[1] + (f >> 32);
	st32(out + 4, (__u32)f);
	f = (__u64)h2 + st->pad[2] + (f >> 32);
	st32(out + 8, (__u32)f);
	f = (__u64)h3 + st->pad[3] + (f >> 32);
	st32(out + 12, (__u32)f);
}

#endif /* IPSECIF_POLY1305_H */
