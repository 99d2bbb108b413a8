/* SPDX-License-Identifier: GPL-2.0-only */
/* The watch on tc_esp_out's TC hooks (--tc-hook filter, block): one removed by hand is put back. */
#ifndef IPSECIF_TCWATCH_H
#define IPSECIF_TCWATCH_H

#include "agentd.h"

/* The namespace's TC changes heard from then on (none with --tc-hook link): 0 or -errno. */
int tcwatch_open(struct agent *a);
/* Its socket, for poll; -1 without one. */
int tcwatch_fd(const struct agent *a);
/* What was heard since: each peer (and the shared block) whose hook went gets it back. */
void tcwatch_consume(struct agent *a);
/* The hooks it put back since the agent started. */
__u64 tcwatch_put_backs(const struct agent *a);
void tcwatch_close(struct agent *a);

#endif /* IPSECIF_TCWATCH_H */
