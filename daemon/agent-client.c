// SPDX-License-Identifier: GPL-2.0-only
/* Talking to ipsecif-agent: shared by the agent, ipsecifctl and the tests. */
#include <errno.h>
#include <stddef.h>
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

int agent_reply(int fd, int status, const char *text)
{
	size_t tlen = text ? strlen(text) : 0;
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_RESP,
			     .len = sizeof(__s32) + tlen };
	__s32 st = status;
	int ret;

	ret = agent_send_all(fd, &h, sizeof(h));
	if (!ret)
		ret = agent_send_all(fd, &st, sizeof(st));
	if (!ret && tlen)
		ret = agent_send_all(fd, text, tlen);
	return ret;
}

int agent_request(const void *msg, size_t len, char *out, size_t outlen, int *status)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct ctl_hdr h;
	__s32 st;
	int fd, ret;
	size_t n;

	agent_sockaddr(&sa, &salen);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen)) {
		ret = -errno;
		goto out;
	}
	ret = agent_send_all(fd, msg, len);
	if (!ret)
		ret = agent_recv_all(fd, &h, sizeof(h));
	if (!ret && (h.magic != CTL_MAGIC || h.type != CTL_RESP || h.len < sizeof(st) ||
		     h.len > sizeof(st) + CTL_MAX_REPLY))
		ret = -EPROTO;
	if (!ret)
		ret = agent_recv_all(fd, &st, sizeof(st));
	if (ret)
		goto out;
	n = h.len - sizeof(st);
	if (n >= outlen)
		n = outlen - 1;
	ret = agent_recv_all(fd, out, n);
	out[ret ? 0 : n] = 0;
	*status = st;
out:
	close(fd);
	return ret;
}
