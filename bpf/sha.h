/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SHA-256 and SHA-1 compression (FIPS 180-4 §6.2, §6.1) in plain BPF, for
 * HMAC (RFC 2104).  Message words are loaded big-endian from map memory;
 * the schedule is a rolling window of 16 words to stay within BPF's stack.
 */
#ifndef IPSECIF_SHA_H
#define IPSECIF_SHA_H

#include "common.h"
#include "ipsecif_crypto.h"
#include "maps.h"

static const __u32 sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const __u32 sha256_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static const __u32 sha1_iv[5] = {
	0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0,
};

/*
 * Rounds are written out with rotating argument names instead of a loop
 * (clang will not fully unroll a 64-round loop that shuffles eight
 * variables): every index below is a constant, so the schedule stays in
 * fixed slots and the round constants are direct loads.  The schedule
 * lives in the per-CPU scratch, volatile, so that it really stays there:
 * left to itself clang hoists all of it into registers ahead of the
 * rounds and spills past BPF's 512-byte stack.
 */
#define SHA256_W(i)							\
	do {								\
		if ((i) >= 16) {					\
			__u32 w2 = w[((i) - 2) & 15], w15 = w[((i) - 15) & 15]; \
			w[(i) & 15] += (rotr32(w2, 17) ^ rotr32(w2, 19) ^ (w2 >> 10)) + \
				       w[((i) - 7) & 15] +		\
				       (rotr32(w15, 7) ^ rotr32(w15, 18) ^ (w15 >> 3)); \
		}							\
	} while (0)

#define SHA256_R(a, b, c, d, e, f, g, h, i)				\
	do {								\
		__u32 t1, t2;						\
		SHA256_W(i);						\
		t1 = h + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + \
		     ((e & f) ^ (~e & g)) + sha256_k[i] + w[(i) & 15];	\
		t2 = (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) +	\
		     ((a & b) ^ (a & c) ^ (b & c));			\
		d += t1;						\
		h = t1 + t2;						\
	} while (0)

#define SHA256_R8(i)							\
	do {								\
		SHA256_R(a, b, c, d, e, f, g, h, (i) + 0);		\
		SHA256_R(h, a, b, c, d, e, f, g, (i) + 1);		\
		SHA256_R(g, h, a, b, c, d, e, f, (i) + 2);		\
		SHA256_R(f, g, h, a, b, c, d, e, (i) + 3);		\
		SHA256_R(e, f, g, h, a, b, c, d, (i) + 4);		\
		SHA256_R(d, e, f, g, h, a, b, c, (i) + 5);		\
		SHA256_R(c, d, e, f, g, h, a, b, (i) + 6);		\
		SHA256_R(b, c, d, e, f, g, h, a, (i) + 7);		\
	} while (0)

/* The 16 message words of block p, big-endian, into the schedule in s. */
static __always_inline volatile __u32 *sha_load_block(struct scratch *s, const __u8 *p)
{
	volatile __u32 *w = s->w;
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 16; i++)
		w[i] = ld_be32(p + 4 * i);
	return w;
}

static __noinline __attribute__((used)) int sha256_compress(__u32 *st, const __u8 *p,
							   struct scratch *s)
{
	volatile __u32 *w = sha_load_block(s, p);
	__u32 a = st[0], b = st[1], c = st[2], d = st[3];
	__u32 e = st[4], f = st[5], g = st[6], h = st[7];

	SHA256_R8(0);
	SHA256_R8(8);
	SHA256_R8(16);
	SHA256_R8(24);
	SHA256_R8(32);
	SHA256_R8(40);
	SHA256_R8(48);
	SHA256_R8(56);

	st[0] += a; st[1] += b; st[2] += c; st[3] += d;
	st[4] += e; st[5] += f; st[6] += g; st[7] += h;
	return 0;
}

#define SHA1_W(i)							\
	do {								\
		if ((i) >= 16)						\
			w[(i) & 15] = rotl32(w[((i) - 3) & 15] ^ w[((i) - 8) & 15] ^ \
					     w[((i) - 14) & 15] ^ w[(i) & 15], 1); \
	} while (0)

/* FIPS 180-4 §4.1.1: Ch, Parity, Maj, Parity by round range. */
#define SHA1_F(i, b, c, d)						\
	((i) < 20 ? (((b) & (c)) | (~(b) & (d))) :			\
	 (i) < 40 ? ((b) ^ (c) ^ (d)) :					\
	 (i) < 60 ? (((b) & (c)) | ((b) & (d)) | ((c) & (d))) :		\
		    ((b) ^ (c) ^ (d)))

#define SHA1_K(i)							\
	((i) < 20 ? 0x5a827999 : (i) < 40 ? 0x6ed9eba1 :		\
	 (i) < 60 ? 0x8f1bbcdc : 0xca62c1d6)

#define SHA1_R(a, b, c, d, e, i)					\
	do {								\
		SHA1_W(i);						\
		e += rotl32(a, 5) + SHA1_F(i, b, c, d) + SHA1_K(i) + w[(i) & 15]; \
		b = rotl32(b, 30);					\
	} while (0)

#define SHA1_R5(i)							\
	do {								\
		SHA1_R(a, b, c, d, e, (i) + 0);				\
		SHA1_R(e, a, b, c, d, (i) + 1);				\
		SHA1_R(d, e, a, b, c, (i) + 2);				\
		SHA1_R(c, d, e, a, b, (i) + 3);				\
		SHA1_R(b, c, d, e, a, (i) + 4);				\
	} while (0)

static __noinline __attribute__((used)) int sha1_compress(__u32 *st, const __u8 *p,
							   struct scratch *s)
{
	volatile __u32 *w = sha_load_block(s, p);
	__u32 a = st[0], b = st[1], c = st[2], d = st[3], e = st[4];

	SHA1_R5(0); SHA1_R5(5); SHA1_R5(10); SHA1_R5(15);
	SHA1_R5(20); SHA1_R5(25); SHA1_R5(30); SHA1_R5(35);
	SHA1_R5(40); SHA1_R5(45); SHA1_R5(50); SHA1_R5(55);
	SHA1_R5(60); SHA1_R5(65); SHA1_R5(70); SHA1_R5(75);

	st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e;
	return 0;
}

/* The hash an HMAC key uses: digest and state size in 32-bit words. */
static __always_inline __u32 sha_words(const __u8 auth)
{
	return auth == IPSECIF_AUTH_HMAC_SHA1_96 ? 5 : 8;
}

/* s: the scratch the schedule lives in (the caller's: data path or control). */
static __always_inline void sha_compress(const __u8 auth, __u32 *st, const __u8 *p,
					 struct scratch *s)
{
	if (auth == IPSECIF_AUTH_HMAC_SHA1_96)
		sha1_compress(st, p, s);
	else
		sha256_compress(st, p, s);
}

static __always_inline void sha_init(const __u8 auth, __u32 *st)
{
	int i;

	if (auth == IPSECIF_AUTH_HMAC_SHA1_96) {
#pragma clang loop unroll(full)
		for (i = 0; i < 5; i++)
			st[i] = sha1_iv[i];
		st[5] = st[6] = st[7] = 0;
	} else {
#pragma clang loop unroll(full)
		for (i = 0; i < 8; i++)
			st[i] = sha256_iv[i];
	}
}

#endif /* IPSECIF_SHA_H */
