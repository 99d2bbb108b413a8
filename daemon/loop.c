// SPDX-License-Identifier: GPL-2.0-only
/*
 * The poll loop: the control socket, the data path's events, the TC
 * watch and the key managers' subscriptions, woken for whichever comes
 * first of those and the SA database's next deadline (a key manager
 * hears of a lifetime's end within milliseconds: its rekey depends on
 * it), at least once a second for the MTU watch.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attach.h"
#include "engine.h"
#include "events.h"
#include "iface.h"
#include "loop.h"
#include "netdev.h"
#include "pins.h"
#include "sadb.h"
#include "seqstore.h"
#include "server.h"
#include "state.h"
#include "tcwatch.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* How long poll may sleep, in ms. */
static int tick_ms(struct agent *a)
{
	__u64 now = mono_ns(), next = sadb_deadline(a, now + 1000000000ULL);

	next = server_deadline(a, next);
	next = engine_deadline(a, next);

	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/*
 * poll's fds: the events ring, the TC watch, the control socket and its
 * connections, the subscribers.
 */
#define LOOP_FDS	(3 + SERVER_MAX_CONNS + MAX_SUBSCRIBERS)

int loop_run(struct agent *a, int ready_fd)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct pollfd pfd[LOOP_FDS];
	int ev_fd = events_open(a), ret;

	/* After the start's own attaching (config, adoption): only what comes later is heard. */
	ret = tcwatch_open(a);
	if (ret)
		logmsg(LOG_ERR, "the TC watch: %s: a tc_esp_out hook removed by hand is put back "
		       "only by a restart", strerror(-ret));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	logmsg(LOG_INFO, "ready; pins in %s", a->pin_dir);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "", 1);	/* the parent returns 0 */
		close(ready_fd);
	}
	while (!a->stop && !got_signal) {
		int k, n, n_srv, subs = a->n_subs;

		pfd[0] = (struct pollfd){ .fd = ev_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = tcwatch_fd(a), .events = POLLIN };
		n_srv = server_pollfds(a, pfd + 2, LOOP_FDS - 2 - MAX_SUBSCRIBERS);
		/* Subscribers only ever close (or misbehave): any input ends them. */
		for (k = 0; k < subs; k++)
			pfd[2 + n_srv + k] = (struct pollfd){ .fd = a->subs[k], .events = POLLIN };
		n = poll(pfd, 2 + n_srv + subs, tick_ms(a));
		for (k = subs; n > 0 && k-- > 0;)
			if (pfd[2 + n_srv + k].revents)
				events_unsubscribe(a, k);
		events_consume(a);
		if (n > 0 && pfd[1].revents)
			tcwatch_consume(a);
		sadb_tick(a);
		engine_tick(a);
		seqstore_tick(a);
		server_serve(a, pfd + 2, n > 0 ? n_srv : 0);
		if (a->dirty) {
			state_save(a);
			a->dirty = false;
		}
		mtu_tick(a);
	}
	return 0;
}

void loop_teardown(struct agent *a)
{
	size_t i;

	if (a->skel)
		engine_close(a, a->flush);
	if (a->skel)
		sadb_close(a);
	events_close(a);
	tcwatch_close(a);
	if (a->flush && a->t.n_ifaces) {
		char (*names)[IFNAMSIZ] = calloc(a->t.n_ifaces, sizeof(*names));

		for (i = 0; names && i < a->t.n_ifaces; i++)
			memcpy(names[i], a->t.ifaces[i].name, IFNAMSIZ);
		if (names)
			netdev_destroy_all((const char (*)[IFNAMSIZ])names, a->t.n_ifaces);
		for (i = 0; !names && i < a->t.n_ifaces; i++)
			netdev_destroy(a->t.ifaces[i].name, NULL, 0);
		free(names);
	}
	attach_close(a);
	table_free(&a->t);
	seqstore_close(a);
	if (a->flush && a->pin_dir[0]) {
		pins_forget_cookie(a);
		state_remove(a);
	}
	state_close(a);
	pins_close(a);
	/*
	 * The control socket last: while it answers, the pins are there, so
	 * "status fails" means the pin folder is gone too, and a namespace
	 * made next (which may get the same inode, and so the same folder)
	 * never loses its pins to this agent's late removal.
	 */
	server_close(a);
}
