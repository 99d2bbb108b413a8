/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The vector-crypto engine's supervisor (include/ipsecif_engine.h has
 * the design): the workers' veth pairs and their programs, the key table the
 * workers read, the workers themselves (ipsecif-engine, one per queue),
 * and their watchdog.  BPF ciphers whatever the engine does not take, so
 * every failure here only makes the data path slower, never lossy beyond
 * the frames in a dead worker's rings.
 */
#ifndef IPSECIF_ENGINE_AGENT_H
#define IPSECIF_ENGINE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "agentd.h"
#include "ipsecif_engine.h"
#include "keys.h"

struct ifcmd;
struct bpf_link;

enum eng_wstate {
	ENG_W_OFF,		/* not started, or exited and waiting to be again */
	ENG_W_STARTING,		/* spawned, its socket not yet bound */
	ENG_W_RUNNING,		/* bound, its heartbeat moving */
};

struct eng_worker {
	pid_t pid;
	enum eng_wstate state;
	__u64 since;		/* mono_ns of its start, or of its end */
	__u64 heartbeat;	/* the last heartbeat read */
	__u64 beat_seen;	/* mono_ns when it last moved */
	__u32 restarts;		/* in all */
	__u32 streak;		/* in a row, for the back-off */
	int cpu;		/* -1: not pinned */
};

/* What engine commands set, kept beside the state file for an adopting agent. */
struct eng_settings {
	__u32 magic;				/* ENG_SETTINGS_MAGIC */
	__u32 on;
	__u32 workers;				/* 0: one per online CPU */
	__u32 n_cpus;
	__s32 cpus[IPSECIF_ENG_MAX_WORKERS];	/* worker q on cpus[q % n_cpus] */
	__u16 min_text[IPSECIF_ENC_MAX];
};

struct engine {
	struct eng_settings set;
	bool on;
	int n_workers;
	int cpus[IPSECIF_ENG_MAX_WORKERS];	/* a worker's CPU, or -1 */
	int keys_fd, status_fd;			/* memfds */
	struct ipsecif_eng_key *keys;		/* IPSECIF_ENG_KEY_SLOTS, mlocked */
	struct ipsecif_eng_status *status;	/* IPSECIF_ENG_MAX_WORKERS */
	struct eng_worker w[IPSECIF_ENG_MAX_WORKERS];
	int ifindex[IPSECIF_ENG_MAX_WORKERS];	/* ipsecif-eQ, BPF's end of worker Q's link */
	int wifindex[IPSECIF_ENG_MAX_WORKERS];	/* ipsecif-wQ, the worker's */
	bool up;				/* as eng_conf says */
	__u64 up_since, down_since;		/* mono_ns */
	__u32 n_keys;
	__u64 stuck, died;			/* workers taken out, by cause */
	char path[256];				/* the worker binary */
};

/* ipsecifctl engine ...: on, off, min, or the show. */
int engine_cmd(struct agent *a, const struct ifcmd *c, bool json, char *out, size_t len);
/* An SA's key for the workers too, when the engine is on: 0 or -errno (then BPF's alone). */
int engine_key_add(struct agent *a, __u32 id, const struct ipsecif_key_params *p);
/* And out of the workers' reach again (BPF sends no frame for it first). */
void engine_key_remove(struct agent *a, __u32 id);
/* The watchdog: workers dead, stuck or started; up or down. */
void engine_tick(struct agent *a);
/* When the watchdog next looks: next, or sooner. */
__u64 engine_deadline(const struct agent *a, __u64 next);
/*
 * An adopting agent: the engine as the last one's commands left it (its
 * workers died with it), or its leftover links gone.  0 or -errno.
 */
int engine_adopt(struct agent *a);
/* Workers stopped; with flush, the engine's devices and pins gone too. */
void engine_close(struct agent *a, bool flush);
/* Defaults (docs/BENCHMARKS.md): the text length from which each suite goes to the engine. */
extern const __u16 engine_default_min[IPSECIF_ENC_MAX];

#endif /* IPSECIF_ENGINE_AGENT_H */
