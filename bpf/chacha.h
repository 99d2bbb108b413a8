/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ChaCha20 (RFC 8439 §2.3-2.4) in plain BPF.
 *
 * Constant time by construction: only additions, XORs and fixed rotations
 * on the secret state, no branch and no memory index depends on it.
 */
#ifndef IPSECIF_CHACHA_H
#define IPSECIF_CHACHA_H

#include "common.h"
#include "ipsecif_crypto.h"

#define CHACHA_QR(a, b, c, d)				\
	do {						\
		a += b; d ^= a; d = rotl32(d, 16);	\
		c += d; b ^= c; b = rotl32(b, 12);	\
		a += b; d ^= a; d = rotl32(d, 8);	\
		c += d; b ^= c; b = rotl32(b, 7);	\
	} while (0)

/* The 96-bit nonce as three little-endian words (RFC 8439 §2.3). */
struct chacha_nonce {
	__u32 n[3];
};

/*
 * XOR one 64-byte keystream block, for block counter ctr, into p.
 * p is map memory; the key words are the opened key, on the stack
 * (bpf/wrap.h).  A subprogram, not inlined: it is the largest piece of
 * code and is called from three places.
 */
static __noinline __attribute__((used)) int chacha20_xor_block(const __u32 *key,
					  const struct chacha_nonce *nc,
					  __u32 ctr, __u8 *p)
{
	__u32 x0 = 0x61707865, x1 = 0x3320646e, x2 = 0x79622d32, x3 = 0x6b206574;
	__u32 x4 = key[0], x5 = key[1];
	__u32 x6 = key[2], x7 = key[3];
	__u32 x8 = key[4], x9 = key[5];
	__u32 x10 = key[6], x11 = key[7];
	__u32 x12 = ctr, x13 = nc->n[0], x14 = nc->n[1], x15 = nc->n[2];
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 10; i++) {
		CHACHA_QR(x0, x4, x8, x12);
		CHACHA_QR(x1, x5, x9, x13);
		CHACHA_QR(x2, x6, x10, x14);
		CHACHA_QR(x3, x7, x11, x15);
		CHACHA_QR(x0, x5, x10, x15);
		CHACHA_QR(x1, x6, x11, x12);
		CHACHA_QR(x2, x7, x8, x13);
		CHACHA_QR(x3, x4, x9, x14);
	}

	/* RFC 8439 §2.3: add the input state back in, then XOR. */
	st32(p + 0, ld32(p + 0) ^ (x0 + 0x61707865));
	st32(p + 4, ld32(p + 4) ^ (x1 + 0x3320646e));
	st32(p + 8, ld32(p + 8) ^ (x2 + 0x79622d32));
	st32(p + 12, ld32(p + 12) ^ (x3 + 0x6b206574));
	st32(p + 16, ld32(p + 16) ^ (x4 + key[0]));
	st32(p + 20, ld32(p + 20) ^ (x5 + key[1]));
	st32(p + 24, ld32(p + 24) ^ (x6 + key[2]));
	st32(p + 28, ld32(p + 28) ^ (x7 + key[3]));
	st32(p + 32, ld32(p + 32) ^ (x8 + key[4]));
	st32(p + 36, ld32(p + 36) ^ (x9 + key[5]));
	st32(p + 40, ld32(p + 40) ^ (x10 + key[6]));
	st32(p + 44, ld32(p + 44) ^ (x11 + key[7]));
	st32(p + 48, ld32(p + 48) ^ (x12 + ctr));
	st32(p + 52, ld32(p + 52) ^ (x13 + nc->n[0]));
	st32(p + 56, ld32(p + 56) ^ (x14 + nc->n[1]));
	st32(p + 60, ld32(p + 60) ^ (x15 + nc->n[2]));
	return 0;
}

#endif /* IPSECIF_CHACHA_H */
