/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The vector-crypto engine, BPF's side of the choice: whether a packet's
 * cipher goes to a worker (include/ipsecif_engine.h), and the trailer
 * that tells the worker what to do.  The ESP work around the cipher stays
 * here, on both paths; the engine link's own programs are in eng_link.h.
 *
 * The maps are private to one agent load, never pinned, like key_cache:
 * the workers and their sockets live and die with the agent that started
 * them, and an adopting agent starts with the engine down, every packet
 * ciphered by BPF, until its own workers are bound.
 */
#ifndef IPSECIF_ENGINE_BPF_H
#define IPSECIF_ENGINE_BPF_H

#include "maps.h"
#include "ipsecif_engine.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipsecif_eng_conf);
} eng_conf SEC(".maps");

/* Which keys the workers hold: slot id % IPSECIF_ENG_KEY_SLOTS names id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPSECIF_ENG_KEY_SLOTS);
	__type(key, __u32);
	__type(value, struct ipsecif_eng_keyslot);
} eng_keys SEC(".maps");

/* The workers' devices (ipsecif-wQ): ifindex -> Q. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPSECIF_ENG_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u32);
} eng_wdevs SEC(".maps");

/* The workers' AF_XDP sockets, by worker (each on queue 0 of its device). */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, IPSECIF_ENG_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u32);
} eng_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipsecif_eng_counters);
} eng_stats SEC(".maps");

#define ENG_TRL		((__u32)sizeof(struct ipsecif_eng_trailer))
_Static_assert(sizeof(((struct scratch *)0)->tail) >= sizeof(struct ipsecif_eng_trailer),
	       "the trailer is built in the scratch's tail");

#define ENG_SENT	0
#define ENG_BACK	1
#define ENG_FALLBACK	2
#define ENG_BAD		3

static __always_inline void eng_count(__u32 what, __u32 dir)
{
	__u32 zero = 0;
	struct ipsecif_eng_counters *c = bpf_map_lookup_elem(&eng_stats, &zero);

	if (!c || dir > 1)
		return;
	if (what == ENG_SENT)
		c->sent[dir]++;
	else if (what == ENG_BACK)
		c->back[dir]++;
	else if (what == ENG_FALLBACK)
		c->fallback[dir]++;
	else
		c->bad[dir]++;
}

/*
 * Does the engine take this packet (sequence number seq of the SA whose
 * counters are c)?  Its ifindex (the SA's worker's link), or 0: not up,
 * the suite's threshold not met (below it BPF's cipher is the cheaper,
 * docs/BENCHMARKS.md) while none of the SA's packets is in the engine,
 * a frame too big for a worker's buffer, or a key the workers do not hold.
 */
static __always_inline __u32 eng_pick(__u32 key_id, __u32 enc, __u32 text, __u32 frame,
				      struct ipsecif_sa_ctr *c, __u64 seq)
{
	struct ipsecif_eng_conf *conf;
	struct ipsecif_eng_keyslot *ks;
	__u32 zero = 0, slot, min, n;

	conf = bpf_map_lookup_elem(&eng_conf, &zero);
	if (!conf || !conf->up || enc >= IPSECIF_ENC_MAX)
		return 0;
	n = conf->n;
	if (!n || n > IPSECIF_ENG_MAX_WORKERS)
		return 0;
	min = conf->min_text[enc];
	if (!min || frame + ENG_TRL > IPSECIF_ENG_MAX_FRAME)
		return 0;
	if (text < min && READ_ONCE(c->eng_back) >= READ_ONCE(c->eng_sent))
		return 0;
	slot = key_id & (IPSECIF_ENG_KEY_SLOTS - 1);
	ks = bpf_map_lookup_elem(&eng_keys, &slot);
	if (!ks || ks->id != key_id)
		return 0;
	/* One worker an SA, so that its frames keep their order. */
	slot = key_id % n;
	barrier_var(slot);	/* the mask below stays for the verifier */
	/* Racing CPUs may each write theirs: either is in flight, which is all it says. */
	if (seq > READ_ONCE(c->eng_sent))
		WRITE_ONCE(c->eng_sent, seq);
	return conf->ifindex[slot & (IPSECIF_ENG_MAX_WORKERS - 1)];
}

/* Back from the engine: sequence number seq of SA key_id is out of it. */
static __always_inline void eng_came_back(__u32 key_id, __u64 seq)
{
	struct ipsecif_sa_ctr *c = sa_ctr_get(key_id);

	if (c && seq > READ_ONCE(c->eng_back))
		WRITE_ONCE(c->eng_back, seq);
}

/* The trailer's common part, in the scratch's tail; the AAD from s->aad. */
static __always_inline struct ipsecif_eng_trailer *
eng_trailer(struct scratch *s, __u8 op, __u8 dir, __u32 key_id, __u64 seq, __u32 reqid,
	    __u32 esp_off, __u32 hdr, __u32 text, __u32 enc, __u32 icv, __u32 aad_len)
{
	struct ipsecif_eng_trailer *t = (void *)s->tail;

	__builtin_memset(t, 0, sizeof(*t));
	__builtin_memcpy(t->aad, s->aad, sizeof(t->aad));
	t->key_id = key_id;
	t->seq = seq;
	t->esp_off = esp_off;
	t->text_len = text;
	t->op = op;
	t->enc = enc;
	t->icv_len = icv;
	t->aad_len = aad_len;
	t->reqid = reqid;
	t->dir = dir;
	t->hdr = hdr;
	t->magic = IPSECIF_ENG_MAGIC;
	return t;
}

#endif /* IPSECIF_ENGINE_BPF_H */
