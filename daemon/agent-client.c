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

int agent_connect(void)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int fd, ret;

	agent_sockaddr(&sa, &salen);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen)) {
		ret = -errno;
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

int agent_exchange(const void *msg, size_t len, void *out, size_t outlen, size_t *got,
		   int *status)
{
	int fd = agent_connect(), ret;

	if (fd < 0)
		return fd;
	ret = agent_send_all(fd, msg, len);
	if (!ret)
		ret = agent_read_reply(fd, out, outlen, got, status);
	close(fd);
	return ret;
}

int agent_request(const void *msg, size_t len, char *out, size_t outlen, int *status)
{
	size_t got = 0;
	int ret = agent_exchange(msg, len, out, outlen - 1, &got, status);

	out[ret ? 0 : got] = 0;
	return ret;
}
