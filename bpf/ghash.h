/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * GHASH (GCM spec §2.3, as used by RFC 4106) in plain BPF, constant time.
 *
 * No table indexed by secret data: carry-less products come from ordinary
 * 64-bit multiplies of operands masked to every fourth bit.  In a product
 * of two such operands each result bit position sums at most 16 partial
 * products, and the sum of 16 only lands at bit 60 whose carry leaves the
 * 64-bit word; so the low bit of each 4-bit group is exactly the XOR of its
 * partial products.  The high half of a 64x64 product is the bit-reversed
 * low half of the product of the bit-reversed operands.
 *
 * Blocks are loaded as big-endian 64-bit halves, so coefficient i of the
 * field element (GCM's reflected bit order) is bit 127 - i.
 */
#ifndef IPSECIF_GHASH_H
#define IPSECIF_GHASH_H

#include "common.h"
#include "ipsecif_crypto.h"

#define GM0 0x1111111111111111ULL
#define GM1 0x2222222222222222ULL
#define GM2 0x4444444444444444ULL
#define GM3 0x8888888888888888ULL

/*
 * Low 64 bits of the carry-less product x * y.  y is split in its four
 * parts here, per product: the key is not kept split, since it lives on
 * the stack (bpf/wrap.h) and BPF's 512 bytes cannot hold it four times.
 */
static __always_inline __u64 clmul_lo(__u64 x, __u64 y)
{
	__u64 x0 = x & GM0, x1 = x & GM1, x2 = x & GM2, x3 = x & GM3;
	__u64 y0 = y & GM0, y1 = y & GM1, y2 = y & GM2, y3 = y & GM3;
	__u64 z0, z1, z2, z3;

	z0 = (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1);
	z1 = (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2);
	z2 = (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3);
	z3 = (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0);
	return (z0 & GM0) | (z1 & GM1) | (z2 & GM2) | (z3 & GM3);
}

static __always_inline __u64 rev64(__u64 x)
{
	x = ((x & 0x5555555555555555ULL) << 1) | ((x >> 1) & 0x5555555555555555ULL);
	x = ((x & 0x3333333333333333ULL) << 2) | ((x >> 2) & 0x3333333333333333ULL);
	x = ((x & 0x0f0f0f0f0f0f0f0fULL) << 4) | ((x >> 4) & 0x0f0f0f0f0f0f0f0fULL);
	return __builtin_bswap64(x);
}

/*
 * The GHASH key H = AES_K(0^128) (16 bytes) prepared for ghash_block:
 * its big-endian halves, the Karatsuba middle term and the bit-reversed
 * copies: h_lo, h_hi, h_lo ^ h_hi, then rev64 of those three.  Per
 * packet, on the stack: H is never stored (bpf/wrap.h).
 */
#define GHASH_KEY_WORDS	6

static __always_inline void ghash_setkey(__u64 *gh, const __u8 *h)
{
	__u64 hi = ld_be64(h), lo = ld_be64(h + 8);

	gh[0] = lo;
	gh[1] = hi;
	gh[2] = lo ^ hi;
	gh[3] = rev64(lo);
	gh[4] = rev64(hi);
	gh[5] = gh[3] ^ gh[4];
}

/* x = (x ^ block) * H, x[0] the high half. */
static __noinline __attribute__((used)) int ghash_block(__u64 *x, const __u64 *gh,
							 const __u8 *m)
{
	__u64 x1 = x[0] ^ ld_be64(m), x0 = x[1] ^ ld_be64(m + 8);
	__u64 xr0 = rev64(x0), xr1 = rev64(x1);
	__u64 a_lo, b_lo, c_lo, a_hr, b_hr, c_hr;
	__u64 z0, z1, z2, z3;

	/*
	 * Karatsuba: (x1:x0)(h1:h0) from x0h0, x1h1 and (x0^x1)(h0^h1).
	 * Each product's input goes through a barrier ordered after the
	 * previous product, so clang computes them one at a time instead of
	 * interleaving all six and spilling past BPF's stack.
	 */
#define CLMUL_SEQ(r, in, y)					\
	do {							\
		__u64 v = (in);					\
		barrier_var(v);					\
		r = clmul_lo(v, y);				\
		barrier_var(r);					\
	} while (0)
	CLMUL_SEQ(a_lo, x0, gh[0]);
	CLMUL_SEQ(b_lo, x1, gh[1]);
	CLMUL_SEQ(c_lo, x0 ^ x1, gh[2]);
	CLMUL_SEQ(a_hr, xr0, gh[3]);
	CLMUL_SEQ(b_hr, xr1, gh[4]);
	CLMUL_SEQ(c_hr, xr0 ^ xr1, gh[5]);
#undef CLMUL_SEQ

	/* The middle term is linear: fold before reversing back. */
	c_lo ^= a_lo ^ b_lo;
	c_hr ^= a_hr ^ b_hr;
	a_hr = rev64(a_hr) >> 1;
	b_hr = rev64(b_hr) >> 1;
	c_hr = rev64(c_hr) >> 1;

	z0 = a_lo;
	z1 = a_hr ^ c_lo;
	z2 = b_lo ^ c_hr;
	z3 = b_hr;

	/*
	 * The 255-bit product has coefficient i at bit 254 - i; shift it to
	 * 256 bits so the high half holds coefficients 0..127 in block order.
	 */
	z3 = (z3 << 1) | (z2 >> 63);
	z2 = (z2 << 1) | (z1 >> 63);
	z1 = (z1 << 1) | (z0 >> 63);
	z0 <<= 1;

	/*
	 * Reduce mod x^128 + x^7 + x^2 + x + 1: coefficient i >= 128 folds
	 * into i - 128 + {0, 1, 2, 7}, i.e. bit b of the low half into bits
	 * b + 128 - {0, 1, 2, 7}.  Word 0 first: it spills into word 1.
	 */
	z2 ^= z0 ^ (z0 >> 1) ^ (z0 >> 2) ^ (z0 >> 7);
	z1 ^= (z0 << 63) ^ (z0 << 62) ^ (z0 << 57);
	z3 ^= z1 ^ (z1 >> 1) ^ (z1 >> 2) ^ (z1 >> 7);
	z2 ^= (z1 << 63) ^ (z1 << 62) ^ (z1 << 57);

	x[0] = z3;
	x[1] = z2;
	return 0;
}

#endif /* IPSECIF_GHASH_H */
