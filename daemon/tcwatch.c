// SPDX-License-Identifier: GPL-2.0-only
/*
 * The watch on tc_esp_out's TC hooks.  With --tc-hook filter or block,
 * root's `tc filter del` (of a peer's filter, or of the shared block's)
 * or `tc qdisc del` of a peer's qdisc takes the hook away: ipsecN's
 * outbound traffic stops (none of it leaks, docs/AGENT.md), and a
 * gateway should not wait for a restart to carry it again.  A
 * NETLINK_ROUTE socket in RTNLGRP_TC hears every TC change of the
 * namespace; a socket filter lets only the deletions of filters and
 * qdiscs through, since making a thousand interfaces is thousands of
 * additions (destroying one deletes only a chain, unseen here).  The
 * peers deleted from in one read burst are each looked at once, after
 * it: attach_out_state (attach.c) says whether the hook is still there,
 * and only where it is not does attach_out put it back.  That look is
 * also what keeps the agent from answering its own deletions (the old
 * filter dropped as a peer moves to its tcx link: the link is there),
 * and a device gone or not an interface's peer costs an ioctl and a
 * table look-up, no netlink round trip.  A tcx link (--tc-hook link)
 * cannot be removed that way: no watch.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "attach.h"
#include "netdev.h"
#include "tcblock.h"
#include "tcwatch.h"

#define WATCH_PEERS	256	/* devices remembered a burst; past that, every interface */
#define WATCH_READS	64	/* datagrams a wake-up: the loop's other work goes on */
/*
 * Notices of hooks put back: at most WATCH_TELL in a window of WATCH_TELL_NS,
 * opened by the first after the last window closed (fixed, not sliding).  A
 * program that keeps deleting a hook would otherwise flood the log (the
 * hook is put back every time all the same: without it ipsecN's
 * traffic stops); the status counts them all.
 */
#define WATCH_TELL	5
#define WATCH_TELL_NS	(10 * 1000000000ULL)

struct tcwatch {
	int fd;
	bool warned;		/* an overflow was told of (once a run) */
	__u64 put_back;		/* hooks put back, in all */
	__u64 tell_from;	/* the notices' window: its start, and how many in it */
	int told;
	/* What one burst heard: */
	bool block;		/* the shared block's filter deleted */
	bool sweep;		/* messages lost, or too many devices: every interface */
	int n;
	int devs[WATCH_PEERS];	/* the ifindexes deleted from, each once */
};

/*
 * Only RTM_DELTFILTER and RTM_DELQDISC are queued: a classic BPF load is
 * big-endian, so nlmsg_type (host order) reads as htons() of itself.
 */
static int only_deletions(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(struct nlmsghdr, nlmsg_type)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_DELTFILTER), 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htons(RTM_DELQDISC), 1, 0),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ? -errno : 0;
}

int tcwatch_open(struct agent *a)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_TC };
	struct tcwatch *w;
	int ret;

	if (a->tc_hook == TC_HOOK_LINK)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (w->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = only_deletions(w->fd);
	if (ret)
		goto err_close;
	if (bind(w->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto err_close;
	}
	a->tcw = w;
	return 0;

err_close:
	close(w->fd);
err_free:
	free(w);
	return ret;
}

int tcwatch_fd(const struct agent *a)
{
	return a->tcw ? a->tcw->fd : -1;
}

/* One deletion heard: its device remembered (once), or the shared block's filter. */
static void note(struct tcwatch *w, const struct agent *a, const struct nlmsghdr *h)
{
	const struct tcmsg *t = NLMSG_DATA(h);
	int k;

	if ((h->nlmsg_type != RTM_DELTFILTER && h->nlmsg_type != RTM_DELQDISC) ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*t)))
		return;
	if ((__u32)t->tcm_ifindex == TCM_IFINDEX_MAGIC_BLOCK) {
		if (a->tc_hook == TC_HOOK_BLOCK && t->tcm_block_index == TCBLOCK_INDEX)
			w->block = true;
		return;
	}
	for (k = 0; k < w->n; k++)
		if (w->devs[k] == t->tcm_ifindex)
			return;
	if (w->n == WATCH_PEERS)
		w->sweep = true;
	else
		w->devs[w->n++] = t->tcm_ifindex;
}

/* The datagrams queued, up to WATCH_READS: false once the socket failed for good. */
static bool read_burst(struct tcwatch *w, const struct agent *a)
{
	union {
		struct nlmsghdr h;
		char b[16384];
	} buf;
	int k;

	for (k = 0; k < WATCH_READS; k++) {
		ssize_t len = recv(w->fd, &buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == ENOBUFS) {
			/* The kernel dropped some: which devices is not known. */
			if (!w->warned)
				logmsg(LOG_WARNING, "the TC watch lost messages (its socket "
				       "overflowed): every interface's tc_esp_out hook is looked "
				       "at; later overflows are not logged");
			w->warned = w->sweep = true;
			continue;
		}
		if (len < 0 && errno == EAGAIN)
			break;
		if (len < 0) {
			logmsg(LOG_ERR, "the TC watch: %s: hooks removed by hand are no longer "
			       "put back", strerror(errno));
			return false;
		}
		for (h = &buf.h; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
			note(w, a, h);
	}
	return true;
}

/* One more hook put back: whether to log a notice of it (WATCH_TELL). */
static bool tell(struct tcwatch *w)
{
	__u64 now = mono_ns();

	w->put_back++;
	if (now - w->tell_from >= WATCH_TELL_NS) {
		w->tell_from = now;
		w->told = 0;
	}
	return w->told++ < WATCH_TELL;
}

/* The notice's tail: the last one of its window says what comes after. */
static const char *tell_tail(const struct tcwatch *w)
{
	return w->told == WATCH_TELL ? "; more within 10 s are counted (ipsecif-agent status: "
				       "tc_hooks_put_back), not logged: does a program keep "
				       "removing them?" : "";
}

/* Interface name's peer device lost its hook: put back. */
static void put_back(struct agent *a, const char *name, __u32 *block_prog)
{
	char peer[IFNAMSIZ], err[256];

	if (attach_out_state(a, name, block_prog))
		return;
	netdev_peer_name(name, peer, sizeof(peer));
	if (attach_out(a, name, err, sizeof(err)))
		logmsg(LOG_ERR, "tc_esp_out's hook on %s was removed by someone else and is not "
		       "put back: %s", peer, err);
	else if (tell(a->tcw))
		logmsg(LOG_NOTICE, "tc_esp_out's hook on %s was removed by someone else: put "
		       "back%s", peer, tell_tail(a->tcw));
	*block_prog = ATTACH_BLOCK_UNKNOWN;	/* the block's filter may be new */
}

/* The interface device idx is the peer of, into name, if the table has it. */
static bool peer_of(struct agent *a, int idx, char *name)
{
	char dev[IF_NAMESIZE];
	size_t len;

	if (!if_indextoname(idx, dev))
		return false;	/* gone: destroyed */
	len = strlen(dev);
	if (len < 2 || dev[len - 1] != 'p')
		return false;
	memcpy(name, dev, len - 1);
	name[len - 1] = 0;
	return table_find(&a->t, name) != NULL;
}

/* The shared block's filter deleted: this agent's tc_esp_out there again. */
static void block_put_back(struct agent *a)
{
	int ret = attach_block_filter(a);

	if (ret < 0)
		logmsg(LOG_ERR, "tc_esp_out's filter on TC block %#x was removed by someone else "
		       "and is not put back: %s", TCBLOCK_INDEX, strerror(-ret));
	else if (ret && tell(a->tcw))
		logmsg(LOG_NOTICE, "tc_esp_out's filter on TC block %#x was removed by someone "
		       "else: put back%s", TCBLOCK_INDEX, tell_tail(a->tcw));
}

void tcwatch_consume(struct agent *a)
{
	struct tcwatch *w = a->tcw;
	__u32 block_prog = ATTACH_BLOCK_UNKNOWN;
	char name[IFNAMSIZ];
	size_t i;
	int k;

	if (!w)
		return;
	w->block = w->sweep = false;
	w->n = 0;
	if (!read_burst(w, a)) {
		tcwatch_close(a);
		return;
	}
	if (w->sweep)
		for (i = 0; i < a->t.n_ifaces; i++)
			put_back(a, a->t.ifaces[i].name, &block_prog);
	else
		for (k = 0; k < w->n; k++)
			if (peer_of(a, w->devs[k], name))
				put_back(a, name, &block_prog);
	/*
	 * The block after the peers: the last one's qdisc deleted takes the
	 * block along, and only that peer bound again makes it anew.
	 */
	if (w->block && a->t.n_ifaces)
		block_put_back(a);
}

__u64 tcwatch_put_backs(const struct agent *a)
{
	return a->tcw ? a->tcw->put_back : 0;
}

void tcwatch_close(struct agent *a)
{
	if (!a->tcw)
		return;
	close(a->tcw->fd);
	free(a->tcw);
	a->tcw = NULL;
}
