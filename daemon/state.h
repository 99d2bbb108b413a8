/* SPDX-License-Identifier: GPL-2.0-only */
/* The state file: the agent's tables, for the agent after it to adopt. */
#ifndef IPSECIF_STATE_H
#define IPSECIF_STATE_H

#include "agentd.h"

void state_save(struct agent *a);
/* 0 with the tables read back (or no file), or -errno naming the file. */
int state_load(struct agent *a, char *err, size_t errlen);
void state_remove(struct agent *a);
/* What state_save keeps between saves let go (the file stays). */
void state_close(struct agent *a);

#endif /* IPSECIF_STATE_H */
