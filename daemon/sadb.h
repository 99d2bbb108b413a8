/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SA database: the table's SAs in the maps the data path reads
 * (sa_in, sa_out, and by SA id the key, counters and replay window), and
 * every SA's lifecycle (enum sa_state in agentd.h).
 */
#ifndef IPSECIF_SADB_H
#define IPSECIF_SADB_H

#include <sys/types.h>
#include "agentd.h"
#include "keys.h"

/* Which state table SA t is in (held, active or dying). */
enum sa_state sa_state(const struct table_sa *t, __u64 now);

/*
 * The one way an SA comes in, from setkey and the SA API alike: an id,
 * its key installed, the table entry.  Changes nothing on error.  The
 * caller calls sadb_changed() once its request is done.
 */
int sadb_install(struct agent *a, struct table_sa *t, const struct ipsecif_key_params *p,
		 char *err, size_t errlen);
/*
 * Table SA i goes.  linger: a key manager's delete, where the last
 * outbound SA of a reqid stays in sa_out for LINGER_NS unless a new one
 * replaces it; never for a hard expiry or a manual delete.
 */
void sadb_forget(struct agent *a, size_t i, bool linger);
/* Make the maps say what the table says. */
void sadb_sync(struct agent *a);
/* The same for the SAs of reqid alone (what a change to its interface or SAs touches). */
void sadb_sync_reqid(struct agent *a, __u32 reqid);
/* reqid's SAs and interface to sync at the next sadb_changed(). */
void sadb_touch(struct agent *a, __u32 reqid);
/*
 * After SAs came or went: the maps, and the MTUs their suites imply; for
 * the reqids touched since the last call, or every one if none was.
 */
void sadb_changed(struct agent *a);
/* Before a save: the SAs said changed (state_sa_changed) in the SAs' next time. */
void sadb_next_changed(struct agent *a);
/* Take t out of sa_in / sa_out, where the entry there is still t. */
void sadb_unmap(struct agent *a, const struct table_sa *t);
/*
 * Table SA t's map entries take n's addressing in place (MOBIKE, NAT-T
 * port changes); its counters and sequence number, in sa_ctr under its
 * id, go on untouched.
 */
void sadb_readdress(struct agent *a, const struct table_sa *t, const struct table_sa *n);
/* The table index of the SA with this id, or -1. */
ssize_t sadb_by_id(const struct agent *a, __u32 id);
/* SA id's counters (sa_ctr at its slot): 0, -ENOENT if the slot is not id's, or -errno. */
int sa_ctr_read(const struct agent *a, __u32 id, struct ipsecif_sa_ctr *c);

/* An SA's lifetime is over (RFC 4301 §4.4.2.1); why: what ran out, for the log. */
void sadb_expire(struct agent *a, size_t i, __u32 type, __u64 value, const char *why);
/* Larval: a random free SPI, held for CTL_SA_SPI_HOLD_S. */
int sadb_getspi(struct agent *a, __u32 *spi, char *err, size_t errlen);
/* Larval: is spi handed out (and not added)?  Free it again. */
bool sadb_spi_held(const struct agent *a, __u32 spi);
void sadb_spi_release(struct agent *a, __u32 spi);
/* Held: reqid's held outbound SAs carry from now on (CTL_SA_RELEASE). */
void sadb_release(struct agent *a, __u32 reqid);

/* Every transition whose time has come. */
void sadb_tick(struct agent *a);
/* When the next one falls due (CLOCK_MONOTONIC ns), at most limit; sadb_tick waits for it. */
__u64 sadb_deadline(struct agent *a, __u64 limit);
/* An adopting agent: slots and sa_out entries of SAs the tables do not know go. */
void sadb_reap(struct agent *a);
/* Stopping: lingering SAs end now, graves once no program can use their slots. */
void sadb_close(struct agent *a);

#endif /* IPSECIF_SADB_H */
