/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Anti-replay window, RFC 4303 §3.4.3 with the ESN inference of
 * Appendix A2.  The receive path calls replay_check() before the ICV
 * check and replay_accept() after it, so a forged packet never moves the
 * window (§3.4.3: "the receive window is updated only if the integrity
 * verification succeeds").  Both take the SA's spin lock: several CPUs
 * may receive for the same SA, and accept re-checks, so of two copies
 * racing through the ICV check only one is let through.
 */
#ifndef IPSECIF_REPLAY_H
#define IPSECIF_REPLAY_H

#include "common.h"
#include "ipsecif.h"

#define RING_MASK (IPSECIF_REPLAY_RING - 1)

/*
 * The full sequence number of a packet carrying low half seql, given the
 * window's top t and size w (Appendix A2.1).  Without ESN it is seql.
 */
static __always_inline __u64 replay_infer(__u64 t, __u32 w, __u32 seql, bool esn)
{
	__u32 tl = (__u32)t, th = t >> 32;

	if (!esn)
		return seql;
	if (w == 0)
		w = 1;
	if (tl >= w - 1) {
		/* Case A: the window lies within one 2^32 subspace. */
		if (seql >= tl - w + 1)
			return ((__u64)th << 32) | seql;
		return ((__u64)(th + 1) << 32) | seql;
	}
	/* Case B: the window spans two subspaces. */
	if (seql >= tl - w + 1)		/* wraps: in the previous subspace */
		return ((__u64)(th - 1) << 32) | seql;
	return ((__u64)th << 32) | seql;
}

/* Under the lock: the verdict for the full sequence number seq. */
static __always_inline int replay_verdict(const struct ipsecif_replay *r, __u64 seq)
{
	__u64 t = r->top;

	if (seq > t)
		return IPSECIF_REPLAY_OK;
	if (r->window == 0)
		return seq ? IPSECIF_REPLAY_OK : IPSECIF_REPLAY_OLD;
	if (t - seq >= r->window)
		return IPSECIF_REPLAY_OLD;
	if (r->bitmap[(seq / 64) % IPSECIF_REPLAY_WORDS] & (1ULL << (seq % 64)))
		return IPSECIF_REPLAY_DUP;
	return IPSECIF_REPLAY_OK;
}

/*
 * Pre-check (before the ICV): verdict, and the full sequence number the
 * ICV must be computed with (ESN: RFC 4303 §2.2.1).  Sequence number 0
 * never comes from a conforming sender (§3.3.3 starts at 1).
 */
static __always_inline int replay_check(struct ipsecif_replay *r, __u32 seql, bool esn,
					__u64 *seq)
{
	int v;

	bpf_spin_lock(&r->lock);
	*seq = replay_infer(r->top, r->window, seql, esn);
	v = *seq ? replay_verdict(r, *seq) : IPSECIF_REPLAY_OLD;
	bpf_spin_unlock(&r->lock);
	return v;
}

/* Clear ring words (from, to] as the top moves into them. */
static __always_inline void replay_clear_words(struct ipsecif_replay *r, __u64 from, __u64 to)
{
	__u64 n = to - from;
	__u32 i;

	if (n > IPSECIF_REPLAY_WORDS)
		n = IPSECIF_REPLAY_WORDS;
	for (i = 1; i <= IPSECIF_REPLAY_WORDS; i++) {
		if (i > n)
			break;
		r->bitmap[(from + i) % IPSECIF_REPLAY_WORDS] = 0;
	}
}

/*
 * After the ICV verified: check again (another CPU may have taken the
 * same number meanwhile), then mark seq and move the top.
 */
static __always_inline int replay_accept(struct ipsecif_replay *r, __u64 seq)
{
	int v;

	bpf_spin_lock(&r->lock);
	v = replay_verdict(r, seq);
	if (v == IPSECIF_REPLAY_OK) {
		if (seq > r->top) {
			replay_clear_words(r, r->top / 64, seq / 64);
			r->top = seq;
		}
		r->bitmap[(seq / 64) % IPSECIF_REPLAY_WORDS] |= 1ULL << (seq % 64);
	}
	bpf_spin_unlock(&r->lock);
	return v;
}

#endif /* IPSECIF_REPLAY_H */
