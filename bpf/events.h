/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Events for the agent, through a ring buffer: acquire (a packet for a
 * reqid without an outbound SA: what starts IKE), lifetimes reached, and
 * sequence numbers running out.  Each is sent once per SA, acquire at
 * most once a second per reqid; a full ring drops the event, never the
 * packet.
 */
#ifndef IPSECIF_EVENTS_H
#define IPSECIF_EVENTS_H

#include "maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, IPSECIF_MAX_IFACES);
	__type(key, __u32);			/* reqid */
	__type(value, __u64);			/* time of the last acquire */
} acquire_ts SEC(".maps");

static __always_inline void event_send(__u32 type, __u32 reqid, const struct ipsecif_sa *sa,
				       __u64 value)
{
	struct ipsecif_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return;
	e->type = type;
	e->reqid = reqid;
	e->sa_id = sa ? sa->id : 0;
	e->spi = sa ? sa->spi : 0;
	e->value = value;
	e->time_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void event_acquire(__u32 reqid)
{
	__u64 now = bpf_ktime_get_ns(), *last = bpf_map_lookup_elem(&acquire_ts, &reqid);

	/* Racing CPUs may both send one: harmless, the agent coalesces. */
	if (last && now - *last < IPSECIF_ACQUIRE_INTERVAL_NS)
		return;
	bpf_map_update_elem(&acquire_ts, &reqid, &now, BPF_ANY);
	event_send(IPSECIF_EV_ACQUIRE, reqid, NULL, 0);
}

/* Set flag in c->expired; true for the one caller that set it. */
static __always_inline bool sa_mark(struct ipsecif_sa_ctr *c, __u32 flag)
{
	if (c->expired & flag)
		return false;
	return !(__sync_fetch_and_or(&c->expired, flag) & flag);
}

static __always_inline bool over(__u64 v, __u64 limit)
{
	return limit && v >= limit;
}

/*
 * Count a packet of len inner bytes in c against the lifetimes of sa
 * (RFC 4301 §4.4.2.1), and for an outbound SA without ESN watch its
 * sequence numbers (seq: the one just taken; 0 inbound).  sa and c are
 * the same SA's (the caller found c by sa->id).  Returns 0 when the hard
 * limit is over: the packet must be dropped.
 *
 * The counts are shared atomics, not per-CPU: the hard limit is decided
 * on the SA's total whichever CPU carries the packet that reaches it
 * (per-CPU counts would have to be summed from every CPU), and the agent's
 * figures are per-CPU already (sa_stats).
 *
 * A global function, checked once by the verifier: as a static one its
 * many branches were verified again for every path of its callers.
 */
__noinline int sa_account(const struct ipsecif_sa *sa, struct ipsecif_sa_ctr *c, __u32 reqid,
			  __u32 len, __u64 seq)
{
	__u64 bytes, packets;

	if (!sa || !c)
		return 0;
	if (c->expired & IPSECIF_SA_EXP_HARD)
		return 0;
	if (seq && !(sa->flags & IPSECIF_SA_F_ESN) &&
	    seq >= 0xffffffffULL - IPSECIF_SEQ_SOFT_MARGIN && sa_mark(c, IPSECIF_SA_EXP_SEQ))
		event_send(IPSECIF_EV_SEQ_THRESHOLD, reqid, sa, seq);
	bytes = __sync_fetch_and_add(&c->bytes, len) + len;
	packets = __sync_fetch_and_add(&c->packets, 1) + 1;
	if (over(bytes, sa->hard_bytes) || over(packets, sa->hard_packets)) {
		if (sa_mark(c, IPSECIF_SA_EXP_HARD))
			event_send(IPSECIF_EV_HARD_EXPIRE, reqid, sa,
				   over(bytes, sa->hard_bytes) ? bytes : packets);
		/* The packet that reaches the limit is the last one carried. */
		return !(over(bytes - len, sa->hard_bytes) || over(packets - 1, sa->hard_packets));
	}
	if ((over(bytes, sa->soft_bytes) || over(packets, sa->soft_packets)) &&
	    sa_mark(c, IPSECIF_SA_EXP_SOFT))
		event_send(IPSECIF_EV_SOFT_EXPIRE, reqid, sa,
			   over(bytes, sa->soft_bytes) ? bytes : packets);
	return 1;
}

#endif /* IPSECIF_EVENTS_H */
