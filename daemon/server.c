// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket.  Each connection carries one request (daemon/ctl.h:
 * a header whose size is checked before the payload is read, then the
 * payload, decoded and checked whole) and gets one reply; a CTL_REQ_EVENTS
 * connection stays open for events.  Root only: the socket is in the
 * abstract namespace, which has no file mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include "agent.h"
#include "ctl.h"
#include "errmsg.h"
#include "events.h"
#include "iface.h"
#include "saapi.h"
#include "script.h"
#include "server.h"
#include "show.h"
#include "state.h"

/* What a handler leaves of the connection. */
enum served {
	SERVED_CLOSE,		/* answered: close it */
	SERVED_KEEP,		/* an event subscription: the agent keeps it */
};

/*
 * Room for a reply: what showing every interface (with its SAs), every
 * SA and every policy can take, and the SAs a script may add besides
 * (one per 40 bytes of script at most), within what a client takes.
 */
#define SHOW_IFACE_MAX	1024	/* ipsecifctl -j NAME without SAs: about 450 */
#define SHOW_SA_MAX	512	/* setkey -D, text or JSON: about 300 */
#define SHOW_POLICY_MAX	256	/* setkey -DP: about 130 */

static size_t reply_room(const struct agent *a, const struct ctl_req *req)
{
	size_t sas = a->t.n_sas + (req->type == CTL_REQ_SETKEY ? req->len / 40 : 0);
	size_t room = 4096 + a->t.n_ifaces * (SHOW_IFACE_MAX + 4 * SHOW_POLICY_MAX) +
		      sas * SHOW_SA_MAX;

	return room < CTL_MAX_REPLY ? room : CTL_MAX_REPLY;
}

static enum served serve_status(struct agent *a, int fd, const struct ctl_req *req)
{
	char text[1024];

	show_status(a, req->flags & CTL_F_JSON, text, sizeof(text));
	agent_reply(fd, 0, text);
	return SERVED_CLOSE;
}

static enum served serve_stop(struct agent *a, int fd, const struct ctl_req *req)
{
	a->stop = true;
	a->flush = req->flags & CTL_F_FLUSH;
	/* Answered after teardown, so that "stop; start" scripts never race it. */
	a->stop_fd = dup(fd);
	if (a->stop_fd < 0)
		agent_reply(fd, 0, "stopping\n");
	return SERVED_CLOSE;
}

/* An interface command or a setkey script: text (or JSON) out. */
static enum served serve_text(struct agent *a, int fd, const struct ctl_req *req)
{
	size_t len = reply_room(a, req);
	char *out = malloc(len);
	int ret;

	if (!out) {
		agent_reply(fd, -ENOMEM, "ipsecif-agent: out of memory\n");
		return SERVED_CLOSE;
	}
	ret = req->type == CTL_REQ_IFCMD ? iface_cmd(a, req, out, len) :
					   script_run(a, req, out, len);
	state_save(a);
	/* A reply is whole or not at all: cut JSON is worse than none. */
	if (strlen(out) == len - 1)
		ret = errmsg(out, len, -EMSGSIZE, "ipsecif-agent: the reply is over %zu bytes and "
			     "was not sent (what the request changed stays changed); ask for "
			     "less\n", len);
	agent_reply(fd, ret, out);
	free(out);
	return SERVED_CLOSE;
}

static enum served serve_sa(struct agent *a, int fd, const struct ctl_req *req)
{
	struct ctl_sa_reply r;
	char err[512], text[600];
	int ret = saapi_do(a, &req->sa, &r, err, sizeof(err));

	if (ret) {
		logmsg(LOG_DEBUG, "SA request %u: %s", req->sa.op, err);
		snprintf(text, sizeof(text), "ipsecif-agent: %s\n", err);
		agent_reply(fd, ret, text);
		return SERVED_CLOSE;
	}
	if (saapi_changes(req->sa.op))
		state_save(a);
	agent_reply_data(fd, 0, &r, sizeof(r));
	return SERVED_CLOSE;
}

static enum served serve_events(struct agent *a, int fd, const struct ctl_req *req)
{
	(void)req;
	if (a->n_subs == MAX_SUBSCRIBERS) {
		agent_reply(fd, -EUSERS, "ipsecif-agent: too many event subscribers\n");
		return SERVED_CLOSE;
	}
	if (agent_reply(fd, 0, NULL))
		return SERVED_CLOSE;
	events_subscribe(a, fd);
	return SERVED_KEEP;
}

static const struct {
	enum ctl_type type;
	enum served (*serve)(struct agent *a, int fd, const struct ctl_req *req);
} handlers[] = {
	{ CTL_REQ_IFCMD, serve_text },
	{ CTL_REQ_SETKEY, serve_text },
	{ CTL_REQ_STATUS, serve_status },
	{ CTL_REQ_STOP, serve_stop },
	{ CTL_REQ_SA, serve_sa },
	{ CTL_REQ_EVENTS, serve_events },
};

/* A malformed request: the log and the client hear what was wrong. */
static enum served serve_bad(int fd, int ret, const char *err)
{
	char text[600];

	logmsg(LOG_WARNING, "%s: malformed request: %s", __func__, err);
	snprintf(text, sizeof(text), "ipsecif-agent: %s\n", err);
	agent_reply(fd, ret, text);
	return SERVED_CLOSE;
}

/* One request from one client, answered; the agent carries on whatever it was. */
static enum served serve(struct agent *a, int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ctl_hdr h;
	struct ctl_req req;
	char err[512];
	enum served done = SERVED_CLOSE;
	char *msg = NULL;
	size_t got, i;
	int ret;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.uid != 0) {
		agent_reply(fd, -EPERM, "ipsecif-agent: only root may talk to the agent\n");
		return SERVED_CLOSE;
	}
	ret = agent_recv_some(fd, &h, sizeof(h), &got);
	if (ret) {
		if (!got)
			return SERVED_CLOSE;
		/* The rest never came: say so, it is all we can do. */
		ctl_decode(&h, got, &req, err, sizeof(err));
		return serve_bad(fd, ret, err);
	}
	ret = ctl_check_hdr(&h, err, sizeof(err));
	if (ret)
		return serve_bad(fd, ret, err);
	msg = malloc(sizeof(h) + h.len);
	if (!msg) {
		agent_reply(fd, -ENOMEM, "ipsecif-agent: out of memory\n");
		return SERVED_CLOSE;
	}
	memcpy(msg, &h, sizeof(h));
	ret = agent_recv_some(fd, msg + sizeof(h), h.len, &got);
	/* Short: the decoder names what is missing. */
	ret = ctl_decode(msg, sizeof(h) + (ret ? got : h.len), &req, err, sizeof(err));
	if (ret) {
		done = serve_bad(fd, ret, err);
		goto out;
	}
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == req.type)
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0]))
		agent_reply(fd, -EOPNOTSUPP, "ipsecif-agent: unknown request\n");
	else
		done = handlers[i].serve(a, fd, &req);
out:
	free(msg);
	return done;
}

int server_open(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len;

	agent_sockaddr(&sa, &len);
	a->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->sock < 0)
		return errmsg(err, errlen, -errno, "socket: %s", strerror(errno));
	if (bind(a->sock, (struct sockaddr *)&sa, len)) {
		if (errno == EADDRINUSE)
			return errmsg(err, errlen, -EALREADY,
				      "an agent is already running in this network namespace");
		return errmsg(err, errlen, -errno, "the control socket: %s", strerror(errno));
	}
	if (listen(a->sock, 16))
		return errmsg(err, errlen, -errno, "listen: %s", strerror(errno));
	return 0;
}

void server_accept(struct agent *a)
{
	int fd = accept4(a->sock, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* A client gets 5 s to send its request. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
		   sizeof(struct timeval));
	if (serve(a, fd) == SERVED_CLOSE)
		close(fd);
}

void server_close(struct agent *a)
{
	if (a->sock >= 0)
		close(a->sock);
	a->sock = -1;
}
