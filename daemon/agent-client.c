// SPDX-License-Identifier: GPL-2.0-only
/* Talking to ipsecif-agent: shared by the agent, ipsecifctl and the tests. */
#define _GNU_SOURCE	/* struct ucred */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "agent.h"
#include "ctl.h"

int agent_ns_id(unsigned long *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return -errno;
	*ino = st.st_ino;
	return 0;
}

int agent_sockaddr(struct sockaddr_un *sa, socklen_t *len)
{
	static const char name[] = "ipsecif-agent";

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Abstract: sun_path starts with a NUL, the name follows, no file. */
	memcpy(sa->sun_path + 1, name, sizeof(name) - 1);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + sizeof(name) - 1;
	return 0;
}

int agent_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Read len bytes; *got says how many came before the peer closed or a
 * timeout.  0 when all came, -ECONNRESET or -errno otherwise.
 */
int agent_recv_some(int fd, void *buf, size_t len, size_t *got)
{
	char *p = buf;

	*got = 0;
	while (*got < len) {
		ssize_t n = recv(fd, p + *got, len - *got, 0);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*got += n;
	}
	return 0;
}

int agent_recv_all(int fd, void *buf, size_t len)
{
	size_t got;

	return agent_recv_some(fd, buf, len, &got);
}

int agent_reply_data(int fd, int status, const void *data, size_t len)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_RESP,
			     .len = sizeof(__s32) + len };
	__s32 st = status;
	int ret;

	ret = agent_send_all(fd, &h, sizeof(h));
	if (!ret)
		ret = agent_send_all(fd, &st, sizeof(st));
	if (!ret && len)
		ret = agent_send_all(fd, data, len);
	return ret;
}

int agent_reply(int fd, int status, const char *text)
{
	return agent_reply_data(fd, status, text, text ? strlen(text) : 0);
}

int agent_socket_holder(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len))
		return -errno;
	return 0;
}

/*
 * The name is in the abstract namespace, which has no file mode: while no
 * agent runs, any process in the network namespace may bind it and wait
 * for requests (keys among them).  So before a byte is sent, the listener
 * must be root's; the kernel recorded its credentials when it listened.
 */
int agent_connect(char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t salen;
	int fd, ret;

	if (err && errlen)
		err[0] = 0;
	agent_sockaddr(&sa, &salen);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = agent_socket_holder(fd, &cred);
	if (!ret && cred.uid != 0)
		ret = -EPERM;
	if (ret) {
		if (err && errlen && ret == -EPERM)
			snprintf(err, errlen, "the control socket @%.*s is held by uid %u (pid %d), "
				 "not by a root ipsecif-agent: refusing to send", (int)(salen -
				 offsetof(struct sockaddr_un, sun_path) - 1), sa.sun_path + 1,
				 (unsigned int)cred.uid, (int)cred.pid);
		else if (err && errlen)
			snprintf(err, errlen, "who holds the control socket: %s", strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

int agent_read_reply(int fd, void *out, size_t outlen, size_t *got, int *status)
{
	struct ctl_hdr h;
	__s32 st;
	size_t n;
	int ret;

	ret = agent_recv_all(fd, &h, sizeof(h));
	if (!ret && (h.magic != CTL_MAGIC || h.type != CTL_RESP || h.len < sizeof(st) ||
		     h.len > sizeof(st) + CTL_MAX_REPLY))
		ret = -EPROTO;
	if (!ret)
		ret = agent_recv_all(fd, &st, sizeof(st));
	if (ret)
		return ret;
	n = h.len - sizeof(st);
	*got = n < outlen ? n : outlen;
	ret = agent_recv_all(fd, out, *got);
	/* What does not fit is read and dropped, so the stream stays in step. */
	for (n -= *got; !ret && n;) {
		char sink[256];
		size_t k = n < sizeof(sink) ? n : sizeof(sink);

		ret = agent_recv_all(fd, sink, k);
		n -= k;
	}
	*status = st;
	return ret;
}

int agent_transact(int fd, const void *msg, size_t len, void *out, size_t outlen, size_t *got,
		   int *status)
{
	int ret = agent_send_all(fd, msg, len);

	/*
	 * The agent may answer before it has read the request (it refuses
	 * non-root callers at once) and close: sending then fails, but its
	 * reply is waiting to be read, and it is the one that says why.
	 */
	if (!ret || ret == -EPIPE || ret == -ECONNRESET) {
		int r = agent_read_reply(fd, out, outlen, got, status);

		if (!ret || !r)
			ret = r;
	}
	return ret;
}

int agent_request(const void *msg, size_t len, char *out, size_t outlen, int *status)
{
	size_t got = 0;
	int fd = agent_connect(out, outlen), ret;

	if (fd < 0) {
		if (out[0])
			strncat(out, "\n", outlen - strlen(out) - 1);
		return fd;
	}
	ret = agent_transact(fd, msg, len, out, outlen - 1, &got, status);
	close(fd);
	out[ret ? 0 : got] = 0;
	return ret;
}
