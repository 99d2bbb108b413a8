/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control socket: who may talk to the agent, and what each request
 * does.  Every connection is served without blocking and has a deadline,
 * so no client, slow or stuck, holds up another or the agent's timers.
 */
#ifndef IPSECIF_SERVER_H
#define IPSECIF_SERVER_H

#include <poll.h>
#include "agentd.h"

/* At most this many connections at once (a subscription is not one). */
#define SERVER_MAX_CONNS	256

/* The listening socket (abstract, so one per network namespace). */
int server_open(struct agent *a, char *err, size_t errlen);
/* The listening socket and every connection into pfd (room for max): how many. */
int server_pollfds(const struct agent *a, struct pollfd *pfd, int max);
/* Whatever poll found on them: new connections, requests, replies, deadlines. */
void server_serve(struct agent *a, const struct pollfd *pfd, int n);
/* The earliest connection deadline, if before next. */
__u64 server_deadline(const struct agent *a, __u64 next);
void server_close(struct agent *a);

#endif /* IPSECIF_SERVER_H */
