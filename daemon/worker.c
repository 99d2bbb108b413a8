// SPDX-License-Identifier: GPL-2.0-only
/*
 * The engine worker's loop (worker.h).  Frames arrive on the rx ring,
 * are sealed or opened in place and go out on the tx ring at the same
 * address and length; completed frames go back to the fill ring.  The
 * fill ring has room for every frame of the umem, so giving a frame back
 * never fails.  Copy mode (XDP_COPY): the workers' device is a veth.
 */
#define _GNU_SOURCE	/* sched_setaffinity */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <xdp/xsk.h>
#include <openssl/crypto.h>
#include "engcipher.h"
#include "worker.h"

#define NUM_FRAMES	4096
#define FRAME_SIZE	XSK_UMEM__DEFAULT_FRAME_SIZE
#define RING_SIZE	2048		/* rx, tx, completion */
#define FILL_SIZE	NUM_FRAMES	/* room for all of them */
#define BATCH		64
#define POLL_MS		10
#define TX_BUDGET	32		/* copy mode's frames a sendto (the kernel's TX_BATCH_SIZE) */
#define SWEEP_NS	(50 * 1000000ULL)	/* keys gone within 100 ms of their slot */
#define STATS_NS	(200 * 1000000ULL)

#ifndef XDP_USE_SG
#define XDP_USE_SG	(1 << 4)	/* linux/if_xdp.h, 6.6 */
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD	(1 << 0)
#endif

struct worker {
	const struct worker_opts *o;
	const struct ipsecif_eng_key *keys;
	size_t keys_size;
	struct ipsecif_eng_status *status;	/* the whole mapping */
	size_t status_size;
	struct ipsecif_eng_status *st;		/* ours */
	void *area;
	struct xsk_umem *umem;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct engcipher *ec;
	__u32 tx_out;				/* on the tx ring, not yet completed */
	bool chain;				/* the last rx descriptor had XDP_PKT_CONTD */
	struct ipsecif_eng_status n;		/* counters, published each turn */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

#define PUT(f, v) __atomic_store_n(&w->st->f, (v), __ATOMIC_RELAXED)

/* The counters into the shared block; the heartbeat last, with release. */
static void publish(struct worker *w, __u64 now)
{
	PUT(frames, w->n.frames);
	PUT(sealed, w->n.sealed);
	PUT(opened, w->n.opened);
	PUT(bad_icv, w->n.bad_icv);
	PUT(no_key, w->n.no_key);
	PUT(bad_frame, w->n.bad_frame);
	PUT(tx_full, w->n.tx_full);
	PUT(rx_depth, w->n.rx_depth);
	PUT(tx_depth, w->tx_out);
	PUT(rx_dropped, w->n.rx_dropped);
	PUT(rx_ring_full, w->n.rx_ring_full);
	__atomic_store_n(&w->st->heartbeat_ns, now, __ATOMIC_RELEASE);
}

/*
 * The kernel's counts, and the socket's error: ENETDOWN once the device
 * is gone, after which nothing will arrive.  0 or -that error.
 */
static int xdp_stats(struct worker *w)
{
	struct xdp_statistics s;
	socklen_t len = sizeof(s);
	int fd = xsk_socket__fd(w->xsk), err = 0;

	if (!getsockopt(fd, SOL_XDP, XDP_STATISTICS, &s, &len)) {
		w->n.rx_dropped = s.rx_dropped;
		w->n.rx_ring_full = s.rx_ring_full;
	}
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || !err)
		return 0;
	fprintf(stderr, "ipsecif-engine: socket on %s queue %u: %s\n", w->o->dev, w->o->queue,
		strerror(err));
	return -err;
}

static void count(struct worker *w, int ret, const void *frame, __u32 len)
{
	const struct ipsecif_eng_trailer *t;

	w->n.frames++;
	if (ret == -EINVAL) {		/* too short for a trailer */
		w->n.bad_frame++;
		return;
	}
	t = (const void *)((const __u8 *)frame + len - sizeof(*t));
	switch (((const __u8 *)t)[__builtin_offsetof(struct ipsecif_eng_trailer, op)]) {
	case IPSECIF_ENG_SEALED:
		w->n.sealed++;
		break;
	case IPSECIF_ENG_OPENED:
		w->n.opened++;
		break;
	case IPSECIF_ENG_BAD_ICV:
		w->n.bad_icv++;
		break;
	case IPSECIF_ENG_NO_KEY:
		w->n.no_key++;
		break;
	default:
		w->n.bad_frame++;
	}
}

/* Frames back to the fill ring (it has room for all of them). */
static void refill(struct worker *w, const __u64 *addrs, __u32 n)
{
	__u32 i, idx;

	if (!n || xsk_ring_prod__reserve(&w->fill, n, &idx) != n)
		return;
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&w->fill, idx + i) = addrs[i] & ~(__u64)(FRAME_SIZE - 1);
	xsk_ring_prod__submit(&w->fill, n);
}

static void reap(struct worker *w)
{
	__u64 addrs[BATCH];
	__u32 n, i, idx;

	while ((n = xsk_ring_cons__peek(&w->comp, BATCH, &idx)) > 0) {
		for (i = 0; i < n; i++)
			addrs[i] = *xsk_ring_cons__comp_addr(&w->comp, idx + i);
		xsk_ring_cons__release(&w->comp, n);
		w->tx_out -= n < w->tx_out ? n : w->tx_out;
		refill(w, addrs, n);
	}
}

/*
 * Copy mode sends only when asked (sendto), whatever the flags say, and
 * then at most its budget (TX_BUDGET frames) a call:
 * EAGAIN means more are waiting, so ask again until the ring is empty or
 * the device pushes back (EBUSY, ENOBUFS).  Frames left there would wait
 * for the next wake-up, up to POLL_MS with nothing arriving.
 */
static void kick(struct worker *w)
{
	int i;

	if (!w->tx_out)
		return;
	for (i = 0; i < RING_SIZE / TX_BUDGET; i++) {
		if (sendto(xsk_socket__fd(w->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			return;
		if (errno == EAGAIN)
			continue;
		if (errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
			fprintf(stderr, "ipsecif-engine: sendto: %s\n", strerror(errno));
		return;
	}
}

static void rx_batch(struct worker *w)
{
	__u64 back[BATCH];
	__u32 n, i, idx, tidx = 0, ntx, nback = 0, want = 0, k = 0;
	bool chain = w->chain;

	n = xsk_ring_cons__peek(&w->rx, BATCH, &idx);
	if (!n)
		return;
	/*
	 * A multi-buffer frame (XDP_USE_SG: BPF's end may hand on an xdp
	 * frame in fragments) comes in one descriptor when it fits a umem
	 * frame, as every engine frame does; one in several is dropped.
	 * First which go back, then as many as the tx ring has room for.
	 */
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&w->rx, idx + i);

		want += !chain && !(d->options & XDP_PKT_CONTD);
		chain = d->options & XDP_PKT_CONTD;
	}
	ntx = xsk_prod_nb_free(&w->tx, want);
	if (ntx > want)
		ntx = want;
	if (ntx && xsk_ring_prod__reserve(&w->tx, ntx, &tidx) != ntx)
		ntx = 0;
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&w->rx, idx + i);
		void *frame = xsk_umem__get_data(w->area, d->addr);
		bool part = w->chain || (d->options & XDP_PKT_CONTD);
		int ret;

		w->chain = d->options & XDP_PKT_CONTD;
		if (part) {
			w->n.bad_frame++;
			back[nback++] = d->addr;
			continue;
		}
		ret = engcipher_frame(w->ec, frame, d->len);
		count(w, ret, frame, d->len);
		if (k < ntx) {
			struct xdp_desc *t = xsk_ring_prod__tx_desc(&w->tx, tidx + k++);

			t->addr = d->addr;
			t->len = d->len;
			t->options = 0;
		} else {
			w->n.tx_full++;
			back[nback++] = d->addr;
		}
	}
	xsk_ring_cons__release(&w->rx, n);
	if (ntx) {
		xsk_ring_prod__submit(&w->tx, ntx);
		w->tx_out += ntx;
	}
	refill(w, back, nback);
}

static int loop(struct worker *w)
{
	struct pollfd p = { .fd = xsk_socket__fd(w->xsk), .events = POLLIN };
	__u64 now, swept = now_ns(), stats = 0;
	int err;

	while (!stop) {
		/*
		 * Into poll only with nothing waiting: a busy ring costs no system
		 * call.  Frames the device pushed back on the tx ring are asked for
		 * again within a millisecond, not at the next arrival.
		 */
		if (!xsk_cons_nb_avail(&w->rx, 1) &&
		    poll(&p, 1, xsk_prod_nb_free(&w->tx, RING_SIZE) < RING_SIZE ? 1 : POLL_MS) < 0 &&
		    errno != EINTR)
			return -errno;
		rx_batch(w);
		now = now_ns();
		/* Counted before sent: whoever sees a frame back sees its count. */
		publish(w, now);
		kick(w);
		reap(w);
		w->n.rx_depth = xsk_cons_nb_avail(&w->rx, RING_SIZE);
		if (now - swept >= SWEEP_NS) {
			engcipher_sweep(w->ec);
			swept = now;
		}
		if (now - stats >= STATS_NS) {
			err = xdp_stats(w);
			if (err)
				return err;
			stats = now;
		}
		publish(w, now);
	}
	return 0;
}

static int map_fd(int fd, size_t need, int prot, void **out, size_t *size, const char *what)
{
	struct stat sb;
	void *p;
	int err;

	if (fstat(fd, &sb)) {
		err = -errno;
		fprintf(stderr, "ipsecif-engine: %s fd %d: %s\n", what, fd, strerror(-err));
		return err;
	}
	if ((size_t)sb.st_size < need) {
		fprintf(stderr, "ipsecif-engine: %s fd %d: %lld bytes, need %zu\n", what, fd,
			(long long)sb.st_size, need);
		return -EINVAL;
	}
	p = mmap(NULL, sb.st_size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		fprintf(stderr, "ipsecif-engine: mmap %s: %s\n", what, strerror(-err));
		return err;
	}
	*out = p;
	*size = sb.st_size;
	return 0;
}

static int setup_umem(struct worker *w)
{
	const struct xsk_umem_config uc = {
		.fill_size = FILL_SIZE,
		.comp_size = RING_SIZE,
		.frame_size = FRAME_SIZE,
		.frame_headroom = 0,
	};
	__u64 addrs[BATCH];
	__u32 i, j;
	int err;

	w->area = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
	if (w->area == MAP_FAILED) {
		w->area = NULL;
		err = -errno;
		fprintf(stderr, "ipsecif-engine: umem: %s\n", strerror(-err));
		return err;
	}
	err = xsk_umem__create(&w->umem, w->area, (__u64)NUM_FRAMES * FRAME_SIZE, &w->fill,
			       &w->comp, &uc);
	if (err) {
		w->umem = NULL;
		fprintf(stderr, "ipsecif-engine: xsk_umem__create: %s\n", strerror(-err));
		return err;
	}
	for (i = 0; i < NUM_FRAMES; i += BATCH) {
		for (j = 0; j < BATCH; j++)
			addrs[j] = (__u64)(i + j) * FRAME_SIZE;
		refill(w, addrs, BATCH);
	}
	return 0;
}

static int setup_xsk(struct worker *w)
{
	const struct xsk_socket_config sc = {
		.rx_size = RING_SIZE,
		.tx_size = RING_SIZE,
		/* Our own XDP program redirects to the xsks map: libxdp loads none. */
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP | XDP_USE_SG,
	};
	int err, tries;

	/*
	 * A worker started in a dead one's place may find the queue still
	 * bound for a moment (the kernel releases a socket's umem after an
	 * RCU grace period): EBUSY, tried again for up to a second.
	 */
	for (tries = 0;; tries++) {
		err = xsk_socket__create(&w->xsk, w->o->dev, w->o->queue, w->umem, &w->rx,
					 &w->tx, &sc);
		if (err != -EBUSY || tries == 50 || stop)
			break;
		usleep(20000);
	}
	if (err) {
		w->xsk = NULL;
		fprintf(stderr, "ipsecif-engine: socket on %s queue %u: %s\n", w->o->dev,
			w->o->queue, strerror(-err));
		return err;
	}
	/* Keyed by our index: each worker has a device of its own, and queue 0 on it. */
	if (w->o->xsks_fd >= 0) {
		int fd = xsk_socket__fd(w->xsk);

		if (bpf_map_update_elem(w->o->xsks_fd, &w->o->index, &fd, BPF_ANY)) {
			err = -errno;
			fprintf(stderr, "ipsecif-engine: xsks map, key %u: %s\n", w->o->index,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

static int setup_process(const struct worker_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	cpu_set_t set;
	int err;

	/* Keys and plaintext never reach swap or a core file. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
		err = -errno;
		fprintf(stderr, "ipsecif-engine: mlockall: %s\n", strerror(-err));
		return err;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		err = -errno;
		fprintf(stderr, "ipsecif-engine: PR_SET_DUMPABLE: %s\n", strerror(-err));
		return err;
	}
	/* No SA_RESTART: poll returns at once. */
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return -errno;
	if (o->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(o->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			err = -errno;
			fprintf(stderr, "ipsecif-engine: cpu %d: %s\n", o->cpu, strerror(-err));
			return err;
		}
	}
	return 0;
}

int worker_run(const struct worker_opts *o)
{
	struct worker w = { .o = o };
	void *p;
	int err;

	if (o->index >= IPSECIF_ENG_MAX_WORKERS || !o->dev)
		return -EINVAL;
	err = setup_process(o);
	if (err)
		return err;
	err = map_fd(o->keys_fd, IPSECIF_ENG_KEY_SLOTS * sizeof(struct ipsecif_eng_key),
		     PROT_READ, &p, &w.keys_size, "keys");
	if (err)
		return err;
	w.keys = p;
	err = map_fd(o->status_fd, (o->index + 1) * sizeof(struct ipsecif_eng_status),
		     PROT_READ | PROT_WRITE, &p, &w.status_size, "status");
	if (err)
		goto unmap_keys;
	w.status = p;
	w.st = &w.status[o->index];
	err = engcipher_new(&w.ec, w.keys);
	if (err)
		goto unmap_status;
	err = setup_umem(&w);
	if (err)
		goto free_umem;
	err = setup_xsk(&w);
	if (err)
		goto free_xsk;

	__atomic_store_n(&w.st->pid, getpid(), __ATOMIC_RELAXED);
	__atomic_store_n(&w.st->queue, o->queue, __ATOMIC_RELAXED);
	__atomic_store_n(&w.st->cpu, o->cpu, __ATOMIC_RELAXED);
	publish(&w, now_ns());
	__atomic_store_n(&w.st->bound, 1, __ATOMIC_RELEASE);

	err = loop(&w);
	__atomic_store_n(&w.st->bound, 0, __ATOMIC_RELEASE);

	/* Closing the socket takes it out of the xsks map: nothing to delete. */
free_xsk:
	if (w.xsk)
		xsk_socket__delete(w.xsk);
free_umem:
	if (w.umem)
		xsk_umem__delete(w.umem);
	if (w.area) {
		/* The frames held text in the clear. */
		OPENSSL_cleanse(w.area, (size_t)NUM_FRAMES * FRAME_SIZE);
		munmap(w.area, (size_t)NUM_FRAMES * FRAME_SIZE);
	}
	engcipher_free(w.ec);
unmap_status:
	munmap(w.status, w.status_size);
unmap_keys:
	munmap((void *)w.keys, w.keys_size);
	return err;
}
