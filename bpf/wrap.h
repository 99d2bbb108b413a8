/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Key material at rest, sealed.  The keys map is pinned, and root can read
 * any map; so what the data path needs besides the kernel's AES contexts
 * (the ChaCha20 key, the HMAC key's padded-key states) is stored encrypted
 * under the wrap key, an ecb(aes) bpf_crypto_ctx whose key only the kernel
 * holds.  Each 16-byte block is XORed with a tweak (key slot, block number)
 * before it is encrypted, so equal keys in two slots do not look alike.
 *
 * Opened material goes to the BPF stack only, never to map memory, which a
 * user-space reader could catch mid-packet; callers wipe it when done.
 */
#ifndef IPSECIF_WRAP_H
#define IPSECIF_WRAP_H

#include "maps.h"
#include "common.h"

/* The tweak of len bytes from block number block of slot id. */
static __always_inline void wrap_tweak(__u8 *p, __u32 len, __u32 id, __u32 block)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < len / IPSECIF_WRAP_BLOCK; i++)
		st64(p + i * IPSECIF_WRAP_BLOCK,
		     ld64(p + i * IPSECIF_WRAP_BLOCK) ^ ((__u64)id << 32 | (block + i)));
}

static __always_inline struct bpf_crypto_ctx *wrap_ctx(void)
{
	struct ipsecif_wrap *w;
	__u32 zero = 0;

	w = bpf_map_lookup_elem(&wrap, &zero);
	return w ? w->aes : NULL;
}

/* Opened material, on the stack: a ChaCha20 key, or the HMAC states. */
struct key32 {
	union {
		__u8 b[32];
		__u32 w[8];
	};
};

struct key64 {
	struct key32 ist;	/* sealed as hmac_ist, hmac_ost: adjacent */
	struct key32 ost;
};

/*
 * out = the len (32 or 64) sealed bytes at in (of key k), opened, from
 * tweak block number block.  The kfunc
 * writes only to map memory (bpf_dynptr_from_mem takes no stack), so the
 * opened bytes land in s->open and move to the stack at once, and
 * s->open is wiped: they sit in map memory for the few instructions in
 * between, not for the packet.
 */
static __always_inline int key_open(struct scratch *s, const struct ipsecif_key *k,
				    const __u8 *in, void *out, __u32 len, __u32 block)
{
	struct bpf_crypto_ctx *ctx = wrap_ctx();
	struct bpf_dynptr src, dst;
	int i, err = 0;

	if (!ctx)
		return -ENOKEY;
	/* Sealed with decrypt, opened with encrypt: the faster way of aes-fixed-time. */
	bpf_dynptr_from_mem((void *)in, len, 0, &src);
	bpf_dynptr_from_mem(s->open, len, 0, &dst);
	if (bpf_crypto_encrypt(ctx, &src, &dst, NULL))
		err = -EIO;
#pragma clang loop unroll(full)
	for (i = 0; i < len; i += 8) {
		st64((__u8 *)out + i, ld64(&s->open[i]));
		st64(&s->open[i], 0);
	}
	wrap_tweak(out, len, k->id, block);
	return err;
}

/*
 * Seal the 32 bytes at p into out (the key map), blocks block, block + 1
 * of slot id.  Install time only: the plaintext passes through s->aad of
 * the key programs' scratch (the kfunc takes map memory), wiped after.
 */
static __always_inline int key_seal(struct scratch *s, const __u8 *p, __u8 *out, __u32 id,
				    __u32 block)
{
	struct bpf_crypto_ctx *ctx = wrap_ctx();
	struct bpf_dynptr src, dst;
	int i, err = 0;

	if (!ctx)
		return -ENOKEY;
#pragma clang loop unroll(full)
	for (i = 0; i < 32; i += 8)
		st64(&s->aad[i], ld64(p + i));
	wrap_tweak(s->aad, 32, id, block);
	bpf_dynptr_from_mem(s->aad, 32, 0, &src);
	bpf_dynptr_from_mem(out, 32, 0, &dst);
	if (bpf_crypto_decrypt(ctx, &src, &dst, NULL))
		err = -EIO;
#pragma clang loop unroll(full)
	for (i = 0; i < 32; i += 8)
		st64(&s->aad[i], 0);
	return err;
}

/* Zero len bytes of opened material; kept though nothing reads them after. */
static __always_inline void key_wipe(void *p, __u32 len)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < len; i += 8)
		st64((__u8 *)p + i, 0);
	asm volatile("" : : "r"(p) : "memory");
}

#endif /* IPSECIF_WRAP_H */
