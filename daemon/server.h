/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: who may talk to the agent, and what each request does. */
#ifndef IPSECIF_SERVER_H
#define IPSECIF_SERVER_H

#include "agentd.h"

/* The listening socket (abstract, so one per network namespace) into a->sock. */
int server_open(struct agent *a, char *err, size_t errlen);
/* A client is waiting: take its connection and answer its request. */
void server_accept(struct agent *a);
void server_close(struct agent *a);

#endif /* IPSECIF_SERVER_H */
