/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Key material at rest, sealed.  The keys map is pinned, and root can read
 * any map; so what the data path needs besides the kernel's AES contexts
 * (the ChaCha20 key, the HMAC key's padded-key states) is stored encrypted
 * under the wrap key, an ecb(aes) bpf_crypto_ctx whose key only the kernel
 * holds.  Each 16-byte block is XORed with a tweak (key slot, block number)
 * before it is encrypted, so equal keys in two slots do not look alike.
 *
 * Opened, the material is cached in kernel objects no lookup shows
 * (key_cache below) and copied per packet to the BPF stack, never kept in
 * map memory, which a user-space reader could catch mid-packet; callers
 * wipe the stack copy when done.
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

/* Zero len bytes of opened material; kept though nothing reads them after. */
static __always_inline void key_wipe(void *p, __u32 len)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < len; i += 8)
		st64((__u8 *)p + i, 0);
	asm volatile("" : : "r"(p) : "memory");
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
 * The opened material of the keys in use, one object per key, cached so
 * that a packet does not pay an ecb(aes) call to open it.  The objects are
 * of this load's own type (bpf_obj_new): kernel memory that no map lookup
 * shows (a lookup of a kptr field reads as zero), so the opened keys are
 * never in map memory.  The map is not pinned: such a type matches only
 * within the BTF of one load, so each agent's load has its own cache and
 * fills it as packets come; the sealed keys map is what survives a restart.
 * Slot id % KEY_CACHE_SLOTS; the object names its key, so two keys that
 * share a slot only take turns.  The key map's layout and this one's are
 * in include/ipsecif_crypto.h.
 */
#define KEY_CACHE_SLOTS	IPSECIF_KEY_CACHE_SLOTS

struct key_plain {
	struct bpf_refcount ref;	/* read under RCU, freed after a grace period */
	__u32 id;			/* the key slot it is of */
	__u64 w[8];			/* ChaCha20 key, GHASH key or HMAC states */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KEY_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct ipsecif_key_cache);
} key_cache SEC(".maps");

/* len bytes (a multiple of 8, up to 64) of k's opened material; -ENOENT if not cached. */
static __always_inline int key_cached(const struct ipsecif_key *k, void *out, __u32 len)
{
	__u32 idx = k->id & (KEY_CACHE_SLOTS - 1);
	struct ipsecif_key_cache *c = bpf_map_lookup_elem(&key_cache, &idx);
	struct key_plain *p;
	int i;

	if (!c)
		return -ENOENT;
	p = c->p;
	if (!p || p->id != k->id)
		return -ENOENT;
#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++)
		if (i * 8 < len)
			((__u64 *)out)[i] = p->w[i];
	return 0;
}

/* Cache len bytes of k's opened material from in (the stack). */
static __always_inline void key_cache_put(const struct ipsecif_key *k, const void *in, __u32 len)
{
	__u32 idx = k->id & (KEY_CACHE_SLOTS - 1);
	struct ipsecif_key_cache *c = bpf_map_lookup_elem(&key_cache, &idx);
	struct key_plain *n, *old;
	int i;

	if (!c)
		return;
	n = bpf_obj_new(struct key_plain);
	if (!n)
		return;		/* no memory: opened again next time */
	n->id = k->id;
#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++)
		if (i * 8 < len)
			n->w[i] = ((const __u64 *)in)[i];
	old = bpf_kptr_xchg(&c->p, n);
	c->id = k->id;
	if (old)
		bpf_obj_drop(old);
}

/*
 * out = the len (32 or 64) sealed bytes at in (of key k), opened, from
 * tweak block number block: from the cache, or opened and cached.  The
 * kfunc writes only to map memory (bpf_dynptr_from_mem takes no stack),
 * so the opened bytes land in s->open and move to the stack at once, and
 * s->open is wiped: once per key and agent load, for a few instructions.
 */
static __always_inline int key_open(struct scratch *s, const struct ipsecif_key *k,
				    const __u8 *in, void *out, __u32 len, __u32 block)
{
	struct bpf_crypto_ctx *ctx;
	struct bpf_dynptr src, dst;
	int i, err = 0;

	if (!key_cached(k, out, len))
		return 0;
	ctx = wrap_ctx();
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
	if (!err)
		key_cache_put(k, out, len);
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
	key_wipe(s->aad, 32);
	return err;
}

#endif /* IPSECIF_WRAP_H */
