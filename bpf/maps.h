/* SPDX-License-Identifier: GPL-2.0-only */
/* Maps shared by the crypto library and the programs that use it. */
#ifndef IPSECIF_MAPS_H
#define IPSECIF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kfuncs.h"
#include "ipsecif_crypto.h"
#include "ipsecif.h"

/*
 * Layout of the per-CPU scratch buffer.  The text (what is encrypted)
 * always starts at SCR_TEXT, so that the ESP header and IV the HMAC must
 * cover (RFC 4303 §2.8) can sit in front of it and one SHA pass reads
 * them all from contiguous memory, and so that on the way out the whole
 * outer header (IPv6, UDP, ESP, IV: up to 72 bytes) is built right in
 * front of the ESP header and leaves in one store.  The slack at the end
 * lets the block loops run whole 64-byte blocks past the text and the
 * ICV be written behind it.
 */
#define SCR_TEXT	128
#define SCR_SIZE	(SCR_TEXT + IPSECIF_MAX_TEXT + 128)

struct poly1305 {
	__u32 r[5];
	__u32 s[5];		/* s[i] = r[i] * 5; s[0] unused */
	__u32 h[5];
	__u32 pad[4];		/* the "s" half of the one-time key */
};

struct scratch {
	__u8 buf[SCR_SIZE];
	struct poly1305 poly;		/* here, not on the stack: BPF's is small */
	__u32 w[16];			/* SHA message schedule, likewise */
	__u8 aad[IPSECIF_MAX_AAD];	/* AEAD AAD, zero-padded to 16 */
	__u8 iv[IPSECIF_CBC_IV_LEN];	/* CBC IV; the cipher overwrites it */
	__u8 tag[64];			/* [0, 32) computed, [32, 64) received */
	__u8 tail[128];			/* last hash block(s), one-time keys */
	__u8 open[64];			/* opened key material, for an instant */
};

/* CTR counter blocks for GCM, encrypted in place into keystream. */
#define KS_BLOCKS	(IPSECIF_MAX_TEXT / 16 + 2)	/* text, J0, then H */
struct keystream {
	__u8 buf[KS_BLOCKS * 16 + 64];	/* slack: bounds the verifier can see */
};

/* By SA slot (IPSECIF_SA_SLOT), like replay, sa_ctr and sa_stats below. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPSECIF_MAX_KEYS);
	__type(key, __u32);			/* the SA's slot */
	__type(value, struct ipsecif_key);
} keys SEC(".maps");

/*
 * The wrap key (bpf/wrap.h): one ecb(aes) context, made once per map set
 * from random bytes and kept by the kernel.  A kernel type, so an
 * adopting agent's programs use the pinned entry as the first agent's did.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipsecif_wrap);
} wrap SEC(".maps");

/*
 * Two of each per CPU: [0] for the data path, which runs in softirq (or
 * with bottom halves off) and so never interrupts itself; [1] for the
 * key programs, which run from a system call and may be interrupted on
 * their CPU by a packet at any moment.  Sharing one would let a packet
 * overwrite a key being derived.
 */
#define SCR_DATA	0
#define SCR_CTL		1

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct keystream);
} keystream_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPSECIF_MAX_IFACES);
	__type(key, __u32);			/* reqid */
	__type(value, struct ipsecif_iface);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * IPSECIF_MAX_IFACES);	/* ipsecN and its peer, each */
	__type(key, __u32);			/* ifindex of ipsecN or its veth peer */
	__type(value, __u32);			/* reqid */
} if_reqid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPSECIF_MAX_IFACES);
	__type(key, __u32);			/* reqid */
	__type(value, struct ipsecif_sa);
} sa_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPSECIF_MAX_SAS);
	__type(key, struct ipsecif_sa_key);
	__type(value, struct ipsecif_sa);
} sa_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPSECIF_MAX_SAS);
	__type(key, __u32);			/* the SA's slot */
	__type(value, struct ipsecif_replay);
} replay SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPSECIF_MAX_SAS);
	__type(key, __u32);			/* the SA's slot */
	__type(value, struct ipsecif_sa_ctr);
} sa_ctr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IPSECIF_MAX_SAS);
	__type(key, __u32);			/* the SA's slot */
	__type(value, struct ipsecif_stats);
} sa_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, IPSECIF_MAX_IFACES);
	__type(key, __u32);			/* reqid */
	__type(value, struct ipsecif_stats);
} if_stats SEC(".maps");

/* Drops before an SA or interface is known: [0] inbound, [1] outbound. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct ipsecif_stats);
} global_stats SEC(".maps");

/*
 * SA id's entries, found by index (its slot): NULL when the slot is not
 * id's, as for a packet that outlived its SA's slots (they linger 100 ms).
 */
static __always_inline struct ipsecif_key *sa_key_get(__u32 id)
{
	__u32 slot = IPSECIF_SA_SLOT(id);
	struct ipsecif_key *k = bpf_map_lookup_elem(&keys, &slot);

	return k && k->id == id && id ? k : NULL;
}

static __always_inline struct ipsecif_sa_ctr *sa_ctr_get(__u32 id)
{
	__u32 slot = IPSECIF_SA_SLOT(id);
	struct ipsecif_sa_ctr *c = bpf_map_lookup_elem(&sa_ctr, &slot);

	return c && c->id == id && id ? c : NULL;
}

static __always_inline struct ipsecif_replay *sa_replay_get(__u32 id)
{
	__u32 slot = IPSECIF_SA_SLOT(id);
	struct ipsecif_replay *r = bpf_map_lookup_elem(&replay, &slot);

	return r && r->id == id && id ? r : NULL;
}

static __always_inline struct scratch *scratch_get(void)
{
	__u32 slot = SCR_DATA;

	return bpf_map_lookup_elem(&scratch_map, &slot);
}

static __always_inline struct keystream *keystream_get(void)
{
	__u32 slot = SCR_DATA;

	return bpf_map_lookup_elem(&keystream_map, &slot);
}

static __always_inline struct scratch *ctl_scratch_get(void)
{
	__u32 slot = SCR_CTL;

	return bpf_map_lookup_elem(&scratch_map, &slot);
}

static __always_inline struct keystream *ctl_keystream_get(void)
{
	__u32 slot = SCR_CTL;

	return bpf_map_lookup_elem(&keystream_map, &slot);
}

#endif /* IPSECIF_MAPS_H */
