// SPDX-License-Identifier: GPL-2.0-only
/*
 * The engine's supervisor: "engine on" makes a veth pair a worker
 * (ipsecif-eQ, ipsecif-wQ), puts the link's three programs on each
 * (bpf/eng_link.h), makes the key table and the status block (memfds),
 * and starts the workers, ipsecif-engine, one a link.  The watchdog
 * (engine_tick, every ENG_TICK_NS) tells BPF the engine is up only while
 * every worker is bound and its heartbeat moves; a worker that exits, or
 * whose heartbeat stands still for ENG_STUCK_NS (SIGSTOP, a livelock), is
 * taken out of the xsks map and killed, BPF ciphers everything, and the
 * worker is started again.
 *
 * Keys: a key goes into the table, for the workers, only while the
 * engine is on, and before BPF may send a frame for it (eng_keys); out of
 * BPF's choice first, then wiped from the table.  The table is mlocked,
 * kept out of core dumps, and sealed against any new writable mapping, so
 * that the workers can only read it.  The workers die with the agent
 * (PR_SET_PDEATHSIG), and so does the table: an adopting agent starts
 * the engine anew, and the SAs it adopts are BPF's until they are rekeyed
 * (docs/SECURITY.md, docs/AGENT.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "engine.h"
#include "show.h"
#include "errmsg.h"
#include "ifcmd.h"
#include "netdev.h"
#include "state.h"

#define ENG_TICK_NS	(20 * 1000000ULL)
#define ENG_STUCK_NS	(60 * 1000000ULL)	/* the worker polls every 10 ms */
#define ENG_BIND_NS	(3000 * 1000000ULL)	/* to start and bind its socket */
#define ENG_BACKOFF_NS	(100 * 1000000ULL)	/* before a restart, times restarts in a row */
#define ENG_NICE	(-5)
#define ENG_SETTINGS_MAGIC	0x73676e65	/* "engs" */

/* The fds a worker inherits, at these numbers (ipsecif-engine's argv says them too). */
#define ENG_FD_KEYS	3
#define ENG_FD_STATUS	4
#define ENG_FD_XSKS	5

/*
 * The text length (bytes) from which a suite goes to the engine: below
 * it BPF's own cipher costs less than the trip (docs/BENCHMARKS.md,
 * "The engine").  0: never.
 */
const __u16 engine_default_min[IPSECIF_ENC_MAX] = {
	[IPSECIF_ENC_AES_CBC] = 128,
	[IPSECIF_ENC_AES_GCM16] = 128,
	[IPSECIF_ENC_CHACHA20_POLY1305] = 512,
};

#define KEYS_SIZE	(IPSECIF_ENG_KEY_SLOTS * sizeof(struct ipsecif_eng_key))
#define STATUS_SIZE	(IPSECIF_ENG_MAX_WORKERS * sizeof(struct ipsecif_eng_status))

static int conf_write(struct agent *a, bool up)
{
	struct engine *e = a->eng;
	struct ipsecif_eng_conf c = { .up = up, .n = e->n_workers };
	__u32 zero = 0;
	int q;

	for (q = 0; q < e->n_workers; q++)
		c.ifindex[q] = e->ifindex[q];
	memcpy(c.min_text, e->set.min_text, sizeof(c.min_text));
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.eng_conf), &zero, &c, BPF_ANY))
		return -errno;
	if (up != e->up) {
		logmsg(LOG_INFO, "engine %s", up ? "up: the workers cipher" :
		       "down: BPF ciphers everything");
		if (up)
			e->up_since = mono_ns();
		else
			e->down_since = mono_ns();
	}
	e->up = up;
	return 0;
}

/* Worker q's link: BPF's end, the worker's. */
static void link_names(int q, char *dev, char *wdev)
{
	snprintf(dev, IFNAMSIZ, IPSECIF_ENG_DEV, q & (IPSECIF_ENG_MAX_WORKERS - 1));
	snprintf(wdev, IFNAMSIZ, IPSECIF_ENG_WDEV, q & (IPSECIF_ENG_MAX_WORKERS - 1));
}

/* A memfd of size bytes mapped read-write: its fd, or -errno. */
static int shm_make(const char *name, size_t size, bool lock, void **map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), ret;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size)) {
		ret = -errno;
		goto err_fd;
	}
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED) {
		ret = -errno;
		goto err_fd;
	}
	if (lock && (mlock(*map, size) || madvise(*map, size, MADV_DONTDUMP))) {
		ret = -errno;
		goto err_map;
	}
	/* Keys: no one maps them writable again, the workers included. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  (lock ? F_SEAL_FUTURE_WRITE : 0))) {
		ret = -errno;
		goto err_map;
	}
	return fd;
err_map:
	munmap(*map, size);
err_fd:
	close(fd);
	return ret;
}

/* The key table, every key wiped; the BPF side told first. */
static void keys_wipe_all(struct agent *a)
{
	struct engine *e = a->eng;
	struct ipsecif_eng_keyslot none = { 0 };
	__u32 slot;

	for (slot = 0; e->keys && e->n_keys && slot < IPSECIF_ENG_KEY_SLOTS; slot++)
		if (e->keys[slot].id)
			engine_key_remove(a, e->keys[slot].id);
	for (slot = 0; slot < IPSECIF_ENG_KEY_SLOTS; slot++)
		bpf_map_update_elem(bpf_map__fd(a->skel->maps.eng_keys), &slot, &none, BPF_ANY);
	e->n_keys = 0;
}

/* Worker q's exit, if it has (wait: until it has). */
static void worker_reap(struct engine *e, int q, bool wait)
{
	struct eng_worker *w = &e->w[q];
	int st;

	if (!w->pid || waitpid(w->pid, &st, wait ? 0 : WNOHANG) != w->pid)
		return;
	if (w->state != ENG_W_OFF) {
		e->died++;
		if (WIFSIGNALED(st))
			logmsg(LOG_WARNING, "engine worker %d (pid %d) killed by signal %d: "
			       "restarted", q, w->pid, WTERMSIG(st));
		else
			logmsg(LOG_WARNING, "engine worker %d (pid %d) exited with %d: restarted",
			       q, w->pid, WEXITSTATUS(st));
	}
	w->pid = 0;
	w->state = ENG_W_OFF;
	w->since = mono_ns();
}

/*
 * Worker q out of the path: the engine down first, its socket out of the
 * map (a stopped worker's would take frames it never answers), then sig,
 * and SIGKILL if it has not gone in half a second.
 */
static void worker_out(struct agent *a, int q, int sig)
{
	struct engine *e = a->eng;
	struct eng_worker *w = &e->w[q];
	__u32 key = q;
	int i;

	conf_write(a, false);
	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.eng_xsks), &key);
	w->state = ENG_W_OFF;
	if (w->pid) {
		kill(w->pid, sig);
		kill(w->pid, SIGCONT);	/* a stopped worker hears SIGTERM only then */
		for (i = 0; i < 50 && w->pid; i++) {
			worker_reap(e, q, false);
			if (w->pid)
				usleep(10000);
		}
		if (w->pid) {
			kill(w->pid, SIGKILL);
			worker_reap(e, q, true);
		}
	}
	w->since = mono_ns();
}

static int worker_spawn(struct agent *a, int q)
{
	struct engine *e = a->eng;
	struct eng_worker *w = &e->w[q];
	char qs[12], cs[12], fk[12], fs[12], fx[12], is[12], dev[IFNAMSIZ], wdev[IFNAMSIZ];
	char *argv[] = { "ipsecif-engine", "--dev", wdev, "--queue", qs,
			 "--keys-fd", fk, "--status-fd", fs, "--index", is, "--xsks-fd", fx,
			 w->cpu >= 0 ? "--cpu" : NULL, cs, NULL };
	int xsks = bpf_map__fd(a->skel->maps.eng_xsks), null;
	bool foreground = a->foreground;
	pid_t parent = getpid(), pid;

	link_names(q, dev, wdev);
	snprintf(qs, sizeof(qs), "%d", 0);	/* a link a worker: its one queue */
	snprintf(is, sizeof(is), "%d", q);
	snprintf(cs, sizeof(cs), "%d", w->cpu);
	snprintf(fk, sizeof(fk), "%d", ENG_FD_KEYS);
	snprintf(fs, sizeof(fs), "%d", ENG_FD_STATUS);
	snprintf(fx, sizeof(fx), "%d", ENG_FD_XSKS);
	memset(&e->status[q], 0, sizeof(e->status[q]));
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;

		/* The child: nothing of the agent's but the three fds it needs. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		/*
		 * Ahead of ordinary processes, as the softirqs that feed it are:
		 * a worker waiting for a CPU holds its SA's packets (and those
		 * queued behind them) for as long.
		 */
		setpriority(PRIO_PROCESS, 0, ENG_NICE);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/*
		 * Not the agent's standard streams: while it starts they are
		 * its caller's (and its ready pipe), whose end waits for them
		 * to close.  A daemon's worker says why it failed by its exit
		 * status, which the agent logs; in front, on the terminal.
		 */
		null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    (!foreground && dup2(null, 2) < 0))
			_exit(126);
		if (dup2(e->keys_fd, 100) < 0 || dup2(e->status_fd, 101) < 0 ||
		    dup2(xsks, 102) < 0 || dup2(100, ENG_FD_KEYS) < 0 ||
		    dup2(101, ENG_FD_STATUS) < 0 || dup2(102, ENG_FD_XSKS) < 0)
			_exit(126);
		close_range(ENG_FD_XSKS + 1, ~0U, 0);
		execv(e->path, argv);
		_exit(127);
	}
	w->pid = pid;
	w->state = ENG_W_STARTING;
	w->since = w->beat_seen = mono_ns();
	w->heartbeat = 0;
	return 0;
}

/* ipsecif-engine beside the agent's own binary. */
static int engine_path(struct engine *e)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if ((size_t)snprintf(e->path, sizeof(e->path), "%s/ipsecif-engine", self) >= sizeof(e->path))
		return -ENAMETOOLONG;
	return access(e->path, X_OK) ? -errno : 0;
}

/* An engine link already there as this one wants it: one queue, its MTU. */
static bool link_fits(const char *dev)
{
	char path[128], buf[16] = "";
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-1", dev);
	if (!access(path, F_OK))
		return false;
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	return atoi(buf) == IPSECIF_ENG_MTU;
}

/* Worker q's link, made or taken as it is, and its three programs. */
static int link_ready(struct agent *a, int q, char *err, size_t errlen)
{
	struct engine *e = a->eng;
	char dev[IFNAMSIZ], wdev[IFNAMSIZ];
	struct bpf_link *l = NULL;
	__u32 key = q;
	__u8 mac[6];
	int ret;

	link_names(q, dev, wdev);
	if (!netdev_info(wdev, &e->wifindex[q], mac) && !link_fits(wdev))
		netdev_destroy(dev, NULL, 0);
	if (netdev_info(wdev, &e->wifindex[q], mac)) {
		ret = netdev_create_pair(dev, wdev, IPSECIF_ENG_MTU, 1, err, errlen);
		if (ret)
			return ret;
	}
	if (netdev_info(dev, &e->ifindex[q], mac) || netdev_info(wdev, &e->wifindex[q], mac))
		return errmsg(err, errlen, -ENODEV, "%s: gone as it was made", dev);
	ret = bpf_map_update_elem(bpf_map__fd(a->skel->maps.eng_wdevs), &e->wifindex[q], &key,
				  BPF_ANY) ? -errno : 0;
	/* No pin yet is no news: libbpf's warning about it is not shown. */
	log_libbpf_quiet(true);
	if (!ret)
		ret = xdp_attach(a, a->skel->progs.xdp_eng_wrk, "engxdp", e->wifindex[q], &l);
	log_libbpf_quiet(false);
	bpf_link__destroy(l);	/* the pin holds it */
	if (!ret)
		ret = attach_tcx(a, a->skel->progs.tc_eng_fallback, "engfb", e->wifindex[q]);
	if (!ret)
		ret = attach_tcx(a, a->skel->progs.tc_eng_back, "engback", e->ifindex[q]);
	return ret ? errmsg(err, errlen, ret, "the engine's programs on %s: %s", wdev,
			    strerror(-ret)) : 0;
}

/* The links of workers from..63, and their pins (the kernel detached the programs). */
static void links_remove(struct agent *a, int from)
{
	static const char *const kinds[] = { "engxdp", "engfb", "engback" };
	struct engine *e = a->eng;
	char dev[IFNAMSIZ], wdev[IFNAMSIZ], path[300];
	int q, idx, wdx;
	size_t k;
	__u8 mac[6];

	for (q = from; q < IPSECIF_ENG_MAX_WORKERS; q++) {
		link_names(q, dev, wdev);
		if (netdev_info(dev, &idx, mac) || netdev_info(wdev, &wdx, mac))
			continue;
		bpf_map_delete_elem(bpf_map__fd(a->skel->maps.eng_wdevs), &wdx);
		netdev_destroy(dev, NULL, 0);
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			snprintf(path, sizeof(path), "%s/link_%s_%d", a->pin_dir, kinds[k],
				 k == 2 ? idx : wdx);
			unlink(path);
		}
		e->ifindex[q] = e->wifindex[q] = 0;
	}
}

static int engine_alloc(struct agent *a)
{
	struct engine *e;
	int k;

	if (a->eng)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->keys_fd = e->status_fd = -1;
	e->set.magic = ENG_SETTINGS_MAGIC;
	memcpy(e->set.min_text, engine_default_min, sizeof(e->set.min_text));
	for (k = 0; k < IPSECIF_ENG_MAX_WORKERS; k++)
		e->cpus[k] = -1;
	a->eng = e;
	return 0;
}

static void engine_stop(struct agent *a)
{
	struct engine *e = a->eng;
	int q;

	conf_write(a, false);
	for (q = 0; q < e->n_workers; q++)
		worker_out(a, q, SIGTERM);
	keys_wipe_all(a);
	e->on = false;
}

/* The CPUs of set a list like 0-3,6 into buf. */
static void cpus_name(const cpu_set_t *set, char *buf, size_t len)
{
	size_t n = 0;
	int c, end;

	buf[0] = 0;
	for (c = 0; c < CPU_SETSIZE && n < len; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		for (end = c; end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set); end++)
			;
		n += snprintf(buf + n, len - n, end > c ? "%s%d-%d" : "%s%d", n ? "," : "", c,
			      end);
		c = end;
	}
}

/*
 * Each CPU the settings pin a worker to is one this agent may run on
 * (its workers start with its affinity): 0, or -EINVAL naming the first
 * that is not, before anything changes.  A worker pinned elsewhere would
 * die at its start, again and again.
 */
static int cpus_check(const struct eng_settings *set, char *err, size_t errlen)
{
	char may_name[256];
	cpu_set_t may;
	__u32 k;

	if (sched_getaffinity(0, sizeof(may), &may))
		return errmsg(err, errlen, -errno, "cpus: the CPUs this agent may use: %s",
			      strerror(errno));
	for (k = 0; k < set->n_cpus; k++)
		if (set->cpus[k] < 0 || set->cpus[k] >= CPU_SETSIZE ||
		    !CPU_ISSET(set->cpus[k], &may)) {
			cpus_name(&may, may_name, sizeof(may_name));
			return errmsg(err, errlen, -EINVAL, "cpus: CPU %d is not one this agent "
				      "may run on (%s)", set->cpus[k], may_name);
		}
	return 0;
}

/* The engine on as e->set says. */
static int engine_start(struct agent *a, char *err, size_t errlen)
{
	struct engine *e = a->eng;
	const struct eng_settings *set = &e->set;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int q, ret;

	ret = cpus_check(set, err, errlen);
	if (ret)
		return ret;
	if (e->on)
		engine_stop(a);
	e->n_workers = set->workers ? (int)set->workers : (cpus > 0 ? (int)cpus : 1);
	if (e->n_workers > IPSECIF_ENG_MAX_WORKERS)
		e->n_workers = IPSECIF_ENG_MAX_WORKERS;
	for (q = 0; q < IPSECIF_ENG_MAX_WORKERS; q++)
		e->w[q].cpu = set->n_cpus ? set->cpus[q % set->n_cpus] : -1;
	ret = engine_path(e);
	if (ret)
		return errmsg(err, errlen, ret, "%s: the worker, ipsecif-engine: %s",
			      e->path[0] ? e->path : "beside ipsecif-agent", strerror(-ret));
	if (e->keys_fd < 0) {
		ret = shm_make("ipsecif-eng-keys", KEYS_SIZE, true, (void **)&e->keys);
		if (ret < 0)
			return errmsg(err, errlen, ret, "the engine's key table: %s", strerror(-ret));
		e->keys_fd = ret;
		ret = shm_make("ipsecif-eng-status", STATUS_SIZE, false, (void **)&e->status);
		if (ret < 0)
			return errmsg(err, errlen, ret, "the engine's status: %s", strerror(-ret));
		e->status_fd = ret;
	}
	links_remove(a, e->n_workers);
	for (q = 0; q < e->n_workers; q++) {
		ret = link_ready(a, q, err, errlen);
		if (ret)
			return ret;
	}
	ret = conf_write(a, false);
	if (ret)
		return errmsg(err, errlen, ret, "the engine's settings: %s", strerror(-ret));
	e->on = true;
	for (q = 0; q < e->n_workers; q++) {
		e->w[q].restarts = e->w[q].streak = 0;
		ret = worker_spawn(a, q);
		if (ret) {
			engine_stop(a);
			return errmsg(err, errlen, ret, "starting engine worker %d: %s", q,
				      strerror(-ret));
		}
	}
	return 0;
}

int engine_key_add(struct agent *a, __u32 id, const struct ipsecif_key_params *p)
{
	struct engine *e = a->eng;
	struct ipsecif_eng_keyslot ks = { .id = id };
	struct ipsecif_eng_key *k;
	__u32 slot = id & (IPSECIF_ENG_KEY_SLOTS - 1);
	size_t klen = p->enc_key_len;

	if (!e || !e->on || !e->keys || !id)
		return 0;
	if (p->auth_key_len > sizeof(k->auth_key))
		return -E2BIG;	/* HMAC keys past a block: BPF's (RFC 2104 §2 would hash them) */
	if (p->enc != IPSECIF_ENC_AES_CBC) {
		if (klen < IPSECIF_SALT_LEN)
			return -EINVAL;
		klen -= IPSECIF_SALT_LEN;
	}
	if (klen > IPSECIF_MAX_ENC_KEY)
		return -EINVAL;
	k = &e->keys[slot];
	if (k->id)
		return -EBUSY;	/* a live SA's slot: this one is BPF's */
	__atomic_store_n(&k->lock, k->lock + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	k->enc = p->enc;
	k->auth = p->auth;
	k->icv_len = p->enc != IPSECIF_ENC_AES_CBC ? IPSECIF_AEAD_ICV_LEN :
		     p->auth == IPSECIF_AUTH_HMAC_SHA256_128 ? 16 :
		     p->auth == IPSECIF_AUTH_HMAC_SHA1_96 ? 12 : 0;
	k->enc_key_len = klen;
	k->auth_key_len = p->auth_key_len;
	memcpy(k->enc_key, p->enc_key, klen);
	if (p->enc != IPSECIF_ENC_AES_CBC)
		memcpy(k->salt, p->enc_key + klen, IPSECIF_SALT_LEN);
	if (p->auth_key_len)
		memcpy(k->auth_key, p->auth_key, p->auth_key_len);
	k->id = id;
	__atomic_store_n(&k->lock, k->lock + 1, __ATOMIC_RELEASE);
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.eng_keys), &slot, &ks, BPF_ANY)) {
		int ret = -errno;

		engine_key_remove(a, id);
		return ret;
	}
	e->n_keys++;
	return 0;
}

void engine_key_remove(struct agent *a, __u32 id)
{
	struct engine *e = a->eng;
	struct ipsecif_eng_keyslot none = { 0 };
	__u32 slot = id & (IPSECIF_ENG_KEY_SLOTS - 1), lock;
	struct ipsecif_eng_key *k;

	if (!e || !e->keys || !id || e->keys[slot].id != id)
		return;
	k = &e->keys[slot];
	bpf_map_update_elem(bpf_map__fd(a->skel->maps.eng_keys), &slot, &none, BPF_ANY);
	lock = k->lock + 1;
	__atomic_store_n(&k->lock, lock, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	explicit_bzero((char *)k + sizeof(k->lock), sizeof(*k) - sizeof(k->lock));
	__atomic_store_n(&k->lock, lock + 1, __ATOMIC_RELEASE);
	if (e->n_keys)
		e->n_keys--;
}

void engine_tick(struct agent *a)
{
	struct engine *e = a->eng;
	__u64 now = mono_ns();
	bool all = true;
	int q;

	if (!e || !e->on)
		return;
	for (q = 0; q < e->n_workers; q++) {
		struct eng_worker *w = &e->w[q];
		const struct ipsecif_eng_status *st = &e->status[q];
		__u64 hb = __atomic_load_n(&st->heartbeat_ns, __ATOMIC_ACQUIRE);

		worker_reap(e, q, false);
		if (w->state == ENG_W_OFF && !w->pid &&
		    now - w->since >= ENG_BACKOFF_NS * (1 + (w->streak < 20 ? w->streak : 20))) {
			int err;

			w->restarts++;
			w->streak++;
			err = worker_spawn(a, q);
			if (err) {
				logmsg(LOG_WARNING, "engine worker %d: %s", q, strerror(-err));
				w->since = now;
			}
			all = false;
			continue;	/* just started: judged from the next look on */
		}
		if (hb != w->heartbeat) {
			w->heartbeat = hb;
			w->beat_seen = now;
		}
		if (w->state == ENG_W_STARTING && st->bound && hb)
			w->state = ENG_W_RUNNING;
		if (w->state == ENG_W_STARTING && now - w->since > ENG_BIND_NS) {
			logmsg(LOG_WARNING, "engine worker %d (pid %d) did not bind its socket: "
			       "restarted", q, w->pid);
			worker_out(a, q, SIGKILL);
		} else if (w->state == ENG_W_RUNNING && now - w->beat_seen > ENG_STUCK_NS) {
			logmsg(LOG_WARNING, "engine worker %d (pid %d) stuck (no heartbeat for "
			       "%llu ms): out of the path, restarted", q, w->pid,
			       (unsigned long long)((now - w->beat_seen) / 1000000));
			e->stuck++;
			worker_out(a, q, SIGKILL);
		} else if (w->state == ENG_W_RUNNING && now - w->since > ENG_BIND_NS) {
			w->streak = 0;
		}
		all &= w->state == ENG_W_RUNNING;
	}
	if (all != e->up)
		conf_write(a, all);
}

__u64 engine_deadline(const struct agent *a, __u64 next)
{
	__u64 t;

	if (!a->eng || !a->eng->on)
		return next;
	t = mono_ns() + ENG_TICK_NS;
	return t < next ? t : next;
}

void engine_close(struct agent *a, bool flush)
{
	struct engine *e = a->eng;

	if (!e)
		return;
	if (e->on)
		engine_stop(a);
	if (flush)
		links_remove(a, 0);
	if (e->keys)
		munmap(e->keys, KEYS_SIZE);
	if (e->status)
		munmap(e->status, STATUS_SIZE);
	if (e->keys_fd >= 0)
		close(e->keys_fd);
	if (e->status_fd >= 0)
		close(e->status_fd);
	free(e);
	a->eng = NULL;
}

int engine_adopt(struct agent *a)
{
	struct eng_settings set;
	char err[512];
	int ret;

	if (state_engine_load(a, &set, sizeof(set)) || set.magic != ENG_SETTINGS_MAGIC ||
	    set.workers > IPSECIF_ENG_MAX_WORKERS || set.n_cpus > IPSECIF_ENG_MAX_WORKERS)
		set = (struct eng_settings){ .on = 0 };
	ret = engine_alloc(a);
	if (ret)
		return ret;
	if (!set.on) {
		links_remove(a, 0);	/* an earlier agent's, if it left any */
		return 0;
	}
	a->eng->set = set;
	ret = engine_start(a, err, sizeof(err));
	if (ret)
		logmsg(LOG_ERR, "engine: %s (BPF ciphers everything)", err);
	return ret;
}

int engine_cmd(struct agent *a, const struct ifcmd *c, bool json, char *out, size_t len)
{
	struct eng_settings was;
	struct engine *e;
	char err[512];
	int ret, k;

	out[0] = 0;
	if (c->engine == IFCMD_ENGINE_SHOW)
		return show_engine(a, json, out, len);
	a->writes = false;
	ret = engine_alloc(a);
	if (ret)
		return errmsg(out, len, ret, "ipsecif-agent: out of memory\n");
	e = a->eng;
	was = e->set;
	switch (c->engine) {
	case IFCMD_ENGINE_ON:
		e->set.on = 1;
		e->set.workers = c->eng_workers;
		e->set.n_cpus = c->eng_n_cpus;
		for (k = 0; k < c->eng_n_cpus; k++)
			e->set.cpus[k] = c->eng_cpus[k];
		ret = engine_start(a, err, sizeof(err));
		if (ret) {
			e->set = was;
			return errmsg(out, len, ret, "ipsecif-agent: engine: %s\n", err);
		}
		break;
	case IFCMD_ENGINE_OFF:
		e->set.on = 0;
		if (e->on)
			engine_stop(a);
		break;
	case IFCMD_ENGINE_MIN:
		e->set.min_text[c->eng_suite] = c->eng_min;
		if (e->on)
			conf_write(a, e->up);
		break;
	default:
		return errmsg(out, len, -EINVAL, "ipsecif-agent: engine: no such command\n");
	}
	/* For an agent that adopts this one's data path (engine_adopt). */
	ret = state_engine_save(a, &e->set, sizeof(e->set));
	if (ret)
		logmsg(LOG_WARNING, "engine: its settings not saved: %s", strerror(-ret));
	return 0;
}
