/* SPDX-License-Identifier: GPL-2.0-only */
/* What ipsecif-agent and its clients share: where to find the agent. */
#ifndef IPSECIF_AGENT_H
#define IPSECIF_AGENT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The inode of this process's network namespace: names its pin folder. */
int agent_ns_id(unsigned long *ino);

/* The control socket's address: abstract, so one per network namespace. */
int agent_sockaddr(struct sockaddr_un *sa, socklen_t *len);

/*
 * Send a request (msg, len) to this namespace's agent and read its reply:
 * the text into out (NUL-terminated), the agent's status into *status.
 * Returns 0 or -errno for the exchange itself.
 */
int agent_request(const void *msg, size_t len, char *out, size_t outlen, int *status);

/* A connected control socket, or -errno (-ECONNREFUSED: no agent). */
int agent_connect(void);

/*
 * One request and its reply, on a connection of its own: the reply's
 * payload after the status into out (up to outlen bytes, *got of them).
 */
int agent_exchange(const void *msg, size_t len, void *out, size_t outlen, size_t *got,
		   int *status);

/* Read one reply from fd; as agent_exchange. */
int agent_read_reply(int fd, void *out, size_t outlen, size_t *got, int *status);

/* Send a reply on fd: text, or len bytes of data. */
int agent_reply(int fd, int status, const char *text);
int agent_reply_data(int fd, int status, const void *data, size_t len);

/* All of buf, or -errno. */
int agent_send_all(int fd, const void *buf, size_t len);

/*
 * Read len bytes; *got says how many came before the peer closed or a
 * timeout.  0 when all came, -ECONNRESET or -errno otherwise.
 */
int agent_recv_some(int fd, void *buf, size_t len, size_t *got);
int agent_recv_all(int fd, void *buf, size_t len);

#endif /* IPSECIF_AGENT_H */
