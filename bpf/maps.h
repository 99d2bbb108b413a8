/* SPDX-License-Identifier: GPL-2.0-only */
/* Maps shared by the crypto library and the programs that use it. */
#ifndef IPSECIF_MAPS_H
#define IPSECIF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kfuncs.h"
#include "ipsecif_crypto.h"
#include "ipsecif.h"

#define IPSECIF_MAX_KEYS	8192

/*
 * Layout of the per-CPU scratch buffer.  The text (what is encrypted)
 * always starts at SCR_TEXT, so that the ESP header and IV the HMAC must
 * cover (RFC 4303 §2.8) can sit in front of it and one SHA pass reads
 * them all from contiguous memory.  The slack at the end lets the block
 * loops run whole 64-byte blocks past the text and the ICV be written
 * behind it.
 */
#define SCR_TEXT	64
#define SCR_SIZE	(SCR_TEXT + IPSECIF_MAX_TEXT + 128)

struct scratch {
	__u8 buf[SCR_SIZE];
	__u8 aad[IPSECIF_MAX_AAD];	/* AEAD AAD, zero-padded to 16 */
	__u8 iv[IPSECIF_CBC_IV_LEN];	/* CBC IV; the cipher overwrites it */
	__u8 tag[64];			/* [0, 32) computed, [32, 64) received */
	__u8 tail[128];			/* last hash block(s), one-time keys */
};

/* CTR counter blocks for GCM, encrypted in place into keystream. */
#define KS_BLOCKS	(IPSECIF_MAX_TEXT / 16 + 1)	/* text, then J0 */
struct keystream {
	__u8 buf[KS_BLOCKS * 16 + 64];	/* slack: bounds the verifier can see */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPSECIF_MAX_KEYS);
	__type(key, __u32);
	__type(value, struct ipsecif_key);
} keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct keystream);
} keystream_map SEC(".maps");

static __always_inline struct scratch *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline struct keystream *keystream_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&keystream_map, &zero);
}

#endif /* IPSECIF_MAPS_H */
