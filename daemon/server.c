// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket.  Each connection carries one request (daemon/ctl.h:
 * a header whose size is checked before the payload is read, then the
 * payload, decoded and checked whole) and gets one reply; a CTL_REQ_EVENTS
 * connection then stays open for events.  Only root is served: the
 * refusal is sent once the request has been read, so that it reaches the
 * caller whole.
 *
 * No connection can hold the agent up: sockets are non-blocking, a
 * request is read as it comes and a reply written as the client takes
 * it, while the agent goes on with other clients, events and timers.  A
 * client has CONN_READ_NS to send its request and CONN_WRITE_NS for each
 * part of its reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
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

#define CONN_READ_NS	(5 * 1000000000ULL)	/* to send a whole request */
#define CONN_WRITE_NS	(5 * 1000000000ULL)	/* to take the next part of a reply */

enum conn_state {
	CONN_READ,		/* the request is coming */
	CONN_WRITE,		/* the reply is going */
};

struct conn {
	int fd;
	enum conn_state state;
	bool root;		/* SO_PEERCRED: uid 0 */
	bool subscribe;		/* once replied to: an event subscription */
	__u64 deadline;		/* CLOCK_MONOTONIC ns */
	struct ctl_hdr h;
	size_t got;		/* of the header, then of the payload */
	char *msg;		/* header and payload, once the header is in */
	char *out;		/* the reply: header, status, payload */
	size_t out_len, sent;
};

struct server {
	struct conn conns[SERVER_MAX_CONNS];
	int n;
};

/*
 * Room for a reply: what showing every interface (with its SAs), every
 * SA and every policy can take, and the SAs a script may add besides
 * (one per 40 bytes of script at most), within what a client takes.
 */
#define SHOW_IFACE_MAX	1024	/* ipsecifctl -j NAME without SAs: about 450 */
#define SHOW_SA_MAX	512	/* setkey -D, text or JSON: about 300 */
#define SHOW_POLICY_MAX	256	/* setkey -DP: about 130 */

/* ipsecifctl stats: counters only, changing nothing (show.c), not iface.c's. */
static bool is_stats(const struct ctl_req *req)
{
	return req->type == CTL_REQ_IFCMD && req->argc && !strcmp(req->argv[0], "stats");
}

static size_t reply_room(const struct agent *a, const struct ctl_req *req)
{
	size_t sas = a->t.n_sas + (req->type == CTL_REQ_SETKEY ? req->len / 40 : 0);
	size_t room = 4096 + a->t.n_ifaces * (SHOW_IFACE_MAX + 4 * SHOW_POLICY_MAX) +
		      sas * SHOW_SA_MAX;

	if (is_stats(req))
		room = SHOW_METRICS_BASE + a->t.n_ifaces * SHOW_METRICS_IFACE_MAX +
		       a->t.n_sas * SHOW_METRICS_SA_MAX;
	return room < CTL_MAX_REPLY ? room : CTL_MAX_REPLY;
}

#define REPLY_HDR	(sizeof(struct ctl_hdr) + sizeof(__s32))

/* A reply buffer with room for len bytes of payload after the header and status. */
static char *reply_alloc(size_t len)
{
	return malloc(REPLY_HDR + len);
}

/* c's reply is out (from reply_alloc), with len bytes of payload: it goes next. */
static void conn_reply_buf(struct conn *c, int status, char *out, size_t len)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_RESP,
			     .len = sizeof(__s32) + len };
	__s32 st = status;

	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), &st, sizeof(st));
	free(c->out);
	c->out = out;
	c->out_len = REPLY_HDR + len;
	c->sent = 0;
	c->state = CONN_WRITE;
	c->deadline = mono_ns() + CONN_WRITE_NS;
}

static void conn_reply(struct conn *c, int status, const void *data, size_t len)
{
	char *out = reply_alloc(len);

	if (!out) {	/* the client hears nothing, and learns it from the close */
		c->state = CONN_WRITE;
		c->out_len = c->sent = 0;
		return;
	}
	if (len)
		memcpy(out + REPLY_HDR, data, len);
	conn_reply_buf(c, status, out, len);
}

static void conn_reply_text(struct conn *c, int status, const char *text)
{
	conn_reply(c, status, text, strlen(text));
}

static void serve_status(struct agent *a, struct conn *c, const struct ctl_req *req)
{
	char text[1024];

	show_status(a, req->flags & CTL_F_JSON, text, sizeof(text));
	conn_reply_text(c, 0, text);
}

static void serve_stop(struct agent *a, struct conn *c, const struct ctl_req *req)
{
	a->stop = true;
	a->flush = req->flags & CTL_F_FLUSH;
	/* Answered after teardown, so that "stop; start" scripts never race it. */
	a->stop_fd = dup(c->fd);
	if (a->stop_fd < 0)
		conn_reply_text(c, 0, "stopping\n");
	else
		c->state = CONN_WRITE;	/* nothing to send here: closed */
}

/* An interface command or a setkey script: text (or JSON) out. */
static void serve_text(struct agent *a, struct conn *c, const struct ctl_req *req)
{
	size_t len = reply_room(a, req);
	char *buf = reply_alloc(len), *out;
	int ret;

	if (!buf) {
		conn_reply_text(c, -ENOMEM, "ipsecif-agent: out of memory\n");
		return;
	}
	out = buf + REPLY_HDR;
	a->writes = false;
	ret = is_stats(req) ? show_stats_cmd(a, req, out, len) :
	      req->type == CTL_REQ_IFCMD ? iface_cmd(a, req, out, len) :
	      script_run(a, req, out, len);
	/* Durable before the reply; a show or a dump changes nothing to save. */
	if (a->writes)
		state_save(a);
	/* A reply is whole or not at all: cut JSON is worse than none. */
	if (strlen(out) == len - 1)
		ret = errmsg(out, len, -EMSGSIZE, "ipsecif-agent: the reply is over %zu bytes and "
			     "was not sent (what the request changed stays changed); ask for "
			     "less\n", len);
	conn_reply_buf(c, ret, buf, strlen(out));
}

static void serve_sa(struct agent *a, struct conn *c, const struct ctl_req *req)
{
	struct ctl_sa_reply r;
	char err[512], text[600];
	int ret = saapi_do(a, &req->sa, &r, err, sizeof(err));

	if (ret) {
		logmsg(LOG_DEBUG, "SA request %u: %s", req->sa.op, err);
		snprintf(text, sizeof(text), "ipsecif-agent: %s\n", err);
		conn_reply_text(c, ret, text);
		return;
	}
	if (saapi_changes(req->sa.op))
		state_save(a);
	conn_reply(c, 0, &r, sizeof(r));
}

static void serve_events(struct agent *a, struct conn *c, const struct ctl_req *req)
{
	(void)req;
	if (a->n_subs == MAX_SUBSCRIBERS) {
		conn_reply_text(c, -EUSERS, "ipsecif-agent: too many event subscribers\n");
		return;
	}
	conn_reply(c, 0, NULL, 0);
	c->subscribe = true;
}

static const struct {
	enum ctl_type type;
	void (*serve)(struct agent *a, struct conn *c, const struct ctl_req *req);
} handlers[] = {
	{ CTL_REQ_IFCMD, serve_text },
	{ CTL_REQ_SETKEY, serve_text },
	{ CTL_REQ_STATUS, serve_status },
	{ CTL_REQ_STOP, serve_stop },
	{ CTL_REQ_SA, serve_sa },
	{ CTL_REQ_EVENTS, serve_events },
};

/* A malformed request: the log and the client hear what was wrong. */
static void serve_bad(struct conn *c, int ret, const char *err)
{
	char text[600];

	logmsg(LOG_WARNING, "%s: malformed request: %s", __func__, err);
	snprintf(text, sizeof(text), "ipsecif-agent: %s\n", err);
	conn_reply_text(c, ret, text);
}

/* A caller that is not root hears why, whether or not its request came whole. */
static void serve_refused(struct conn *c)
{
	conn_reply_text(c, -EPERM, "ipsecif-agent: only root may talk to the agent\n");
}

/* The whole request is in: refused, or decoded and carried out. */
static void serve(struct agent *a, struct conn *c)
{
	struct ctl_req req;
	char err[512];
	size_t i;
	int ret;

	if (!c->root) {
		serve_refused(c);
		return;
	}
	ret = ctl_decode(c->msg, sizeof(c->h) + c->h.len, &req, err, sizeof(err));
	if (ret) {
		serve_bad(c, ret, err);
		return;
	}
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == req.type)
			break;
	if (i < sizeof(handlers) / sizeof(handlers[0]))
		handlers[i].serve(a, c, &req);
	else
		conn_reply_text(c, -EOPNOTSUPP, "ipsecif-agent: unknown request\n");
	ctl_req_wipe(&req);	/* the decoded SA's keys */
}

/*
 * The request stopped short (the client closed, or its time ran out):
 * the decoder names what is missing, and the client hears it if it can.
 */
static void serve_short(struct conn *c)
{
	struct ctl_req req;
	char err[512];
	int ret;

	if (!c->root) {
		serve_refused(c);
		return;
	}
	ret = c->msg ? ctl_decode(c->msg, sizeof(c->h) + c->got, &req, err, sizeof(err)) :
		       ctl_decode(&c->h, c->got, &req, err, sizeof(err));
	serve_bad(c, ret ? ret : -ECONNRESET, ret ? err : "the request stopped short");
}

/* Read what has come of c's request; serve it once whole.  False: drop c. */
static bool conn_read(struct agent *a, struct conn *c)
{
	char err[512];
	ssize_t n;
	int ret;

	for (;;) {
		bool hdr = !c->msg;
		char *p = hdr ? (char *)&c->h : c->msg + sizeof(c->h);
		size_t want = hdr ? sizeof(c->h) : c->h.len;

		if (c->got < want) {
			n = recv(c->fd, p + c->got, want - c->got, MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return true;
			if (n <= 0) {
				if (!hdr || c->got) {
					serve_short(c);
					return true;
				}
				return false;	/* connected, said nothing, went */
			}
			c->got += n;
			if (c->got < want)
				continue;
		}
		if (!hdr) {
			serve(a, c);
			return true;
		}
		/* The header: its size is checked before the payload is read. */
		ret = ctl_check_hdr(&c->h, err, sizeof(err));
		if (ret) {
			if (c->root)
				serve_bad(c, ret, err);
			else
				serve_short(c);
			return true;
		}
		c->msg = malloc(sizeof(c->h) + c->h.len);
		if (!c->msg) {
			conn_reply_text(c, -ENOMEM, "ipsecif-agent: out of memory\n");
			return true;
		}
		memcpy(c->msg, &c->h, sizeof(c->h));
		c->got = 0;
	}
}

/* Send what c's reply has left, as far as the client takes it.  False: done or dead. */
static bool conn_write(struct conn *c)
{
	while (c->sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->sent, c->out_len - c->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		c->sent += n;
		c->deadline = mono_ns() + CONN_WRITE_NS;
	}
	return false;
}

/* Connection k goes; a subscriber's socket stays open as the events' own. */
static void conn_end(struct agent *a, int k)
{
	struct server *srv = a->srv;
	struct conn *c = &srv->conns[k];

	if (!c->subscribe || !c->out || c->sent != c->out_len || events_subscribe(a, c->fd))
		close(c->fd);
	/* A request may carry keys (CTL_SA_ADD, setkey's add): none is left behind. */
	if (c->msg)
		explicit_bzero(c->msg, sizeof(c->h) + c->h.len);
	free(c->msg);
	free(c->out);
	srv->conns[k] = srv->conns[--srv->n];
}

static void server_accept(struct agent *a)
{
	static const char busy[] = "ipsecif-agent: too many connections; try again\n";
	struct server *srv = a->srv;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct conn *c;
	int fd;

	while ((fd = accept4(a->sock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		if (srv->n == SERVER_MAX_CONNS) {
			logmsg(LOG_WARNING, "%d connections open: one refused", SERVER_MAX_CONNS);
			/* Best effort, never waiting: the client may see only the close. */
			agent_reply(fd, -EBUSY, busy);
			close(fd);
			continue;
		}
		c = &srv->conns[srv->n++];
		*c = (struct conn){ .fd = fd, .state = CONN_READ,
				    .deadline = mono_ns() + CONN_READ_NS };
		c->root = !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) && cred.uid == 0;
	}
}

/*
 * The control socket's name is taken.  This agent holds the namespace's
 * lock (pins.c), so the holder is no agent of ours: most likely a process
 * squatting the abstract name, which has no permissions.  Say who.
 */
static int name_held(char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool squatted;

	agent_sockaddr(&sa, &len);
	squatted = fd >= 0 && !connect(fd, (struct sockaddr *)&sa, len) &&
		   !agent_socket_holder(fd, &cred) && cred.uid != 0;
	if (fd >= 0)
		close(fd);
	if (squatted)
		return errmsg(err, errlen, -EADDRINUSE, "the control socket @ipsecif-agent is held "
			      "by uid %u (pid %d), not by an ipsecif-agent: not starting",
			      cred.uid, cred.pid);
	return errmsg(err, errlen, -EALREADY,
		      "an agent is already running in this network namespace");
}

int server_open(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len;

	a->srv = calloc(1, sizeof(*a->srv));
	if (!a->srv)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	agent_sockaddr(&sa, &len);
	a->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->sock < 0)
		return errmsg(err, errlen, -errno, "socket: %s", strerror(errno));
	if (bind(a->sock, (struct sockaddr *)&sa, len)) {
		if (errno == EADDRINUSE)
			return name_held(err, errlen);
		return errmsg(err, errlen, -errno, "the control socket: %s", strerror(errno));
	}
	if (listen(a->sock, SOMAXCONN))
		return errmsg(err, errlen, -errno, "listen: %s", strerror(errno));
	return 0;
}

int server_pollfds(const struct agent *a, struct pollfd *pfd, int max)
{
	int k, n = 0;

	if (max < 1 + a->srv->n)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = a->sock, .events = POLLIN };
	for (k = 0; k < a->srv->n; k++) {
		const struct conn *c = &a->srv->conns[k];

		pfd[n++] = (struct pollfd){ .fd = c->fd,
					    .events = c->state == CONN_WRITE ? POLLOUT : POLLIN };
	}
	return n;
}

void server_serve(struct agent *a, const struct pollfd *pfd, int n)
{
	struct server *srv = a->srv;
	__u64 now = mono_ns();
	int k;

	/* Backwards: a connection that ends takes the last one's place, seen already. */
	for (k = srv->n; k-- > 0;) {
		struct conn *c = &srv->conns[k];
		short ev = 1 + k < n ? pfd[1 + k].revents : 0;
		bool keep = true;

		if (c->state == CONN_READ && (ev & (POLLIN | POLLHUP | POLLERR)))
			keep = conn_read(a, c);
		else if (c->state == CONN_READ && c->deadline <= now) {
			if (c->got || c->msg)
				serve_short(c);
			else
				keep = false;
		}
		/* A reply made just now goes at once: the socket usually takes it whole. */
		if (keep && c->state == CONN_WRITE)
			keep = (ev & POLLOUT) || c->sent == 0 ? conn_write(c) : c->deadline > now;
		if (keep && c->state == CONN_WRITE && c->deadline <= now)
			keep = false;	/* it does not take its reply */
		if (!keep)
			conn_end(a, k);
	}
	if (n > 0 && (pfd[0].revents & POLLIN))
		server_accept(a);
}

__u64 server_deadline(const struct agent *a, __u64 next)
{
	int k;

	for (k = 0; a->srv && k < a->srv->n; k++)
		if (a->srv->conns[k].deadline < next)
			next = a->srv->conns[k].deadline;
	return next;
}

void server_close(struct agent *a)
{
	if (a->srv) {
		while (a->srv->n) {
			a->srv->conns[a->srv->n - 1].subscribe = false;
			conn_end(a, a->srv->n - 1);
		}
		free(a->srv);
		a->srv = NULL;
	}
	if (a->sock >= 0)
		close(a->sock);
	a->sock = -1;
}
