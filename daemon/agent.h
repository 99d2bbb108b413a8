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
 * Returns 0 or -errno for the exchange itself; then out holds a line
 * saying what went wrong when there is more to say than the errno (the
 * socket held by a process that is not root's: -EPERM), else "".
 */
int agent_request(const void *msg, size_t len, char *out, size_t outlen, int *status);

/*
 * A connected control socket, or -errno: -ECONNREFUSED or -ENOENT when no
 * agent runs; -EPERM when the name is held by a process not running as
 * root, which is sent nothing (err, when given, says uid and pid).
 */
int agent_connect(char *err, size_t errlen);

struct ucred;

/* Who listens on the other end of connected fd (SO_PEERCRED). 0 or -errno. */
int agent_socket_holder(int fd, struct ucred *cred);

/*
 * One request and its reply on a connected fd: the reply's payload after
 * the status into out (up to outlen bytes, *got of them).  An agent that
 * answered and closed before taking the request still has its answer
 * read (a refusal), and that is what is returned.
 */
int agent_transact(int fd, const void *msg, size_t len, void *out, size_t outlen, size_t *got,
		   int *status);

/* Read one reply from fd; as agent_transact. */
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
