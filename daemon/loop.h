/* SPDX-License-Identifier: GPL-2.0-only */
/* The agent's poll loop and its teardown. */
#ifndef IPSECIF_LOOP_H
#define IPSECIF_LOOP_H

#include "agentd.h"

/* Serve until stopped or signalled; ready_fd (>= 0) hears once the agent is ready. */
int loop_run(struct agent *a, int ready_fd);
/* Everything let go in reverse; with a->flush, the data path torn down too. */
void loop_teardown(struct agent *a);

#endif /* IPSECIF_LOOP_H */
