/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The sequence numbers of manually keyed SAs, reserved on disk ahead of
 * use, so that no (key, sequence number) pair is sealed twice: not after
 * a restart, a flush, a reboot, nor a config file applied again.
 */
#ifndef IPSECIF_SEQSTORE_H
#define IPSECIF_SEQSTORE_H

#include "agentd.h"
#include "keys.h"

/* Where it lives unless IPSECIF_LIB_DIR says otherwise: kept across reboots. */
#define SEQSTORE_DIR	"/var/lib/ipsecif"
/* The least a reservation holds; an extension holds as many as its SA has used. */
#define SEQSTORE_CHUNK_MIN	65536ULL
#define SEQSTORE_CHUNK_MAX	(1ULL << 24)

/* Read (or make) the store: 0 or -errno with err naming the file. */
int seqstore_open(struct agent *a, char *err, size_t errlen);
void seqstore_close(struct agent *a);
/* Key p's name in the store (SEQ_FP_LEN bytes): -EROFS without a store. */
int seqstore_fingerprint(struct agent *a, const struct ipsecif_key_params *p, __u8 *fp,
			 char *err, size_t errlen);
/*
 * Reserve numbers for the key fp names, in memory: its SA seals after
 * *start, up to *limit.  Nothing may seal them before seqstore_sync()
 * has succeeded.
 */
int seqstore_take(struct agent *a, const __u8 *fp, __u64 *start, __u64 *limit);
/* Reservations made durable (written, fsync'd, renamed): 0 or -errno. */
int seqstore_sync(struct agent *a, char *err, size_t errlen);
/* SA id asked for more numbers (or the agent's own look found it near its limit). */
void seqstore_extend(struct agent *a, __u32 id);
/* Where in [seq_now, limit] the data path asks for more: half way. */
__u64 seqstore_mark(__u64 seq_now, __u64 limit);
/* Once a second: manual SAs near their limit get more, should an event have been lost. */
void seqstore_tick(struct agent *a);

#endif /* IPSECIF_SEQSTORE_H */
