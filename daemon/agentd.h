/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent itself: what every one of its files shares.  struct agent is
 * the whole of its state, one per network namespace; each file of the
 * agent is one noun of it (docs/ARCHITECTURE.md has the map):
 *
 *   main.c    the command line: start, stop, status
 *   loop.c    the poll loop, its timers, the teardown
 *   log.c     messages, to stderr or syslog
 *   pins.c    the bpffs, the pin folder and its lock, the BPF object
 *   attach.c  the programs on devices: XDP links, the TC filter
 *   tcblock.c the shared TC filter block of --tc-hook block
 *   tcwatch.c the TC hooks watched: one removed by hand is put back
 *   lan.c     the LAN devices of the XDP line-rate path
 *   iface.c   interface commands, the interface maps, the MTU
 *   sadb.c    the SA database: the maps, and every SA's lifecycle
 *   saapi.c   the key managers' SA operations
 *   script.c  setkey scripts carried out
 *   events.c  the data path's events and the key managers listening
 *   state.c   the state file a later agent adopts
 *   seqstore.c  manual keys' sequence numbers, reserved on disk
 *   config.c  --config FILE
 *   server.c  the control socket's connections and requests
 *   show.c    everything shown: interfaces, SAs, policies, status, metrics, engine
 *   engine.c  the vector-crypto engine: its link, key table, workers, watchdog
 */
#ifndef IPSECIF_AGENTD_H
#define IPSECIF_AGENTD_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>
#include <time.h>
#include <linux/types.h>
#include "table.h"

struct bpf_link;
struct engine;
struct ipsecif;
struct ring_buffer;
struct server;
struct seqstore;
struct state_mirror;
struct tcwatch;

#define RUN_DIR		"/run/ipsecif"
#define BPFFS_DIR	RUN_DIR "/bpf"
#define STATE_DIR	RUN_DIR "/state"

#define MAX_XDP_DEVS	16
#define MAX_SUBSCRIBERS	8	/* key managers listening for events */

/*
 * An SA's lifecycle.  An SA in the table is held, active or dying
 * (sa_state() says which); before and after that the SA database keeps a
 * struct sa_end for it, with the deadline its state carries.  Every
 * transition by time is in sadb_tick(), and sadb_deadline() is when the
 * next one falls due.
 *
 *   larval --add--> held --not_before, release--> active --soft--> dying
 *   (getspi)   `--add, no hold--------------------^  |                |
 *      |                                             | delete, hard lifetime, flush
 *      | hold over                                   v                v
 *      `--> gone          lingering --LINGER_NS--> grave --GRAVE_NS--> gone
 *                         ^ a key manager's delete of the last outbound SA of a reqid
 *
 * A grave keeps an SA's slots (key, counters, replay window) until no
 * program can still be using them.
 */
enum sa_state {
	SA_LARVAL,		/* an SPI handed to a key manager, no SA yet */
	SA_HELD,		/* outbound, installed, carries nothing before not_before */
	SA_ACTIVE,		/* in the maps (or waiting for its interface) */
	SA_DYING,		/* soft lifetime over: carries on, replacement asked for */
	SA_LINGERING,		/* deleted by its key manager, still in sa_out[reqid] */
	SA_GRAVE,		/* out of the maps; its slots kept a moment */
	SA_STATES,
};

/* How many of each the SA database keeps out of the table at once. */
/*
 * Larval: SPIs handed out, not yet added.  One negotiation in flight per
 * interface, all at once: charon starting every tunnel (start_action =
 * start) holds an SPI per IKE_AUTH it has sent until the answer comes.
 */
#define MAX_SPI_HOLDS	IPSECIF_MAX_IFACES
#define MAX_LINGER	64	/* lingering outbound SAs */
#define MAX_GRAVES	1024	/* graves */
#define MAX_SA_ENDS	(MAX_SPI_HOLDS + MAX_LINGER + MAX_GRAVES)

/*
 * How long the last outbound SA of a reqid, deleted by the key manager,
 * still carries traffic unless a new one comes: charon 5.9.8's
 * make-before-break reauthentication deletes the old IKE_SA's CHILD_SAs a
 * moment before it installs the new ones, and the peer, which has the
 * new and the old inbound SA by then, would see a gap.
 */
#define LINGER_NS	(500 * 1000000ULL)
/*
 * How long the slots of an SA taken out of the maps (key, counters,
 * replay window) outlive it: a program that found the SA a moment before
 * may still be sealing or opening with them, and a hash map hands a
 * deleted element to its next insert at once, so a new SA's key or
 * counter could otherwise be written under that packet.  A program run
 * takes microseconds.
 */
#define GRAVE_NS	(100 * 1000000ULL)

/* A larval, lingering or grave SA: what of it is left, until when. */
struct sa_end {
	enum sa_state state;
	__u32 id;		/* lingering, grave: the slots' SA id */
	__u32 reqid;		/* lingering: the sa_out entry it holds */
	__u32 spi;		/* larval: the SPI held */
	__u64 until;		/* CLOCK_MONOTONIC ns */
};

struct agent {
	struct ipsecif *skel;
	struct table t;
	__u32 next_sa_id;		/* SA ids (key slots) are never reused in a run */
	int xdp_devs[MAX_XDP_DEVS];	/* where xdp_esp_in is attached */
	struct bpf_link *xdp_links[MAX_XDP_DEVS];	/* pinned as link_xdp_IFINDEX */
	int n_xdp;
	int lan_devs[MAX_XDP_DEVS];	/* where xdp_lan is attached ("lan add DEV") */
	struct bpf_link *lan_links[MAX_XDP_DEVS];	/* pinned as link_lan_IFINDEX */
	int n_lan;
	char pin_dir[128];
	__u64 netns_cookie;		/* SO_NETNS_COOKIE: never another namespace's */
	int lock_fd;
	int sock;
	struct server *srv;		/* the control socket's connections */
	struct seqstore *seq;		/* manual keys' sequence numbers, on disk */
	int stop_fd;			/* the "stop" client, answered once torn down */
	struct ring_buffer *events;	/* the data path's events */
	int subs[MAX_SUBSCRIBERS];	/* CTL_REQ_EVENTS connections */
	int n_subs;
	struct sa_end ends[MAX_SA_ENDS];
	int n_ends, n_in_state[SA_STATES];
	bool dirty;			/* tables changed outside a request: save them */
	bool writes;			/* the request being served may change the tables */
	struct state_mirror *state;	/* state.c: what the state file says, for the next save */
	/* SAs (by position in t.sas) changed since the last save: state_sa_changed() */
	__u64 sa_changed[(IPSECIF_MAX_SAS + 63) / 64];
	/* reqids whose SAs changed, for sadb_changed(): the work a change makes, no more */
	__u64 touched[(TABLE_REQID_MAX + 64) / 64];
	size_t n_touched;
	__u64 sa_due;			/* sadb_deadline's last answer: no SA's time before it */
	__u64 sas_next;			/* the SAs' own next time (sadb.c), or sooner, */
	__u64 sas_looked;		/* since they were all looked at then */
	bool sas_next_known;
	__u64 next_mtu_check;		/* mono_ns() of mtu_tick's next look */
	size_t mtu_turn;		/* the first interface whose device mtu_tick reads */
	struct engine *eng;		/* engine.c, once an engine command came */
	bool foreground, stop, flush;
	/* --tc-hook: how new peers get tc_esp_out (attach.c) */
	enum tc_hook { TC_HOOK_LINK, TC_HOOK_FILTER, TC_HOOK_BLOCK, TC_HOOKS } tc_hook;
	struct tcwatch *tcw;		/* tcwatch.c: those hooks put back (not with link) */
};

/*
 * The first bit set at or after bit i of the bitmap words, below n; n if
 * none: the walk of a->sa_changed and a->touched, a word at a time.
 */
static inline size_t bits_next(const __u64 *words, size_t i, size_t n)
{
	while (i < n) {
		__u64 w = words[i / 64] >> (i % 64);

		if (w) {
			i += __builtin_ctzll(w);
			return i < n ? i : n;
		}
		i = (i / 64 + 1) * 64;
	}
	return n;
}

/* CLOCK_MONOTONIC in ns: whole seconds would age an SA by a second at once. */
static inline __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* log.c: to stderr, or to syslog once log_to_syslog(); LOG_DEBUG only if verbose. */
void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_to_syslog(void);
void log_verbose(bool on);
/* libbpf's messages through logmsg; quiet: its warnings not shown (the caller judges). */
void log_libbpf(void);
void log_libbpf_quiet(bool on);

#endif /* IPSECIF_AGENTD_H */
