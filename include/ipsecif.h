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
 * Sizes of the maps, which bound what the agent accepts: 4096 tunnels,
 * each with an SA pair and room for a rekey's second pair (hub gateways
 * run thousands; the BPF maps cost about 36 MiB at 2 CPUs, README.md).
 */
#define IPSECIF_MAX_IFACES	4096
#define IPSECIF_MAX_SAS		16384
#define IPSECIF_MAX_KEYS	IPSECIF_MAX_SAS	/* one per SA, graves included */

/*
 * An SA's slot: its index in the maps that hold its state (keys, replay,
 * sa_ctr, sa_stats), arrays, so that the data path finds them by index
 * after its one hash lookup (sa_in or sa_out).  The entries of keys,
 * replay and sa_ctr carry the id of the SA whose they are (0: free); the
 * agent gives a new SA an id whose slot no SA holds, live, lingering or
 * grave (daemon/sadb.c), so ids stay never reused in a run.
 */
#define IPSECIF_SA_SLOT(id)	((id) & (IPSECIF_MAX_SAS - 1))
_Static_assert((IPSECIF_MAX_SAS & (IPSECIF_MAX_SAS - 1)) == 0, "slots by mask");

/*
 * Anti-replay (RFC 4303 §3.4.3, Appendix A).  The bitmap is a ring of
 * IPSECIF_REPLAY_RING bits indexed by sequence number; it must hold the
 * window plus one word, since whole words are cleared as the top moves.
 */
#define IPSECIF_REPLAY_WINDOW_DEFAULT	64
#define IPSECIF_REPLAY_WINDOW_MAX	4096
#define IPSECIF_REPLAY_RING		8192
#define IPSECIF_REPLAY_WORDS		(IPSECIF_REPLAY_RING / 64)

/* Value of the replay map (key: the inbound SA's slot). */
struct ipsecif_replay {
	struct bpf_spin_lock lock;
	__u32 window;				/* bits; 0: no replay check */
	__u32 id;				/* the SA whose it is; 0: free */
	__u32 pad;
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
	IPSECIF_RTEST_UPDATE = 4,	/* advance alone (seq: the full number), no pre-check */
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

/* struct ipsecif_iface.flags: the NetBSD ipsecif(4) link flags. */
#define IPSECIF_F_NATT		0x1	/* link0: ESP in UDP 4500 (RFC 3948) */
#define IPSECIF_F_ECN		0x2	/* link1: RFC 6040 normal mode */
#define IPSECIF_F_INET6		0x4	/* link2: carry inner IPv6 (default on) */
#define IPSECIF_F_XDP_FWD	0x8	/* forward decapsulated packets in XDP (off:
					 * it bypasses netfilter on ipsecN) */

/*
 * The NAT-T port (RFC 3948 §2.1, ipsecif(4): the default one only): ESP
 * in UDP is taken from UDP packets to it, and is sent from and to it
 * unless an SA names other ports (a NAT's).
 */
#define IPSECIF_NATT_PORT	4500

/* An outer address, network order; IPv4 in the first 4 bytes, rest zero. */
union ipsecif_addr {
	__u32 v4;
	__u8 v6[16];
	__u32 v6w[4];
};

/*
 * Value of the ifaces map (key: reqid).  if_reqid maps the ifindex of
 * ipsecN's veth peer, where outbound packets are caught, to the reqid.
 */
struct ipsecif_iface {
	__u32 reqid;
	__u32 flags;			/* IPSECIF_F_* */
	__u32 peer_ifindex;		/* ipsecN's veth peer: decapsulated packets go in
					 * here, and what ipsecN sends comes out of it */
	__u16 family;			/* outer family, AF_INET or AF_INET6 */
	__u16 mtu;			/* largest inner packet; larger ones are dropped */
	union ipsecif_addr src;		/* tunnel endpoints */
	union ipsecif_addr dst;
	__u8 peer_mac[6];		/* source MAC of frames delivered to ipsecN */
	__u8 mac[6];			/* ipsecN's MAC: their destination */
	__u32 ifindex;			/* ipsecN */
};

/* struct ipsecif_sa.flags */
#define IPSECIF_SA_F_ESN	0x1	/* 64-bit sequence numbers (RFC 4303 §2.2.1) */
#define IPSECIF_SA_F_NATT	0x2	/* ESP in UDP with sport/dport */

/*
 * An SA: value of sa_out (key: reqid) and sa_in (key: struct
 * ipsecif_sa_key).  Its key material is in the keys map at its slot,
 * IPSECIF_SA_SLOT(id), what the data path counts for it in sa_ctr there.
 */
struct ipsecif_sa {
	__u32 id;			/* never reused in a run; its slot, IPSECIF_SA_SLOT(id) */
	__u32 spi;			/* network order */
	__u32 reqid;
	__u32 flags;			/* IPSECIF_SA_F_* */
	__u16 family;			/* outer family */
	__be16 sport;			/* NAT-T ports, network order */
	__be16 dport;
	__u16 pad;
	union ipsecif_addr src;		/* outer source and destination */
	union ipsecif_addr dst;
	/* Lifetimes (RFC 4301 §4.4.2.1), counted in sa_ctr; 0: none. */
	__u64 soft_bytes;
	__u64 hard_bytes;
	__u64 soft_packets;
	__u64 hard_packets;
	/*
	 * The hard time lifetime as a deadline, CLOCK_MONOTONIC ns as
	 * bpf_ktime_get_ns() reads it; 0: none.  The data path enforces it,
	 * so that an SA dies on time while no agent runs.
	 */
	__u64 hard_ns;
	/*
	 * A manually keyed SA seals only the sequence numbers reserved on
	 * disk for its key (the agent's seqstore.c), up to seq_limit (0: no
	 * limit, a key manager's fresh key); at seq_mark the agent is asked
	 * for more (IPSECIF_EV_SEQ_RESERVE), and past seq_limit it drops.
	 */
	__u64 seq_limit;
	__u64 seq_mark;
};

/*
 * Value of sa_ctr (key: the SA's slot): what the data path counts for an SA,
 * apart from sa_in and sa_out, which the agent rewrites (a new SA for a
 * reqid, MOBIKE's new addresses) with whole values.  Were the sequence
 * number in them, the packets sent between the agent's read and its write
 * would have their numbers handed out again: the same AEAD nonce twice
 * under one key (RFC 4106 §3.1, RFC 7634 §2), and lost lifetime counts.
 * The agent creates the entry with the SA, never writes it again (but
 * through seq_raise, below), and removes it with the key.
 */
struct ipsecif_sa_ctr {
	__u64 seq;			/* outbound: last sequence number sent */
	__u64 bytes;			/* inner bytes through the SA */
	__u64 packets;
	__u32 expired;			/* IPSECIF_SA_EXP_*: events already sent */
	__u32 id;			/* the SA whose it is; 0: free */
	/*
	 * The engine (bpf/engine.h): the highest sequence number sent to it,
	 * and the last back.  While one is in it, the SA's packets below the
	 * threshold go through it too, behind it, not past it: the far end's
	 * window (or ours, inbound) would drop what came later than 64 others.
	 */
	__u64 eng_sent;
	__u64 eng_back;
};

/*
 * seq_raise's context (a syscall program): SA id's counter raised to at
 * least to, atomically against the data path's increments, and the SA's
 * new reservation into sa_out right after (nanoseconds, not a system call,
 * in which the data path drops what it took past the old limit).  The agent's
 * one write of sa_ctr: a manual key's next reserved numbers are not
 * always the ones after its SA's (daemon/seqstore.c).
 */
struct ipsecif_seq_req {
	__u32 id;
	__s32 err;			/* out: 0 or -errno */
	__u64 to;
	__u32 reqid;			/* then sa_out[reqid], if still SA id's: */
	__u32 pad;
	__u64 seq_limit, seq_mark;	/* its new limit and mark, at once */
};

/* struct ipsecif_sa_ctr.expired */
#define IPSECIF_SA_EXP_SOFT	0x1	/* a soft limit was reached */
#define IPSECIF_SA_EXP_HARD	0x2	/* a hard limit: the SA carries nothing more */
#define IPSECIF_SA_EXP_SEQ	0x4	/* outbound sequence numbers near their end */

/*
 * The longest soft or hard lifetime an SA may be given, seconds (about 136
 * years): the agent counts in nanoseconds, and 2^32 s * 10^9 plus any
 * CLOCK_MONOTONIC reading stays far inside 64 bits (2^64 ns is 584 years),
 * so no lifetime can wrap into one that has already passed.
 */
#define IPSECIF_LIFETIME_MAX_S	(1ULL << 32)

/*
 * Without ESN, this many sequence numbers before the end the data path
 * asks for a rekey (IPSECIF_EV_SEQ_THRESHOLD): at 10 Gbit/s of small
 * packets, seconds; at ordinary rates, long enough for IKE.
 */
#define IPSECIF_SEQ_SOFT_MARGIN	(1ULL << 24)

/* Events from the data path to the agent (ring buffer "events"). */
enum ipsecif_event_type {
	IPSECIF_EV_ACQUIRE = 1,		/* a packet for a reqid with no outbound SA */
	IPSECIF_EV_SOFT_EXPIRE = 2,	/* soft byte or packet limit reached */
	IPSECIF_EV_HARD_EXPIRE = 3,	/* hard limit: the SA drops from now on */
	IPSECIF_EV_SEQ_THRESHOLD = 4,	/* sequence numbers close to running out */
	IPSECIF_EV_SEQ_RESERVE = 5,	/* a manual key's reserved numbers: more wanted */
};

struct ipsecif_event {
	__u32 type;			/* enum ipsecif_event_type */
	__u32 reqid;
	__u32 sa_id;			/* 0 for acquire */
	__u32 spi;			/* network order; 0 for acquire */
	__u64 value;			/* bytes, packets or sequence number reached */
	__u64 time_ns;			/* CLOCK_MONOTONIC */
};

/* At most one acquire per reqid per this long (the trigger, not a flood). */
#define IPSECIF_ACQUIRE_INTERVAL_NS	1000000000ULL

/* Key of sa_in: what an arriving ESP packet names (RFC 4301 §4.1). */
struct ipsecif_sa_key {
	__u32 spi;			/* network order */
	__u32 family;
	union ipsecif_addr dst;
};

/*
 * Why a packet was dropped: one counter each, per SA and per interface.
 * Names for user space: ipsecif_drop_names in daemon/agent.c (and tests/dp.py).
 */
enum ipsecif_drop {
	IPSECIF_DROP_NO_SA,		/* no SA for the SPI, or none outbound for the reqid */
	IPSECIF_DROP_BAD_ENDPOINT,	/* SA found, outer source does not match */
	IPSECIF_DROP_REPLAY,		/* sequence number seen before */
	IPSECIF_DROP_TOO_OLD,		/* left of the replay window */
	IPSECIF_DROP_AUTH,		/* ICV did not verify */
	IPSECIF_DROP_BAD_PAD,		/* padding not 1, 2, 3, ... (RFC 4303 §2.4) */
	IPSECIF_DROP_BAD_NEXT_HDR,	/* neither IPv4 (4) nor IPv6 (41) */
	IPSECIF_DROP_DUMMY,		/* next header 59: traffic flow confidentiality */
	IPSECIF_DROP_INNER_FAMILY,	/* inner IPv6 while link2 is off */
	IPSECIF_DROP_ECN,		/* CE outer on a Not-ECT inner (RFC 6040 §4.2) */
	IPSECIF_DROP_SEQ_EXHAUSTED,	/* 32-bit sequence numbers used up */
	IPSECIF_DROP_TOO_BIG,		/* over the MTU, or past what the crypto takes */
	IPSECIF_DROP_MALFORMED,		/* truncated or inconsistent headers */
	IPSECIF_DROP_CRYPTO,		/* the cipher failed or the key is not ready */
	IPSECIF_DROP_NO_ROUTE,		/* no route to the tunnel destination */
	IPSECIF_DROP_EXPIRED,		/* the SA's hard lifetime is over */
	IPSECIF_DROP_FRAGMENT,		/* a fragment of ESP for us (RFC 4303 §3.4.1) */
	IPSECIF_DROP_REDIRECT_FAILED,	/* the redirect helper refused the packet */
	IPSECIF_DROP_SEQ_UNRESERVED,	/* a manual key's number not yet reserved on disk */
	IPSECIF_DROP_MAX,
};

/* Per-CPU counters, per SA (sa_stats) and per interface (if_stats). */
struct ipsecif_stats {
	__u64 packets;
	__u64 bytes;			/* inner bytes */
	__u64 fast;			/* of the packets, those on the XDP line-rate path */
	__u64 engine;			/* of the packets, those the engine ciphered */
	__u64 drops[IPSECIF_DROP_MAX];
};

#ifndef __bpf__
_Static_assert(sizeof(struct ipsecif_replay) == 24 + 8 * IPSECIF_REPLAY_WORDS, "replay layout");
_Static_assert(sizeof(struct ipsecif_rtest) == 40, "rtest layout");
_Static_assert(sizeof(struct ipsecif_iface) == 16 + 32 + 12 + 4, "iface layout");
_Static_assert(sizeof(struct ipsecif_sa) == 24 + 32 + 56, "sa layout");
_Static_assert(sizeof(struct ipsecif_sa_ctr) == 48, "sa_ctr layout");
_Static_assert(sizeof(struct ipsecif_event) == 32, "event layout");
_Static_assert(sizeof(struct ipsecif_sa_key) == 24, "sa key layout");
#endif

#endif /* IPSECIF_H */
