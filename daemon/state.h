/* SPDX-License-Identifier: GPL-2.0-only */
/* The state file: the agent's tables, for the agent after it to adopt. */
#ifndef IPSECIF_STATE_H
#define IPSECIF_STATE_H

#include "agentd.h"

void state_save(struct agent *a);
/*
 * SA t (in a->t.sas) changed, or another took its place: the next save
 * writes it.  Every write to an SA in the table says so; the save reads
 * no other SA (thousands of them).  IPSECIF_STATE_VERIFY=1 in the
 * environment (the tests') checks every save for a change not said.
 */
void state_sa_changed(struct agent *a, const struct table_sa *t);
/* 0 with the tables read back (or no file), or -errno naming the file. */
int state_load(struct agent *a, char *err, size_t errlen);
void state_remove(struct agent *a);
/* What state_save keeps between saves let go (the file stays). */
void state_close(struct agent *a);

/* The engine's settings beside the state file (engine.c): 0 or -errno; load: -ENOENT, none. */
int state_engine_save(struct agent *a, const void *buf, size_t len);
int state_engine_load(struct agent *a, void *buf, size_t len);

#endif /* IPSECIF_STATE_H */
