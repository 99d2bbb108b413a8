// SPDX-License-Identifier: GPL-2.0-only
/*
 * Events: the data path's ring buffer in, the key managers'
 * CTL_REQ_EVENTS connections out.  An acquire (traffic for a reqid
 * without an outbound SA) asks them for SAs (RFC 4301 §4.4.1.1 trigger);
 * lifetimes counted by the data path (bytes, packets, the sequence
 * number's threshold) end SAs through the SA database.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "events.h"
#include "sadb.h"
#include "seqstore.h"

static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct ipsecif_event *e = data;
	ssize_t i;

	if (size < sizeof(*e))
		return 0;
	if (e->type == IPSECIF_EV_ACQUIRE) {
		struct ctl_event ev = { .type = IPSECIF_EV_ACQUIRE, .reqid = e->reqid };

		logmsg(LOG_NOTICE, "acquire: reqid %u has traffic and no outbound SA", e->reqid);
		events_publish(a, &ev);
		return 0;
	}
	if (e->type == IPSECIF_EV_SEQ_RESERVE) {	/* the agent's own business */
		seqstore_extend(a, e->sa_id);
		return 0;
	}
	i = sadb_by_id(a, e->sa_id);
	if (i < 0)
		return 0;	/* already gone: a late event */
	switch (e->type) {
	case IPSECIF_EV_SOFT_EXPIRE:
	case IPSECIF_EV_HARD_EXPIRE:
		sadb_expire(a, i, e->type, e->value, "count");
		break;
	case IPSECIF_EV_SEQ_THRESHOLD:
		sadb_expire(a, i, IPSECIF_EV_SOFT_EXPIRE, e->value, "sequence number");
		break;
	}
	return 0;
}

int events_open(struct agent *a)
{
	a->events = ring_buffer__new(bpf_map__fd(a->skel->maps.events), on_event, a, NULL);
	if (!a->events) {
		logmsg(LOG_ERR, "the events ring buffer: %s: hard byte limits will drop "
		       "without the SA being removed", strerror(errno));
		return -1;
	}
	return ring_buffer__epoll_fd(a->events);
}

void events_consume(struct agent *a)
{
	if (a->events)
		ring_buffer__consume(a->events);
}

void events_close(struct agent *a)
{
	while (a->n_subs)
		close(a->subs[--a->n_subs]);
	ring_buffer__free(a->events);
	a->events = NULL;
}

int events_subscribe(struct agent *a, int fd)
{
	if (a->n_subs == MAX_SUBSCRIBERS)
		return -EUSERS;
	a->subs[a->n_subs++] = fd;
	return 0;
}

void events_unsubscribe(struct agent *a, int k)
{
	close(a->subs[k]);
	a->subs[k] = a->subs[--a->n_subs];
}

/* The key managers reconnect, and the data path must never wait on them. */
void events_publish(struct agent *a, const struct ctl_event *ev)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_EVENT,
			     .len = sizeof(*ev) };
	char msg[sizeof(h) + sizeof(*ev)];
	int k;

	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), ev, sizeof(*ev));
	for (k = a->n_subs; k-- > 0;) {
		if (send(a->subs[k], msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT) ==
		    (ssize_t)sizeof(msg))
			continue;
		logmsg(LOG_WARNING, "a key manager does not take events: dropped");
		events_unsubscribe(a, k);
	}
}
