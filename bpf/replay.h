/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Anti-replay window, RFC 4303 §3.4.3 with the ESN inference of
 * Appendix A2.  The receive path calls replay_check() before the ICV
 * check and replay_accept() after it, so a forged packet never moves the
 * window (§3.4.3: "the receive window is updated only if the integrity
 * verification succeeds").  Several CPUs may receive for the same SA:
 * the pre-check reads the window without the SA's spin lock, and only
 * the update takes it.  A racy read can only let a packet on to the ICV
 * check; replay_accept() decides again, under the lock, from the window
 * as it is then, so of two copies racing through the ICV check only one
 * is let through, and no verdict of the pre-check is relied on.
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

/*
 * The verdict for the full sequence number seq, given the window's top t,
 * size w and the bitmap word holding seq's bit.
 */
static __always_inline int replay_verdict(__u64 t, __u32 w, __u64 word, __u64 seq)
{
	if (!seq)
		return IPSECIF_REPLAY_OLD;	/* §3.3.3: a sender starts at 1 */
	if (seq > t)
		return IPSECIF_REPLAY_OK;
	if (w == 0)
		return IPSECIF_REPLAY_OK;
	if (t - seq >= w)
		return IPSECIF_REPLAY_OLD;
	if (word & (1ULL << (seq % 64)))
		return IPSECIF_REPLAY_DUP;
	return IPSECIF_REPLAY_OK;
}

#define replay_word(r, seq) ((r)->bitmap[((seq) / 64) % IPSECIF_REPLAY_WORDS])

/*
 * Pre-check (before the ICV), without the lock: verdict, and the full
 * sequence number the ICV must be computed with (ESN: RFC 4303 §2.2.1).
 * Each field is read once (a volatile load, as READ_ONCE); another CPU
 * may be moving the window meanwhile.  A stale top lets a number through
 * that replay_accept() then refuses; the one wrong drop possible is a
 * number whose bit another CPU has just set for seq + a multiple of the
 * ring, which the moved window would drop as too old anyway.
 */
static __always_inline int replay_check(struct ipsecif_replay *r, __u32 seql, bool esn,
					__u64 *seq)
{
	__u64 t = *(volatile __u64 *)&r->top;
	__u32 w = *(volatile __u32 *)&r->window;

	*seq = replay_infer(t, w, seql, esn);
	return replay_verdict(t, w, *(volatile __u64 *)&replay_word(r, *seq), *seq);
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
 * After the ICV verified, under the lock: check again from the window as
 * it is now (another CPU may have taken the same number meanwhile, and
 * the pre-check read without the lock), then mark seq and move the top.
 */
static __always_inline int replay_accept(struct ipsecif_replay *r, __u64 seq)
{
	int v;

	bpf_spin_lock(&r->lock);
	v = replay_verdict(r->top, r->window, replay_word(r, seq), seq);
	if (v == IPSECIF_REPLAY_OK) {
		if (seq > r->top) {
			replay_clear_words(r, r->top / 64, seq / 64);
			r->top = seq;
		}
		replay_word(r, seq) |= 1ULL << (seq % 64);
	}
	bpf_spin_unlock(&r->lock);
	return v;
}

#endif /* IPSECIF_REPLAY_H */
