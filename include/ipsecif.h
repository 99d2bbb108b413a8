/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Data-path structures shared by the BPF programs and user space: one
 * copy of each, fixed-width types, byte order given per field.
 */
#ifndef IPSECIF_H
#define IPSECIF_H

#include <linux/types.h>
#include <linux/bpf.h>

/*
 * Anti-replay (RFC 4303 §3.4.3, Appendix A).  The bitmap is a ring of
 * IPSECIF_REPLAY_RING bits indexed by sequence number; it must hold the
 * window plus one word, since whole words are cleared as the top moves.
 */
#define IPSECIF_REPLAY_WINDOW_DEFAULT	64
#define IPSECIF_REPLAY_WINDOW_MAX	4096
#define IPSECIF_REPLAY_RING		8192
#define IPSECIF_REPLAY_WORDS		(IPSECIF_REPLAY_RING / 64)

/* Value of the replay map (key: inbound SA id). */
struct ipsecif_replay {
	struct bpf_spin_lock lock;
	__u32 window;				/* bits; 0: no replay check */
	__u64 top;				/* highest authenticated seq (64-bit with ESN) */
	__u64 bitmap[IPSECIF_REPLAY_WORDS];	/* bit seq % RING set: seen */
};

/* What the replay check says of a sequence number (negative: drop). */
enum ipsecif_replay_verdict {
	IPSECIF_REPLAY_OK = 0,
	IPSECIF_REPLAY_DUP = -1,	/* seen before */
	IPSECIF_REPLAY_OLD = -2,	/* left of the window */
};

/* Self-test program for the replay window (replay_test). */
enum ipsecif_rtest_op {
	IPSECIF_RTEST_RESET = 1,	/* window := arg, top := seq, bitmap cleared */
	IPSECIF_RTEST_CHECK = 2,	/* pre-check seq (low 32 bits with ESN) */
	IPSECIF_RTEST_ACCEPT = 3,	/* check, then advance as after a good ICV */
};

struct ipsecif_rtest {
	__u32 op;
	__u32 esn;			/* 1: seq is the low half, infer the high */
	__u64 seq;
	__u32 arg;
	__s32 verdict;			/* out: enum ipsecif_replay_verdict */
	__u64 seq64;			/* out: the full sequence number inferred */
	__u64 top;			/* out: the top after the operation */
};

#ifndef __bpf__
_Static_assert(sizeof(struct ipsecif_replay) == 16 + 8 * IPSECIF_REPLAY_WORDS, "replay layout");
_Static_assert(sizeof(struct ipsecif_rtest) == 40, "rtest layout");
#endif

#endif /* IPSECIF_H */
