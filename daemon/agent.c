// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecif-agent: owns the BPF objects of one network namespace and serves
 * ipsecifctl on a control socket.
 *
 *   ipsecif-agent start [-f] [-v] [--config FILE]
 *                                     start (returns once ready; -f: stay in front)
 *   ipsecif-agent status [-j]         is it running, and what does it hold
 *   ipsecif-agent stop [--flush]      stop; the data path keeps running unless --flush
 *
 * One agent per network namespace.  Its control socket is in the abstract
 * namespace, which is per network namespace, so ipsecifctl finds the
 * agent of the namespace it runs in.  Its pins are under
 * /run/ipsecif/bpf/net-INODE, a bpffs it mounts if needed: /run, unlike
 * /sys, is not remounted by "ip netns exec", so bpftool reaches the maps
 * from any shell.  The pin folder is also its lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <stddef.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "agent.h"
#include "ctl.h"
#include "errmsg.h"
#include "ifcmd.h"
#include "mtu.h"
#include "netdev.h"
#include "table.h"
#include "keys.h"
#include "setkey.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_link.h>

#define BPF_FS_MAGIC	0xcafe4a11
#define RUN_DIR		"/run/ipsecif"
#define BPFFS_DIR	RUN_DIR "/bpf"

#define MAX_XDP_DEVS 16
#define MAX_SUBSCRIBERS	8	/* key managers listening for events */
#define MAX_SPI_HOLDS	256	/* SPIs handed out, not yet added */
#define MAX_LINGER	64	/* outbound SAs deleted, still in sa_out */
/*
 * How long the last outbound SA of a reqid, deleted by the key manager,
 * still carries traffic unless a new one comes: charon 5.9.8's
 * make-before-break reauthentication deletes the old IKE_SA's CHILD_SAs a
 * moment before it installs the new ones, and the peer, which has the
 * new and the old inbound SA by then, would see a gap.
 */
#define LINGER_NS	(500 * 1000000ULL)

#define MAX_GRAVES	1024	/* SAs out of the maps, their slots kept a moment */
/*
 * How long the slots of an SA taken out of the maps (key, counters,
 * replay window) outlive it: a program that found the SA a moment before
 * may still be sealing or opening with them, and a hash map hands a
 * deleted element to its next insert at once, so a new SA's key or
 * counter could otherwise be written under that packet.  A program run
 * takes microseconds.
 */
#define GRAVE_NS	(100 * 1000000ULL)

/* A deleted SA's slots, freed from until on. */
struct grave {
	__u32 id;
	__u64 until;		/* CLOCK_MONOTONIC ns */
};

/* A deleted outbound SA still in sa_out[reqid], its key kept, until. */
struct out_linger {
	__u32 reqid, id;
	__u64 until;		/* CLOCK_MONOTONIC ns */
};

/* An SPI given to a key manager, kept from others until it adds the SA. */
struct spi_hold {
	__u32 spi;
	__u64 until;		/* CLOCK_MONOTONIC ns */
};

struct agent {
	struct ipsecif *skel;
	struct table t;
	__u32 next_sa_id;		/* SA ids (key slots) are never reused in a run */
	int xdp_devs[MAX_XDP_DEVS];	/* where xdp_esp_in is attached */
	struct bpf_link *xdp_links[MAX_XDP_DEVS];	/* pinned as link_xdp_IFINDEX */
	int n_xdp;
	int lan_devs[MAX_XDP_DEVS];	/* where xdp_lan is attached ("lan add DEV") */
	struct bpf_link *lan_links[MAX_XDP_DEVS];	/* pinned as link_lan_IFINDEX */
	int n_lan;
	char pin_dir[128];
	int lock_fd;
	int sock;
	int stop_fd;			/* the "stop" client, answered once torn down */
	struct ring_buffer *events;	/* the data path's events */
	int subs[MAX_SUBSCRIBERS];	/* CTL_REQ_EVENTS connections */
	int n_subs;
	struct spi_hold holds[MAX_SPI_HOLDS];
	int n_holds;
	struct out_linger lingers[MAX_LINGER];
	int n_lingers;
	struct grave graves[MAX_GRAVES];
	int n_graves;
	bool dirty;			/* tables changed outside a request: save them */
	__u64 next_mtu_check;		/* mono_ns() of mtu_tick's next look */
	bool verbose, foreground, stop, flush;
};

static void sa_resync(struct agent *a);
static void sa_unmap(struct agent *a, const struct table_sa *t);
static void linger_end(struct agent *a, __u32 reqid, bool unmap);
static void hold_end(struct agent *a, __u32 reqid);
static void xdp_release_unused(struct agent *a);
static int xdp_attach(struct agent *a, struct bpf_program *prog, const char *kind, int idx,
		      struct bpf_link **out);
static int mtu_refresh(struct agent *a, const struct table_iface *f, int mtu);

/* CLOCK_MONOTONIC in ns: whole seconds would age an SA by a second at once. */
static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool use_syslog;
static bool verbose;

static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !verbose)
		return;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "ipsecif-agent: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs fs;

	return !statfs(path, &fs) && fs.f_type == BPF_FS_MAGIC;
}

/*
 * Mount the bpffs in the first mount namespace, from a child that joins
 * it: "ip netns exec" runs us in a mount namespace of its own, whose
 * mounts die with it, but which receives the first one's (it is a slave).
 */
static int mount_in_init_ns(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, CLONE_NEWNS))
			_exit(1);
		mkdir(RUN_DIR, 0700);
		mkdir(BPFFS_DIR, 0700);
		_exit(is_bpffs(BPFFS_DIR) || !mount("bpf", BPFFS_DIR, "bpf", 0, "mode=0700") ?
		      0 : 1);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EPERM;
}

/* A bpffs at BPFFS_DIR that every mount namespace sees. */
static int bpffs_ready(char *err, size_t errlen)
{
	int ret;

	if (is_bpffs(BPFFS_DIR))
		return 0;
	ret = mount_in_init_ns();
	if (!ret && is_bpffs(BPFFS_DIR))
		return 0;
	/* A private mount namespace: mount it here, seen from here only. */
	logmsg(LOG_WARNING, "%s: mounting %s in this mount namespace only", __func__, BPFFS_DIR);
	ret = mkdir_p(RUN_DIR, 0700);
	if (!ret)
		ret = mkdir_p(BPFFS_DIR, 0700);
	if (ret)
		return errmsg(err, errlen, ret, "%s: %s", BPFFS_DIR, strerror(-ret));
	if (mount("bpf", BPFFS_DIR, "bpf", 0, "mode=0700"))
		return errmsg(err, errlen, -errno, "mounting a bpffs on %s: %s", BPFFS_DIR,
			      strerror(errno));
	return 0;
}

/* The pin folder, locked: a second agent in the namespace is refused. */
static int pin_dir_lock(struct agent *a, char *err, size_t errlen)
{
	unsigned long ino;
	int ret = agent_ns_id(&ino);

	if (ret)
		return errmsg(err, errlen, ret, "which network namespace: %s", strerror(-ret));
	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s/net-%lu", BPFFS_DIR, ino);
	ret = mkdir_p(a->pin_dir, 0700);
	if (ret)
		return errmsg(err, errlen, ret, "%s: %s", a->pin_dir, strerror(-ret));
	a->lock_fd = open(a->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->lock_fd < 0)
		return errmsg(err, errlen, -errno, "%s: %s", a->pin_dir, strerror(errno));
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		close(a->lock_fd);
		a->lock_fd = -1;
		if (ret == -EWOULDBLOCK)
			return errmsg(err, errlen, -EALREADY,
				      "an agent is already running in this network namespace");
		return errmsg(err, errlen, ret, "locking %s: %s", a->pin_dir, strerror(-ret));
	}
	return 0;
}

/* Load the BPF object, its maps pinned (and adopted when already pinned). */
static int bpf_ready(struct agent *a, char *err, size_t errlen)
{
	struct bpf_program *p;
	struct bpf_map *m;
	char path[256];
	int ret;

	a->skel = ipsecif__open();
	if (!a->skel)
		return errmsg(err, errlen, -errno, "opening the BPF object: %s", strerror(errno));
	bpf_object__for_each_map(m, a->skel->obj) {
		const char *name = bpf_map__name(m);

		/* Global data and per-CPU scratch are private to this load. */
		if (strchr(name, '.') || strstr(name, "scratch") || strstr(name, "state") ||
		    strstr(name, "keystream") || strstr(name, "params") || strstr(name, "test"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->pin_dir, name);
		ret = bpf_map__set_pin_path(m, path);
		if (ret)
			return errmsg(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	ret = ipsecif__load(a->skel);
	if (ret)
		return errmsg(err, errlen, ret, "loading the BPF programs: %s", strerror(-ret));
	/* This load's programs, for bpftool; an earlier agent's pins give way. */
	bpf_object__for_each_program(p, a->skel->obj) {
		snprintf(path, sizeof(path), "%s/prog_%s", a->pin_dir, bpf_program__name(p));
		unlink(path);
		ret = bpf_program__pin(p, path);
		if (ret)
			return errmsg(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	return 0;
}

static void unpin_programs(struct agent *a)
{
	struct bpf_program *p;
	char path[256];

	bpf_object__for_each_program(p, a->skel->obj) {
		snprintf(path, sizeof(path), "%s/prog_%s", a->pin_dir, bpf_program__name(p));
		unlink(path);
	}
}

static int sock_ready(struct agent *a, char *err, size_t errlen)
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

static void status_text(struct agent *a, bool json, char *buf, size_t len)
{
	if (json)
		snprintf(buf, len, "{\"running\": true, \"pid\": %d, \"pin_dir\": \"%s\", "
			 "\"interfaces\": %zu, \"sas\": %zu}\n", (int)getpid(), a->pin_dir,
			 a->t.n_ifaces, a->t.n_sas);
	else
		snprintf(buf, len, "running, pid %d, pins in %s, %zu interfaces, %zu SAs\n",
			 (int)getpid(), a->pin_dir, a->t.n_ifaces, a->t.n_sas);
}

/* The suite with the largest overhead: the MTU's assumption while no SA says. */
#define WORST_ENC	IPSECIF_ENC_AES_CBC
#define WORST_AUTH	IPSECIF_AUTH_HMAC_SHA256_128

/* ipsecN's default MTU: a 1500-byte underlay, the worst suite, IPv6 and NAT-T. */
static int default_mtu(void)
{
	return ipsecif_inner_mtu(1500, WORST_ENC, WORST_AUTH, AF_INET6, true);
}

static void flag_names(__u32 flags, char *buf, size_t len, bool json)
{
	static const struct {
		__u32 f;
		const char *name;
	} names[] = {
		{ IPSECIF_F_NATT, "link0" }, { IPSECIF_F_ECN, "link1" }, { IPSECIF_F_INET6, "link2" },
		{ IPSECIF_F_XDP_FWD, "xdpfwd" },
	};
	size_t i, n = 0;

	buf[0] = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].f)
			n += snprintf(buf + n, n < len ? len - n : 0, json ? "%s\"%s\"" : "%s%s",
				      n ? "," : "", names[i].name);
}

/* The interface's entries in the maps the data path reads. */
static int iface_sync(struct agent *a, const struct table_iface *f, int mtu)
{
	struct ipsecif_iface v = {};
	char peer[IFNAMSIZ];
	int pidx, fd = bpf_map__fd(a->skel->maps.ifaces);

	if (netdev_peer_name(f->name, peer, sizeof(peer)) ||
	    netdev_info(f->name, (int *)&v.ifindex, v.mac) ||
	    netdev_info(peer, &pidx, v.peer_mac))
		return -ENODEV;
	if (!f->tunnel) {
		bpf_map_delete_elem(fd, &f->reqid);
		return 0;
	}
	v.reqid = f->reqid;
	v.flags = f->flags;
	v.peer_ifindex = pidx;
	v.family = f->family;
	v.mtu = mtu;
	v.src = f->src;
	v.dst = f->dst;
	return bpf_map_update_elem(fd, &f->reqid, &v, BPF_ANY) ? -errno : 0;
}

static int reqid_maps(struct agent *a, const char *name, __u32 reqid, bool add)
{
	int ncpu = libbpf_num_possible_cpus(), idx, fd = bpf_map__fd(a->skel->maps.if_reqid);
	struct ipsecif_stats *zero;
	char peer[IFNAMSIZ];
	__u8 mac[6];
	int ret = 0;

	netdev_peer_name(name, peer, sizeof(peer));
	if (!netdev_info(name, &idx, mac))
		ret |= add ? bpf_map_update_elem(fd, &idx, &reqid, BPF_ANY) :
			     bpf_map_delete_elem(fd, &idx);
	if (!netdev_info(peer, &idx, mac))
		ret |= add ? bpf_map_update_elem(fd, &idx, &reqid, BPF_ANY) :
			     bpf_map_delete_elem(fd, &idx);
	if (!add) {
		bpf_map_delete_elem(bpf_map__fd(a->skel->maps.if_stats), &reqid);
		bpf_map_delete_elem(bpf_map__fd(a->skel->maps.ifaces), &reqid);
		return 0;
	}
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	ret |= bpf_map_update_elem(bpf_map__fd(a->skel->maps.if_stats), &reqid, zero, BPF_NOEXIST) &&
	       errno != EEXIST;
	free(zero);
	return ret ? -EIO : 0;
}

/* tc_esp_out at the TC ingress of ipsecN's peer. */
static int attach_out(struct agent *a, const char *name, char *err, size_t errlen)
{
	char peer[IFNAMSIZ];
	__u8 mac[6];
	int idx, ret;

	netdev_peer_name(name, peer, sizeof(peer));
	if (netdev_info(peer, &idx, mac))
		return errmsg(err, errlen, -ENODEV, "%s: no peer device", name);
	{
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
		/* One fixed filter, replaced in place when a new agent adopts the device. */
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(a->skel->progs.tc_esp_out),
			    .handle = 1, .priority = 1, .flags = BPF_TC_F_REPLACE);

		ret = bpf_tc_hook_create(&hook);
		if (!ret || ret == -EEXIST)
			ret = bpf_tc_attach(&hook, &opts);
	}
	return ret ? errmsg(err, errlen, ret, "%s: attaching to %s: %s", name, peer,
			    strerror(-ret)) : 0;
}

/* enum ipsecif_drop's names, as docs/DATAPATH.md and the JSON spell them. */
static const char *const ipsecif_drop_names[] = {
	"no_sa", "bad_endpoint", "replay", "too_old", "auth", "bad_pad", "bad_next_hdr",
	"dummy", "inner_family", "ecn", "seq_exhausted", "too_big", "malformed", "crypto",
	"no_route", "expired", "fragment", "redirect_failed",
};
_Static_assert(sizeof(ipsecif_drop_names) / sizeof(ipsecif_drop_names[0]) == IPSECIF_DROP_MAX,
	       "a name for every drop reason");

/* The per-CPU sums of one slot of sa_stats or if_stats. */
static void stats_sum(const struct bpf_map *map, __u32 key, struct ipsecif_stats *sum)
{
	int i, j, ncpu = libbpf_num_possible_cpus();
	struct ipsecif_stats *st = ncpu > 0 ? calloc(ncpu, sizeof(*st)) : NULL;

	memset(sum, 0, sizeof(*sum));
	if (st && !bpf_map_lookup_elem(bpf_map__fd(map), &key, st))
		for (i = 0; i < ncpu; i++) {
			sum->packets += st[i].packets;
			sum->bytes += st[i].bytes;
			sum->fast += st[i].fast;
			for (j = 0; j < IPSECIF_DROP_MAX; j++)
				sum->drops[j] += st[i].drops[j];
		}
	free(st);
}

/* ipsecN's SAs and counters, after its ifconfig lines or inside its JSON object. */
static void show_traffic(struct agent *a, const struct table_iface *f, bool json, char *out,
			 size_t len, size_t *n)
{
	struct ipsecif_stats st;
	bool first = true, in;
	size_t i;
	int j;

	*n += snprintf(out + *n, *n < len ? len - *n : 0, json ? ", \"sas\": [" : "");
	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *s = &a->t.sas[i];

		if (table_sa_iface(&a->t, s, &in) != f)
			continue;
		*n += snprintf(out + *n, *n < len ? len - *n : 0,
			       json ? "%s{\"spi\": %u, \"dir\": \"%s\", \"dying\": %s}" :
				      "%s\tsa %u %s%s\n", json && !first ? ", " : "", s->spi,
			       in ? "in" : "out",
			       json ? (s->expired & IPSECIF_SA_EXP_SOFT ? "true" : "false") :
				      (s->expired & IPSECIF_SA_EXP_SOFT ? " dying" : ""));
		first = false;
	}
	stats_sum(a->skel->maps.if_stats, f->reqid, &st);
	*n += snprintf(out + *n, *n < len ? len - *n : 0,
		       json ? "], \"packets\": %llu, \"bytes\": %llu" : "\tpackets %llu bytes %llu",
		       (unsigned long long)st.packets, (unsigned long long)st.bytes);
	/* Of those, on the XDP line-rate path (in text only once there are some). */
	if (json || st.fast)
		*n += snprintf(out + *n, *n < len ? len - *n : 0, json ? ", \"fast\": %llu" :
			       " fast %llu", (unsigned long long)st.fast);
	*n += snprintf(out + *n, *n < len ? len - *n : 0, json ? ", \"drops\": {" : " drops");
	for (j = 0, first = true; j < IPSECIF_DROP_MAX; j++) {
		if (!json && !st.drops[j])
			continue;
		*n += snprintf(out + *n, *n < len ? len - *n : 0, json ? "%s\"%s\": %llu" : "%s%s %llu",
			       json ? (first ? "" : ", ") : " ", ipsecif_drop_names[j],
			       (unsigned long long)st.drops[j]);
		first = false;
	}
	*n += snprintf(out + *n, *n < len ? len - *n : 0, json ? "}" : "%s\n", first ? " 0" : "");
}

/* A device's number from sysfs ("mtu", "flags": decimal or 0x...), or -1. */
static long dev_attr(const char *dev, const char *attr)
{
	char path[96], buf[32];
	long v = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", dev, attr);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	if (fgets(buf, sizeof(buf), fp))
		v = strtol(buf, NULL, 0);
	fclose(fp);
	return v;
}

static void show_one(struct agent *a, const struct table_iface *f, bool json, char *out,
		     size_t len, size_t *n)
{
	char fl[64], s[INET6_ADDRSTRLEN] = "", d[INET6_ADDRSTRLEN] = "", up[8] = "";
	long mtu = dev_attr(f->name, "mtu"), flags = dev_attr(f->name, "flags");

	if (mtu < 0)
		mtu = 0;
	if (flags < 0)
		flags = 0;
	snprintf(up, sizeof(up), "%s", flags & IFF_UP ? "UP" : "DOWN");
	if (f->tunnel) {
		inet_ntop(f->family, &f->src, s, sizeof(s));
		inet_ntop(f->family, &f->dst, d, sizeof(d));
	}
	flag_names(f->flags, fl, sizeof(fl), json);
	if (json)
		*n += snprintf(out + *n, *n < len ? len - *n : 0,
			       "%s{\"name\": \"%s\", \"reqid\": %u, \"up\": %s, \"mtu\": %ld, "
			       "\"flags\": [%s], \"tunnel\": %s%s%s%s%s%s%s",
			       *n > 16 ? ", " : "", f->name, f->reqid, flags & IFF_UP ? "true" : "false",
			       mtu, fl, f->tunnel ? "{\"family\": \"" : "null",
			       f->tunnel ? (f->family == AF_INET ? "inet" : "inet6") : "",
			       f->tunnel ? "\", \"src\": \"" : "", s, f->tunnel ? "\", \"dst\": \"" : "",
			       d, f->tunnel ? "\"}" : "");
	else
		*n += snprintf(out + *n, *n < len ? len - *n : 0,
			       "%s: flags=<%s%s%s> mtu %ld\n\treqid %u\n%s%s%s%s%s%s",
			       f->name, up, fl[0] ? "," : "", fl, mtu, f->reqid,
			       f->tunnel ? "\ttunnel " : "",
			       f->tunnel ? (f->family == AF_INET ? "inet " : "inet6 ") : "", s,
			       f->tunnel ? " --> " : "", d, f->tunnel ? "\n" : "");
	show_traffic(a, f, json, out, len, n);
	if (json)
		*n += snprintf(out + *n, *n < len ? len - *n : 0, "}");
}

/* The LAN devices carrying xdp_lan, as a JSON array or a line of names. */
static size_t show_lan(const struct agent *a, bool json, char *out, size_t len, size_t n)
{
	char dev[IF_NAMESIZE];
	int k;

	if (!json && !a->n_lan)
		return n;
	n += snprintf(out + n, n < len ? len - n : 0, json ? ", \"lan\": [" : "lan:");
	for (k = 0; k < a->n_lan; k++) {
		if (!if_indextoname(a->lan_devs[k], dev))
			snprintf(dev, sizeof(dev), "#%d", a->lan_devs[k]);	/* gone since */
		n += snprintf(out + n, n < len ? len - n : 0, json ? "%s\"%s\"" : "%s%s",
			      json ? (k ? ", " : "") : " ", dev);
	}
	return n + snprintf(out + n, n < len ? len - n : 0, json ? "]" : "\n");
}

static int show(struct agent *a, const char *name, bool json, char *out, size_t len)
{
	size_t i, n = 0;

	if (name[0] && !table_find(&a->t, name))
		return errmsg(out, len, -ENODEV, "ipsecifctl: %s: no such interface\n", name);
	if (json)
		n += snprintf(out, len, "{\"interfaces\": [");
	for (i = 0; i < a->t.n_ifaces; i++)
		if (!name[0] || !strcmp(a->t.ifaces[i].name, name))
			show_one(a, &a->t.ifaces[i], json, out, len, &n);
	if (json)
		n += snprintf(out + n, n < len ? len - n : 0, "]");
	if (json || !name[0])
		n = show_lan(a, json, out, len, n);
	if (json)
		snprintf(out + n, n < len ? len - n : 0, "}\n");
	return 0;
}

static int lan_find(const struct agent *a, int idx)
{
	int k;

	for (k = 0; k < a->n_lan; k++)
		if (a->lan_devs[k] == idx)
			return k;
	return -1;
}

/* LAN device k off the list: its pin goes, and with the last reference the program. */
static void lan_forget(struct agent *a, int k)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/link_lan_%d", a->pin_dir, a->lan_devs[k]);
	unlink(path);
	bpf_link__destroy(a->lan_links[k]);
	a->n_lan--;
	a->lan_devs[k] = a->lan_devs[a->n_lan];
	a->lan_links[k] = a->lan_links[a->n_lan];
}

/* LAN devices that are gone (their XDP program went with them) leave the list. */
static void lan_prune(struct agent *a)
{
	char dev[IF_NAMESIZE];
	int k;

	for (k = a->n_lan; k-- > 0;)
		if (!if_indextoname(a->lan_devs[k], dev)) {
			logmsg(LOG_INFO, "LAN device %d is gone: xdp_lan with it", a->lan_devs[k]);
			lan_forget(a, k);
		}
}

/*
 * lan add|del DEV: xdp_lan, the XDP line-rate path's outbound half, on a
 * LAN-facing device (docs/DATAPATH.md).  A device has one XDP program, so
 * an underlay that carries xdp_esp_in, or ipsecN and its peer, are refused.
 */
static int do_lan(struct agent *a, const struct ifcmd *c, char *out, size_t len)
{
	struct bpf_link *l = NULL;
	unsigned int idx = if_nametoindex(c->lan_dev);
	int k = idx ? lan_find(a, idx) : -1, ret;
	__u32 reqid;

	if (!idx)
		return errmsg(out, len, -ENODEV, "ipsecifctl: %s: no such device\n", c->lan_dev);
	if (c->lan == IFCMD_LAN_DEL) {
		if (k < 0)
			return errmsg(out, len, -ENOENT, "ipsecifctl: %s: not a LAN device "
				      "(lan add)\n", c->lan_dev);
		lan_forget(a, k);
		return 0;
	}
	if (k >= 0)
		return errmsg(out, len, -EEXIST, "ipsecifctl: %s: xdp_lan is on it already\n",
			      c->lan_dev);
	for (k = 0; k < a->n_xdp; k++)
		if (a->xdp_devs[k] == (int)idx)
			return errmsg(out, len, -EBUSY, "ipsecifctl: %s: an underlay device, "
				      "xdp_esp_in is on it\n", c->lan_dev);
	if (!bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.if_reqid), &idx, &reqid))
		return errmsg(out, len, -EINVAL, "ipsecifctl: %s: an ipsecif interface, not a "
			      "LAN device\n", c->lan_dev);
	if (a->n_lan == MAX_XDP_DEVS)
		return errmsg(out, len, -ENOSPC, "ipsecifctl: %s: already %d LAN devices\n",
			      c->lan_dev, MAX_XDP_DEVS);
	ret = xdp_attach(a, a->skel->progs.xdp_lan, "lan", idx, &l);
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: %s: attaching xdp_lan: %s%s\n", c->lan_dev,
			      strerror(-ret), ret == -EBUSY ? " (another XDP program is on it)" : "");
	a->lan_devs[a->n_lan] = idx;
	a->lan_links[a->n_lan++] = l;
	return 0;
}

/*
 * Carry out one ifconfig-style command.  The table's rules are checked on
 * a copy first, so a refused command changes nothing.
 */
static int do_ifcmd(struct agent *a, const struct ctl_req *req, char *out, size_t len)
{
	bool json = req->flags & CTL_F_JSON;
	struct ifcmd c;
	struct table copy;
	struct table_iface *f;
	char err[512];
	int ret, i, mtu;

	out[0] = 0;
	ret = ifcmd_parse(req->argc, (char *const *)req->argv, &c, err, sizeof(err));
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: %s\n", err);
	lan_prune(a);
	if (c.lan)
		return do_lan(a, &c, out, len);
	if (c.show)
		return show(a, c.name, json, out, len);

	/* Rehearse on a copy of the table. */
	copy = a->t;
	copy.ifaces = malloc((a->t.cap_ifaces + 1) * sizeof(*copy.ifaces));
	copy.sas = NULL;
	copy.n_sas = copy.cap_sas = 0;
	if (!copy.ifaces)
		return errmsg(out, len, -ENOMEM, "ipsecif-agent: out of memory\n");
	memcpy(copy.ifaces, a->t.ifaces, a->t.n_ifaces * sizeof(*copy.ifaces));
	copy.cap_ifaces = a->t.cap_ifaces + 1;
	ret = 0;
	if (c.destroy)
		ret = table_destroy(&copy, c.name, err, sizeof(err));
	else if (c.create)
		ret = table_create(&copy, c.name, c.reqid, err, sizeof(err));
	else if (!table_find(&copy, c.name))
		ret = errmsg(err, sizeof(err), -ENODEV, "%s: no such interface", c.name);
	if (!ret && !c.create && c.reqid_set)
		ret = table_set_reqid(&copy, c.name, c.reqid, err, sizeof(err));
	if (!ret && c.tunnel_set)
		ret = table_set_tunnel(&copy, c.name, c.tunnel_family, &c.tunnel_src,
				       &c.tunnel_dst, err, sizeof(err));
	if (!ret && c.tunnel_delete)
		ret = table_delete_tunnel(&copy, c.name, err, sizeof(err));
	if (!ret && (c.flags_set | c.flags_clear))
		ret = table_set_flags(&copy, c.name, c.flags_set, c.flags_clear, err, sizeof(err));
	free(copy.ifaces);
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: %s\n", err);

	/* Now for real: the device first, then the table and the maps. */
	if (c.destroy) {
		f = table_find(&a->t, c.name);
		reqid_maps(a, c.name, f->reqid, false);
		ret = netdev_destroy(c.name, err, sizeof(err));
		table_destroy(&a->t, c.name, NULL, 0);
		sa_resync(a);
		xdp_release_unused(a);
		return ret ? errmsg(out, len, ret, "ipsecif-agent: %s\n", err) : 0;
	}
	if (c.create) {
		ret = netdev_create(c.name, c.mtu_set ? c.mtu : default_mtu(), err, sizeof(err));
		if (!ret)
			ret = attach_out(a, c.name, err, sizeof(err));
		if (ret) {
			netdev_destroy(c.name, NULL, 0);
			return errmsg(out, len, ret, "ipsecif-agent: %s\n", err);
		}
		table_create(&a->t, c.name, c.reqid, NULL, 0);
		reqid_maps(a, c.name, table_find(&a->t, c.name)->reqid, true);
	}
	f = table_find(&a->t, c.name);
	if (!c.create && c.reqid_set && c.reqid != f->reqid) {
		reqid_maps(a, c.name, f->reqid, false);
		table_set_reqid(&a->t, c.name, c.reqid, NULL, 0);
		reqid_maps(a, c.name, c.reqid, true);
	}
	if (c.tunnel_set)
		table_set_tunnel(&a->t, c.name, c.tunnel_family, &c.tunnel_src, &c.tunnel_dst,
				 NULL, 0);
	if (c.tunnel_delete)
		table_delete_tunnel(&a->t, c.name, NULL, 0);
	if (c.flags_set | c.flags_clear)
		table_set_flags(&a->t, c.name, c.flags_set, c.flags_clear, NULL, 0);
	if (c.mtu_set && !c.create) {
		ret = netdev_set_mtu(c.name, c.mtu, err, sizeof(err));
		if (ret)
			return errmsg(out, len, ret, "ipsecif-agent: %s\n", err);
	}
	/*
	 * Up before the addresses: the kernel makes an IPv6 peer's route when
	 * the address is added to a running device, not when it comes up.
	 */
	if ((c.up || c.create) && !c.down) {
		ret = netdev_set_up(c.name, true, err, sizeof(err));
		if (ret)
			return errmsg(out, len, ret, "ipsecif-agent: %s\n", err);
	}
	for (i = 0; i < c.n_addrs; i++) {
		ret = netdev_addr_add(c.name, c.addrs[i].family, &c.addrs[i].addr, c.addrs[i].plen,
				      c.addrs[i].has_peer ? &c.addrs[i].peer : NULL, err, sizeof(err));
		if (ret)
			return errmsg(out, len, ret, "ipsecif-agent: %s\n", err);
	}
	if (c.down) {
		ret = netdev_set_up(c.name, false, err, sizeof(err));
		if (ret)
			return errmsg(out, len, ret, "ipsecif-agent: %s\n", err);
	}
	f = table_find(&a->t, c.name);
	if (c.mtu_set)
		f->mtu_user = true;
	mtu = c.mtu_set ? c.mtu : dev_attr(c.name, "mtu");
	ret = mtu_refresh(a, f, mtu > 0 ? mtu : default_mtu());
	if (ret)
		return errmsg(out, len, ret, "ipsecif-agent: %s: the data path's maps: %s\n",
			      c.name, strerror(-ret));
	sa_resync(a);	/* SAs waiting for this interface, or leaving it */
	if (c.tunnel_set || c.tunnel_delete)
		xdp_release_unused(a);
	out[0] = 0;
	return 0;
}

/*
 * An XDP program onto device idx through a bpf_link pinned as
 * link_KIND_IDX: it outlives the agent, and a new agent swaps its own
 * program in atomically (bpf_link_update), so no packet meets a device
 * without one.
 */
static int xdp_attach(struct agent *a, struct bpf_program *prog, const char *kind, int idx,
		      struct bpf_link **out)
{
	struct bpf_link *l;
	char path[256];
	int ret;

	snprintf(path, sizeof(path), "%s/link_%s_%d", a->pin_dir, kind, idx);
	l = bpf_link__open(path);
	if (l) {
		ret = bpf_link__update_program(l, prog);
	} else {
		l = bpf_program__attach_xdp(prog, idx);
		ret = l ? bpf_link__pin(l, path) : -errno;
	}
	if (ret) {
		logmsg(LOG_WARNING, "%s: %s on ifindex %d: %s", __func__, bpf_program__name(prog), idx,
		       strerror(-ret));
		bpf_link__destroy(l);
		return ret;
	}
	*out = l;
	return 0;
}

/* xdp_esp_in onto device k of xdp_devs, which holds a tunnel's local address. */
static int xdp_attach_in(struct agent *a, int k)
{
	return xdp_attach(a, a->skel->progs.xdp_esp_in, "xdp", a->xdp_devs[k], &a->xdp_links[k]);
}

/* The ifindex of the device in the list ifa holding the tunnel's source address, or 0. */
static int tunnel_dev_in(struct ifaddrs *ifa, const struct table_iface *f)
{
	struct ifaddrs *i;

	for (i = ifa; f->tunnel && i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != f->family)
			continue;
		if (f->family == AF_INET ?
		    !memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, &f->src, 4) :
		    !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, &f->src, 16))
			return if_nametoindex(i->ifa_name);
	}
	return 0;
}

/* The ifindex of the device holding the tunnel's source address, or 0. */
static int tunnel_dev(const struct table_iface *f)
{
	struct ifaddrs *ifa;
	int idx;

	if (!f->tunnel || getifaddrs(&ifa))
		return 0;
	idx = tunnel_dev_in(ifa, f);
	freeifaddrs(ifa);
	return idx;
}

/*
 * ipsecN's MTU unless "mtu N" fixed it: what the underlay device's MTU
 * leaves after the outbound SA's overhead (the worst suite while there is
 * none), with NAT-T's 8 bytes under link0 or for an outbound SA in UDP,
 * so that no ESP packet is fragmented (RFC 4459 §3).  A 1500-byte underlay while there is no tunnel.
 */
static int auto_mtu_in(struct agent *a, const struct table_iface *f, struct ifaddrs *ifa)
{
	enum ipsecif_enc enc = WORST_ENC;
	enum ipsecif_auth auth = WORST_AUTH;
	int idx = ifa ? tunnel_dev_in(ifa, f) : 0, mtu;
	char name[IF_NAMESIZE];
	long ul = idx && if_indextoname(idx, name) ? dev_attr(name, "mtu") : -1;
	bool natt = f->flags & IPSECIF_F_NATT;
	size_t i;
	bool in;

	if (ul <= 0)
		ul = 1500;
	for (i = 0; i < a->t.n_sas; i++)
		if (table_sa_iface(&a->t, &a->t.sas[i], &in) == f && !in) {
			enc = a->t.sas[i].enc;
			auth = a->t.sas[i].auth;
			/* A key manager's NAT-T SA (RFC 3948) without link0. */
			natt |= a->t.sas[i].flags & IPSECIF_SA_F_NATT;
		}
	mtu = ipsecif_inner_mtu(ul, enc, auth, f->tunnel ? f->family : AF_INET6, natt);
	if (mtu < 0)
		return IPSECIF_MTU_MIN;	/* -ERANGE: the least the BSDs allow */
	return mtu > 8192 ? 8192 : mtu;
}

static int auto_mtu(struct agent *a, const struct table_iface *f)
{
	struct ifaddrs *ifa = NULL;
	int mtu;

	if (f->tunnel && getifaddrs(&ifa))
		ifa = NULL;
	mtu = auto_mtu_in(a, f, ifa);
	if (ifa)
		freeifaddrs(ifa);
	return mtu;
}

/* Set ipsecN's MTU (automatic unless fixed) on the device and in the maps. */
static int mtu_refresh(struct agent *a, const struct table_iface *f, int mtu)
{
	if (!f->mtu_user) {
		mtu = auto_mtu(a, f);
		netdev_set_mtu(f->name, mtu, NULL, 0);
	}
	return iface_sync(a, f, mtu);
}

static void attach_in(struct agent *a, const struct table_iface *f)
{
	int idx = tunnel_dev(f), k;

	if (!idx)
		return;
	for (k = 0; k < a->n_xdp; k++)
		if (a->xdp_devs[k] == idx)
			return;
	if (lan_find(a, idx) >= 0) {
		logmsg(LOG_WARNING, "ifindex %d holds %s's local address and carries xdp_lan: "
		       "no xdp_esp_in there (lan del it)", idx, f->name);
		return;
	}
	if (a->n_xdp == MAX_XDP_DEVS)
		return;
	a->xdp_devs[a->n_xdp] = idx;
	if (!xdp_attach_in(a, a->n_xdp))
		a->n_xdp++;
}

/* What the data path reads of a table SA (its counters are in sa_ctr). */
static void sa_value(const struct table_sa *t, struct ipsecif_sa *v)
{
	*v = (struct ipsecif_sa){ .id = t->id, .spi = htonl(t->spi), .reqid = t->reqid,
				  .flags = t->flags, .family = t->family,
				  .sport = htons(t->sport), .dport = htons(t->dport),
				  .src = t->src, .dst = t->dst, .soft_bytes = t->soft_bytes,
				  .hard_bytes = t->hard_bytes, .soft_packets = t->soft_packets,
				  .hard_packets = t->hard_packets };
}

/*
 * The outbound SA that carries a reqid's traffic, or NULL: the newest
 * active one, except one still held back (not_before) while an older
 * one can carry on.
 */
static const struct table_sa *out_for(const struct agent *a, __u32 reqid)
{
	const struct table_sa *best = NULL, *held = NULL;
	__u64 now = mono_ns();
	size_t i;
	bool in;

	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *o = &a->t.sas[i];

		if (o->reqid != reqid || !table_sa_iface(&a->t, o, &in) || in)
			continue;
		if (o->not_before > now) {
			if (!held || o->id > held->id)
				held = o;
		} else if (!best || o->id > best->id) {
			best = o;
		}
	}
	return best ? best : held;
}

/*
 * Put t into sa_out[reqid] (one map update: the switch is atomic).  The
 * SA it displaces keeps its sequence number in sa_ctr, should it come
 * back (its newer one deleted): never a number twice.
 */
static void sa_out_switch(struct agent *a, const struct table_sa *t)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa v, cur;

	if (!bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == t->id)
		return;
	sa_value(t, &v);
	bpf_map_update_elem(out_fd, &t->reqid, &v, BPF_ANY);
	linger_end(a, t->reqid, false);
}

static void sa_key(const struct table_sa *t, struct ipsecif_sa_key *k)
{
	*k = (struct ipsecif_sa_key){ .spi = htonl(t->spi), .family = t->family, .dst = t->dst };
}

/*
 * xdp_esp_in off the devices from which no interface's tunnel starts any
 * more (its interfaces destroyed or moved): such a device is left as it
 * was before, free for another XDP program, its pinned link gone.
 */
static void xdp_release_unused(struct agent *a)
{
	bool used[MAX_XDP_DEVS] = {};
	struct ifaddrs *ifa;
	size_t i;
	int k, idx;

	if (!a->n_xdp || getifaddrs(&ifa))
		return;		/* nothing attached, or nothing known: keep all */
	for (i = 0; i < a->t.n_ifaces; i++) {
		idx = tunnel_dev_in(ifa, &a->t.ifaces[i]);
		for (k = 0; idx && k < a->n_xdp; k++)
			used[k] |= a->xdp_devs[k] == idx;
	}
	freeifaddrs(ifa);
	for (k = a->n_xdp; k-- > 0;) {
		if (used[k])
			continue;
		if (a->xdp_links[k])
			bpf_link__unpin(a->xdp_links[k]);
		bpf_link__destroy(a->xdp_links[k]);	/* the last reference: detached */
		/* The last one (kept: it was looked at first) takes its place. */
		a->n_xdp--;
		a->xdp_devs[k] = a->xdp_devs[a->n_xdp];
		a->xdp_links[k] = a->xdp_links[a->n_xdp];
		used[k] = true;
	}
}

/*
 * Make the SA maps say what the table says: active SAs in sa_in/sa_out
 * with replay state and counters, inactive ones out of them.
 */
static void sa_resync(struct agent *a)
{
	int ncpu = libbpf_num_possible_cpus();
	int in_fd = bpf_map__fd(a->skel->maps.sa_in);
	struct ipsecif_stats *zero = calloc(ncpu, sizeof(*zero));
	const struct ipsecif_sa_ctr ctr0 = {};
	size_t i;

	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *t = &a->t.sas[i];
		struct ipsecif_sa v, cur;
		struct ipsecif_sa_key k;
		bool inbound;
		const struct table_iface *f = table_sa_iface(&a->t, t, &inbound);

		sa_value(t, &v);
		sa_key(t, &k);
		if (!f) {
			sa_unmap(a, t);
			continue;
		}
		/* Created once; the data path alone writes it (struct ipsecif_sa_ctr). */
		bpf_map_update_elem(bpf_map__fd(a->skel->maps.sa_ctr), &t->id, &ctr0, BPF_NOEXIST);
		if (zero)
			bpf_map_update_elem(bpf_map__fd(a->skel->maps.sa_stats), &t->id, zero,
					    BPF_NOEXIST);
		if (inbound) {
			struct ipsecif_replay r = { .window = t->replay };

			bpf_map_update_elem(bpf_map__fd(a->skel->maps.replay), &t->id, &r, BPF_NOEXIST);
			if (bpf_map_lookup_elem(in_fd, &k, &cur) || cur.id != t->id)
				bpf_map_update_elem(in_fd, &k, &v, BPF_ANY);
		} else if (out_for(a, t->reqid) == t) {
			sa_out_switch(a, t);
		}
		attach_in(a, f);
	}
	free(zero);
}

/* The programs and map that install and remove keys. */
static struct ipsecif_keyring keyring(const struct agent *a)
{
	return (struct ipsecif_keyring){
		.install_fd = bpf_program__fd(a->skel->progs.key_install),
		.derive_fd = bpf_program__fd(a->skel->progs.key_derive),
		.keys_fd = bpf_map__fd(a->skel->maps.keys),
	};
}

/* Take an SA out of the maps, if the entry there is still this SA. */
static void sa_unmap(struct agent *a, const struct table_sa *t)
{
	int in_fd = bpf_map__fd(a->skel->maps.sa_in), out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa_key k;
	struct ipsecif_sa cur;

	sa_key(t, &k);
	if (!bpf_map_lookup_elem(in_fd, &k, &cur) && cur.id == t->id)
		bpf_map_delete_elem(in_fd, &k);
	if (!bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == t->id)
		bpf_map_delete_elem(out_fd, &t->reqid);
}

/* An SA's slots: replay state, counters, key. */
static void sa_slots_remove(struct agent *a, __u32 id)
{
	struct ipsecif_keyring kr = keyring(a);

	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.replay), &id);
	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.sa_stats), &id);
	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.sa_ctr), &id);
	ipsecif_key_remove(&kr, id);
}

/* An SA's slots, once it has left the maps: removed GRAVE_NS later. */
static void sa_slots_free(struct agent *a, __u32 id)
{
	if (a->n_graves == MAX_GRAVES) {
		sa_slots_remove(a, id);	/* a burst of deletes: now, not never */
		return;
	}
	a->graves[a->n_graves++] = (struct grave){ id, mono_ns() + GRAVE_NS };
}

/* Remove the slots whose time has come (all: every one, now). */
static void graves_end(struct agent *a, bool all)
{
	__u64 now = mono_ns();
	int k;

	for (k = a->n_graves; k-- > 0;) {
		if (!all && a->graves[k].until > now)
			continue;
		sa_slots_remove(a, a->graves[k].id);
		a->graves[k] = a->graves[--a->n_graves];
	}
}

/*
 * End a reqid's lingering outbound SA (reqid 0: those whose time is up):
 * out of sa_out unless replaced (unmap), then its slots.
 */
static void linger_end(struct agent *a, __u32 reqid, bool unmap)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	__u64 now = mono_ns();
	struct ipsecif_sa cur;
	int k;

	for (k = a->n_lingers; k-- > 0;) {
		struct out_linger l = a->lingers[k];

		if (reqid ? l.reqid != reqid : l.until > now)
			continue;
		if (unmap && !bpf_map_lookup_elem(out_fd, &l.reqid, &cur) && cur.id == l.id)
			bpf_map_delete_elem(out_fd, &l.reqid);
		sa_slots_free(a, l.id);
		a->lingers[k] = a->lingers[--a->n_lingers];
	}
}

/*
 * Forget table SA i.  linger: a key manager's delete, where the last
 * outbound SA of a reqid stays in sa_out for LINGER_NS unless a new one
 * replaces it; never for a hard expiry or a manual delete.
 */
static void sa_forget_linger(struct agent *a, size_t i, bool linger)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct table_sa t = a->t.sas[i];
	const struct table_sa *next;
	struct ipsecif_sa cur;

	table_sa_delete(&a->t, t.spi, t.family, &t.dst, NULL, 0);
	/*
	 * Out of the maps first, then the key.  A deleted outbound SA gives
	 * sa_out[reqid] to the newest one left in the same map update, so
	 * that no packet finds none between.
	 */
	next = out_for(a, t.reqid);
	if (next)
		sa_out_switch(a, next);
	else if (linger && a->n_lingers < MAX_LINGER &&
		 !bpf_map_lookup_elem(out_fd, &t.reqid, &cur) && cur.id == t.id) {
		a->lingers[a->n_lingers++] = (struct out_linger){ t.reqid, t.id,
							      mono_ns() + LINGER_NS };
		sa_resync(a);
		return;
	}
	sa_unmap(a, &t);
	sa_resync(a);
	sa_slots_free(a, t.id);
}

static void sa_forget(struct agent *a, size_t i)
{
	sa_forget_linger(a, i, false);
}

/* One SA as setkey -D shows it, or as a JSON object; returns the new length. */
static size_t sa_show(struct agent *a, const struct table_sa *s, bool json, bool first,
		      char *out, size_t len, size_t n)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	struct ipsecif_stats st;
	unsigned long long packets, bytes;
	bool in;
	const char *state = table_sa_iface(&a->t, s, &in) ? "active" : "inactive";
	bool dying = s->expired & IPSECIF_SA_EXP_SOFT;
	__u64 age = (mono_ns() - s->added) / 1000000000ULL;

	inet_ntop(s->family, &s->src, src, sizeof(src));
	inet_ntop(s->family, &s->dst, dst, sizeof(dst));
	stats_sum(a->skel->maps.sa_stats, s->id, &st);
	packets = st.packets;
	bytes = st.bytes;
	if (json)
		return n + snprintf(out + n, n < len ? len - n : 0,
				    "%s{\"src\": \"%s\", \"dst\": \"%s\", \"proto\": \"esp\", "
				    "\"mode\": \"tunnel\", \"spi\": %u, \"reqid\": %u, "
				    "\"state\": \"%s\", \"replay\": %u, \"esn\": %s, "
				    "\"natt\": [%u, %u], \"packets\": %llu, \"bytes\": %llu, "
				    "\"soft_bytes\": %llu, \"hard_bytes\": %llu, \"soft_time\": %llu, "
				    "\"hard_time\": %llu, \"age\": %llu, \"dying\": %s}",
				    first ? "" : ", ", src, dst, s->spi, s->reqid, state, s->replay,
				    s->flags & IPSECIF_SA_F_ESN ? "true" : "false", s->sport, s->dport,
				    (unsigned long long)packets, (unsigned long long)bytes,
				    (unsigned long long)s->soft_bytes,
				    (unsigned long long)s->hard_bytes,
				    (unsigned long long)s->soft_time, (unsigned long long)s->hard_time,
				    (unsigned long long)age, dying ? "true" : "false");
	return n + snprintf(out + n, n < len ? len - n : 0,
			    "%s %s\n\tesp mode=tunnel spi=%u(0x%08x) reqid=%u %s%s\n"
			    "\treplay=%u esn=%s natt=%u/%u soft=%llu(bytes) hard=%llu(bytes)\n"
			    "\tsoft=%llu(s) hard=%llu(s) age=%llu(s)\n"
			    "\tcurrent: bytes=%llu packets=%llu\n",
			    src, dst, s->spi, s->spi, s->reqid, state, dying ? " dying" : "",
			    s->replay, s->flags & IPSECIF_SA_F_ESN ? "on" : "off", s->sport, s->dport,
			    (unsigned long long)s->soft_bytes, (unsigned long long)s->hard_bytes,
			    (unsigned long long)s->soft_time, (unsigned long long)s->hard_time,
			    (unsigned long long)age,
			    (unsigned long long)bytes, (unsigned long long)packets);
}

/* One of an interface's policies, as setkey -DP shows it, or as JSON. */
static size_t policy_show(const struct table_policy *p, bool json, bool first,
			  char *out, size_t len, size_t n)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	const char *inner = p->inner_family == AF_INET ? "ipv4" : "ipv6";
	const char *dir = p->dir == POLICY_OUT ? "out" : "in";
	const char *action = p->discard ? "discard" : "ipsec";

	inet_ntop(p->iface->family, &p->src, src, sizeof(src));
	inet_ntop(p->iface->family, &p->dst, dst, sizeof(dst));
	if (json)
		return n + snprintf(out + n, n < len ? len - n : 0,
				    "%s{\"src\": \"%s\", \"dst\": \"%s\", \"inner\": \"%s\", "
				    "\"dir\": \"%s\", \"action\": \"%s\", \"reqid\": %u, "
				    "\"interface\": \"%s\"}", first ? "" : ", ", src, dst, inner, dir,
				    action, p->iface->reqid, p->iface->name);
	return n + snprintf(out + n, n < len ? len - n : 0,
			    "%s %s %s -P %s %s esp/tunnel/%s-%s/unique:%u (%s)\n", src, dst, inner,
			    dir, action, src, dst, p->iface->reqid, p->iface->name);
}

/* After SAs came or went: the maps, and the MTUs their suites imply. */
static void sas_changed(struct agent *a)
{
	size_t i;

	sa_resync(a);
	for (i = 0; i < a->t.n_ifaces; i++)
		if (a->t.ifaces[i].tunnel && !a->t.ifaces[i].mtu_user)
			mtu_refresh(a, &a->t.ifaces[i], 0);	/* the outbound suite decides */
}

static int do_setkey(struct agent *a, const struct ctl_req *req, char *out, size_t len)
{
	struct ipsecif_keyring kr = keyring(a);
	bool json = req->flags & CTL_F_JSON, first;
	struct setkey_script sc;
	char err[512], addr[INET6_ADDRSTRLEN];
	size_t i, j, n = 0;
	int ret;

	out[0] = 0;
	ret = setkey_parse(req->text, req->len, &sc, err, sizeof(err));
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: setkey: %s\n", err);
	if (json && (sc.n != 1 || (sc.cmds[0].op != SETKEY_DUMP && sc.cmds[0].op != SETKEY_GET &&
				   sc.cmds[0].op != SETKEY_SPDDUMP))) {
		ret = errmsg(out, len, -EINVAL, "ipsecifctl: setkey: -j shows one dump, get or "
			     "spddump, alone\n");
		goto done;
	}
	if (json)
		n = snprintf(out, len, "{\"%s\": [", sc.cmds[0].op == SETKEY_SPDDUMP ?
			     "policies" : "sas");
	/* Rehearse: an SA that exists, or comes twice, refuses the whole script. */
	for (i = 0; i < sc.n; i++) {
		const struct setkey_cmd *c = &sc.cmds[i];
		bool dup = false;

		if (c->op != SETKEY_ADD)
			continue;
		for (j = 0; j < a->t.n_sas && !dup; j++)
			dup = a->t.sas[j].spi == c->spi && a->t.sas[j].family == c->family &&
			      !memcmp(&a->t.sas[j].dst, &c->dst, sizeof(c->dst));
		for (j = 0; j < i && !dup; j++)
			dup = sc.cmds[j].op == SETKEY_ADD && sc.cmds[j].spi == c->spi &&
			      sc.cmds[j].family == c->family &&
			      !memcmp(&sc.cmds[j].dst, &c->dst, sizeof(c->dst));
		if (dup) {
			ret = errmsg(out, len, -EEXIST, "ipsecifctl: setkey: line %d: SA %u to %s "
				     "exists\n", c->line, c->spi,
				     inet_ntop(c->family, &c->dst, addr, sizeof(addr)) ?: "?");
			goto done;
		}
	}
	for (i = 0; i < sc.n; i++) {
		const struct setkey_cmd *c = &sc.cmds[i];
		struct ipsecif_key_params p = {
			.enc = c->enc, .auth = c->auth, .enc_key = c->enc_key,
			.enc_key_len = c->enc_key_len,
			.auth_key = c->auth_key_len ? c->auth_key : NULL,
			.auth_key_len = c->auth_key_len, .allow_no_auth = true,
		};
		struct table_sa t = { .spi = c->spi, .family = c->family, .src = c->src,
				      .dst = c->dst, .reqid = c->reqid,
				      .flags = (c->esn ? IPSECIF_SA_F_ESN : 0) |
					       (c->natt ? IPSECIF_SA_F_NATT : 0),
				      .replay = c->replay_set ? c->replay :
						IPSECIF_REPLAY_WINDOW_DEFAULT,
				      /* RFC 3948 §2.1: port 4500 unless given */
				      .sport = c->natt ? (c->sport ?: IPSECIF_NATT_PORT) : 0,
				      .dport = c->natt ? (c->dport ?: IPSECIF_NATT_PORT) : 0,
				      .soft_bytes = c->soft_bytes, .hard_bytes = c->hard_bytes,
				      .soft_time = c->soft_time, .hard_time = c->hard_time,
				      .added = mono_ns(), .enc = c->enc, .auth = c->auth };

		switch (c->op) {
		case SETKEY_ADD:
			t.id = ++a->next_sa_id;
			ret = ipsecif_key_install(&kr, t.id, &p, err, sizeof(err));
			if (!ret)
				ret = table_sa_add(&a->t, &t, err, sizeof(err));
			if (ret) {
				ipsecif_key_remove(&kr, t.id);
				ret = errmsg(out, len, ret, "ipsecifctl: setkey: line %d: %s\n",
					     c->line, err);
				goto done;
			}
			if (ipsecif_key_insecure(&p))
				n += snprintf(out + n, n < len ? len - n : 0,
					      "warning: SA %u encrypts without authentication: "
					      "insecure (RFC 4303 §3.2)\n", c->spi);
			break;
		case SETKEY_DELETE:
		case SETKEY_DELETEALL:
		case SETKEY_FLUSH:
			for (j = a->t.n_sas; j-- > 0;) {
				const struct table_sa *s = &a->t.sas[j];

				if (c->op == SETKEY_FLUSH ||
				    (s->family == c->family && !memcmp(&s->src, &c->src, sizeof(c->src)) &&
				     !memcmp(&s->dst, &c->dst, sizeof(c->dst)) &&
				     (c->op == SETKEY_DELETEALL || s->spi == c->spi)))
					sa_forget(a, j);
			}
			break;
		case SETKEY_DUMP:
		case SETKEY_GET:
			for (j = 0, first = true; j < a->t.n_sas; j++) {
				if (c->op == SETKEY_GET && a->t.sas[j].spi != c->spi)
					continue;
				n = sa_show(a, &a->t.sas[j], json, first, out, len, n);
				first = false;
			}
			break;
		case SETKEY_SPDDUMP: {
			/* Four policies an interface (ipsecif(4)), for every interface. */
			size_t max = 4 * a->t.n_ifaces + 1, np;
			struct table_policy *pol = calloc(max, sizeof(*pol));

			if (!pol) {
				ret = errmsg(out, len, -ENOMEM, "ipsecif-agent: out of memory\n");
				goto done;
			}
			np = table_policies(&a->t, pol, max);
			for (j = 0; j < np; j++)
				n = policy_show(&pol[j], json, !j, out, len, n);
			free(pol);
			break;
		}
		}
	}
	sas_changed(a);
	if (json)
		snprintf(out + n, n < len ? len - n : 0, "]}\n");
	ret = 0;
done:
	setkey_script_free(&sc);
	return ret;
}

/*
 * The SA API (CTL_REQ_SA): what a key manager's kernel interface needs,
 * one operation per call.  Every reply carries a struct ctl_sa_reply on
 * success, a message naming the problem otherwise.
 */

static bool spi_taken(struct agent *a, __u32 spi, __u64 now)
{
	size_t i;
	int k;

	for (i = 0; i < a->t.n_sas; i++)
		if (a->t.sas[i].spi == spi)
			return true;
	for (k = 0; k < a->n_holds; k++)
		if (a->holds[k].spi == spi && a->holds[k].until > now)
			return true;
	return false;
}

static bool spi_held(const struct agent *a, __u32 spi)
{
	int k;

	for (k = 0; k < a->n_holds; k++)
		if (a->holds[k].spi == spi)
			return true;
	return false;
}

static void spi_release(struct agent *a, __u32 spi, __u64 now)
{
	int k;

	for (k = a->n_holds; k-- > 0;)
		if (a->holds[k].spi == spi || a->holds[k].until <= now)
			a->holds[k] = a->holds[--a->n_holds];
}

/*
 * A random SPI no SA of this agent uses and none handed out holds
 * (random: RFC 4303 §2.1 leaves the choice local, and guessable SPIs help
 * no one), held until added or CTL_SA_SPI_HOLD_S passed.
 */
static int sa_getspi(struct agent *a, __u32 *spi, char *err, size_t errlen)
{
	__u64 now = mono_ns();
	int tries;

	spi_release(a, 0, now);
	if (a->n_holds == MAX_SPI_HOLDS)
		return errmsg(err, errlen, -EBUSY, "%d SPIs handed out and not used",
			      MAX_SPI_HOLDS);
	for (tries = 0; tries < 64; tries++) {
		if (getrandom(spi, sizeof(*spi), 0) != sizeof(*spi))
			return errmsg(err, errlen, -EIO, "no random numbers: %s", strerror(errno));
		if (*spi < 256 || spi_taken(a, *spi, now))
			continue;
		a->holds[a->n_holds++] = (struct spi_hold){ *spi, now +
			CTL_SA_SPI_HOLD_S * 1000000000ULL };
		return 0;
	}
	return errmsg(err, errlen, -EAGAIN, "no free SPI found");
}

static int sa_add(struct agent *a, const struct ctl_sa *c, char *err, size_t errlen)
{
	struct ipsecif_keyring kr = keyring(a);
	struct ipsecif_key_params p = {
		.enc = c->enc, .auth = c->auth, .enc_key = c->enc_key,
		.enc_key_len = c->enc_key_len,
		.auth_key = c->auth_key_len ? c->auth_key : NULL,
		.auth_key_len = c->auth_key_len,
	};
	struct table_sa t = { .spi = c->spi, .family = c->family, .src = c->src, .dst = c->dst,
			      .reqid = c->reqid, .flags = c->flags, .replay = c->replay,
			      .sport = c->sport, .dport = c->dport,
			      .soft_bytes = c->soft_bytes, .hard_bytes = c->hard_bytes,
			      .soft_packets = c->soft_packets, .hard_packets = c->hard_packets,
			      .soft_time = c->soft_time, .hard_time = c->hard_time,
			      .added = mono_ns(), .enc = c->enc, .auth = c->auth, .by_api = true };
	int ret;

	t.not_before = c->hold_ms ? t.added + c->hold_ms * 1000000ULL : 0;

	if (table_sa_find(&a->t, c->spi, c->family, &c->dst))
		return errmsg(err, errlen, -EEXIST, "SA %u exists", c->spi);
	t.id = ++a->next_sa_id;
	ret = ipsecif_key_install(&kr, t.id, &p, err, errlen);
	if (!ret)
		ret = table_sa_add(&a->t, &t, err, errlen);
	if (ret) {
		ipsecif_key_remove(&kr, t.id);
		return ret;
	}
	spi_release(a, c->spi, t.added);
	sas_changed(a);
	return 0;
}

/* A map entry's addressing from the table's, its counters kept. */
static void sa_readdress(struct ipsecif_sa *cur, const struct table_sa *n)
{
	cur->family = n->family;
	cur->src = n->src;
	cur->dst = n->dst;
	cur->sport = htons(n->sport);
	cur->dport = htons(n->dport);
	cur->flags = n->flags;
}

/*
 * MOBIKE (RFC 4555) moved an SA that served interface name: the tunnel
 * follows it, as the key manager's view of the endpoints is the current
 * one.  The interface's other SAs come along as the key manager updates
 * them; one that cannot (another interface has those endpoints) stays
 * inactive, and the log says why.
 */
static void tunnel_follow(struct agent *a, const char *name, const struct table_sa *t, bool in)
{
	const union ipsecif_addr *src = in ? &t->dst : &t->src, *dst = in ? &t->src : &t->dst;
	struct table_iface *f;
	char err[256];
	long mtu;

	if (table_set_tunnel(&a->t, name, t->family, src, dst, err, sizeof(err))) {
		logmsg(LOG_WARNING, "SA %u moved: %s", t->spi, err);
		return;
	}
	f = table_find(&a->t, name);
	mtu = dev_attr(name, "mtu");
	mtu_refresh(a, f, mtu > 0 ? mtu : default_mtu());
	logmsg(LOG_NOTICE, "%s: the tunnel follows SA %u (MOBIKE)", name, t->spi);
}

/*
 * New addressing for an SA in place (MOBIKE, RFC 4555; NAT-T ports,
 * RFC 3948): the map entry is rewritten; its counters and sequence
 * number, in sa_ctr under its id, go on untouched.
 */
static int sa_update(struct agent *a, struct table_sa *t, const struct ctl_sa *c,
		     char *err, size_t errlen)
{
	int in_fd = bpf_map__fd(a->skel->maps.sa_in), out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa_key old_k, k;
	struct ipsecif_sa cur;
	struct table_sa n = *t;
	bool in, in_old = false;
	const struct table_iface *f = table_sa_iface(&a->t, t, &in_old);

	if (c->new_flags & ~(IPSECIF_SA_F_ESN | IPSECIF_SA_F_NATT))
		return errmsg(err, errlen, -EINVAL, "SA %u: unknown flags %#x", t->spi,
			      c->new_flags);
	n.family = c->new_family;
	n.src = c->new_src;
	n.dst = c->new_dst;
	n.sport = c->new_sport;
	n.dport = c->new_dport;
	n.flags = (t->flags & ~IPSECIF_SA_F_NATT) | (c->new_flags & IPSECIF_SA_F_NATT);
	if ((n.family != t->family || memcmp(&n.dst, &t->dst, sizeof(n.dst))) &&
	    table_sa_find(&a->t, n.spi, n.family, &n.dst))
		return errmsg(err, errlen, -EEXIST, "SA %u exists at the new address", n.spi);
	sa_key(t, &old_k);
	sa_key(&n, &k);
	if (!bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == t->id) {
		sa_readdress(&cur, &n);
		bpf_map_update_elem(out_fd, &t->reqid, &cur, BPF_EXIST);
	}
	if (!bpf_map_lookup_elem(in_fd, &old_k, &cur) && cur.id == t->id) {
		sa_readdress(&cur, &n);
		bpf_map_update_elem(in_fd, &k, &cur, BPF_ANY);
		if (memcmp(&old_k, &k, sizeof(k)))
			bpf_map_delete_elem(in_fd, &old_k);
	}
	*t = n;
	if (f && !table_sa_iface(&a->t, t, &in))
		tunnel_follow(a, f->name, t, in_old);
	if (!table_sa_iface(&a->t, t, &in))
		sa_unmap(a, t);	/* no interface has these endpoints */
	sas_changed(a);
	return 0;
}

/* Counters, and how long since they moved (charon's use time). */
static void sa_query(struct agent *a, struct table_sa *t, struct ctl_sa_reply *r)
{
	struct ipsecif_stats st;
	__u64 now = mono_ns();

	stats_sum(a->skel->maps.sa_stats, t->id, &st);
	if (st.packets != t->last_packets) {
		t->last_packets = st.packets;
		t->last_used = now;
	}
	r->bytes = st.bytes;
	r->packets = st.packets;
	r->idle_ns = t->last_used ? now - t->last_used : ~0ULL;
}

static int do_sa(struct agent *a, const struct ctl_sa *c, struct ctl_sa_reply *r,
		 char *err, size_t errlen)
{
	struct table_sa *t = NULL;
	char addr[INET6_ADDRSTRLEN];
	const struct table_iface *f;
	size_t i;
	bool in;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	switch (c->op) {
	case CTL_SA_GETSPI:
		ret = sa_getspi(a, &r->spi, err, errlen);
		break;
	case CTL_SA_ADD:
		ret = sa_add(a, c, err, errlen);
		t = ret ? NULL : table_sa_find(&a->t, c->spi, c->family, &c->dst);
		break;
	case CTL_SA_FLUSH:
		for (i = a->t.n_sas; i-- > 0;)
			if (a->t.sas[i].by_api)
				sa_forget(a, i);
		sas_changed(a);
		break;
	case CTL_SA_RELEASE:
		hold_end(a, c->reqid);
		break;
	case CTL_SA_POLICY:
		f = table_find_reqid(&a->t, c->reqid);
		if (!f || !f->tunnel)
			ret = errmsg(err, errlen, -ENXIO, "no interface with reqid %u and a tunnel",
				     c->reqid);
		break;
	default:
		t = table_sa_find(&a->t, c->spi, c->family, &c->dst);
		if (!t && c->op == CTL_SA_DEL && spi_held(a, c->spi)) {
			/* Handed out, never added (the negotiation failed): free again. */
			spi_release(a, c->spi, mono_ns());
			break;
		}
		if (!t) {
			ret = errmsg(err, errlen, -ESRCH, "no SA %u to %s", c->spi,
				     inet_ntop(c->family, &c->dst, addr, sizeof(addr)) ?: "?");
			break;
		}
		if (c->op == CTL_SA_UPDATE)
			ret = sa_update(a, t, c, err, errlen);
		else if (c->op == CTL_SA_QUERY)
			sa_query(a, t, r);
		else if (c->op == CTL_SA_DEL) {
			sa_forget_linger(a, t - a->t.sas, true);
			sas_changed(a);
			t = NULL;
		}
		break;
	}
	if (!ret && t) {
		r->spi = t->spi;
		r->active = !!table_sa_iface(&a->t, t, &in);
	}
	return ret;
}

/*
 * The agent's tables survive it in a state file beside the pins, so that
 * an agent started after a crash (or a plain stop) adopts the interfaces
 * and SAs the pinned maps still carry.  Same binary version only.
 */
#define STATE_DIR	RUN_DIR "/state"
#define STATE_MAGIC	0x53535049	/* "IPSS" */

struct state_hdr {
	__u32 magic;
	__u32 version;
	__u32 n_ifaces, n_sas, next_sa_id, n_xdp;
	__u32 iface_size, sa_size;
};

static void state_path(const struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", STATE_DIR, strrchr(a->pin_dir, '/') + 1);
}

static void state_save(struct agent *a)
{
	struct state_hdr h = { STATE_MAGIC, 2, a->t.n_ifaces, a->t.n_sas, a->next_sa_id,
			       a->n_xdp, sizeof(struct table_iface), sizeof(struct table_sa) };
	char path[192], tmp[200];
	__u32 n_lan = a->n_lan;
	FILE *f;
	bool ok;

	mkdir_p(RUN_DIR, 0700);
	mkdir_p(STATE_DIR, 0700);
	state_path(a, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f) {
		logmsg(LOG_ERR, "%s: %s: %s", __func__, tmp, strerror(errno));
		return;
	}
	ok = fwrite(&h, sizeof(h), 1, f) == 1 &&
	     fwrite(a->t.ifaces, sizeof(*a->t.ifaces), a->t.n_ifaces, f) == a->t.n_ifaces &&
	     fwrite(a->t.sas, sizeof(*a->t.sas), a->t.n_sas, f) == a->t.n_sas &&
	     fwrite(a->xdp_devs, sizeof(a->xdp_devs[0]), a->n_xdp, f) == (size_t)a->n_xdp &&
	     fwrite(&n_lan, sizeof(n_lan), 1, f) == 1 &&
	     fwrite(a->lan_devs, sizeof(a->lan_devs[0]), a->n_lan, f) == n_lan;
	ok = !fclose(f) && ok;
	if (!ok || rename(tmp, path))
		logmsg(LOG_ERR, "%s: %s: %s", __func__, path, strerror(errno));
}

/*
 * A state file that does not read back whole (truncated, edited, another
 * version) stops the start: adopting half the tables would leave SAs in
 * the maps that no one owns.  No file is fine: the agent before never
 * changed anything.
 */
static int state_load(struct agent *a, char *err, size_t errlen)
{
	struct state_hdr h;
	char path[192];
	__u32 n_lan = 0;
	size_t i;
	FILE *f;
	int ret = -EBADMSG;

	state_path(a, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : errmsg(err, errlen, -errno, "%s: %s", path,
						    strerror(errno));
	/* Version 1 is version 2 without the LAN devices: an upgrade adopts it. */
	if (fread(&h, sizeof(h), 1, f) != 1 || h.magic != STATE_MAGIC ||
	    (h.version != 1 && h.version != 2) ||
	    h.iface_size != sizeof(struct table_iface) || h.sa_size != sizeof(struct table_sa) ||
	    h.n_ifaces > IPSECIF_MAX_IFACES || h.n_sas > IPSECIF_MAX_SAS || h.n_xdp > MAX_XDP_DEVS)
		goto bad;
	for (i = 0; i < h.n_ifaces; i++) {
		struct table_iface fi;

		if (fread(&fi, sizeof(fi), 1, f) != 1)
			goto bad;
		fi.name[sizeof(fi.name) - 1] = 0;
		if (table_create(&a->t, fi.name, fi.reqid, NULL, 0))
			goto bad;
		*table_find(&a->t, fi.name) = fi;
	}
	for (i = 0; i < h.n_sas; i++) {
		struct table_sa sa;

		if (fread(&sa, sizeof(sa), 1, f) != 1 || table_sa_add(&a->t, &sa, NULL, 0))
			goto bad;
	}
	for (i = 0; i < h.n_xdp; i++, a->n_xdp++)
		if (fread(&a->xdp_devs[a->n_xdp], sizeof(int), 1, f) != 1)
			goto bad;
	if (h.version >= 2 && (fread(&n_lan, sizeof(n_lan), 1, f) != 1 || n_lan > MAX_XDP_DEVS))
		goto bad;
	for (i = 0; i < n_lan; i++, a->n_lan++)
		if (fread(&a->lan_devs[a->n_lan], sizeof(int), 1, f) != 1)
			goto bad;
	if (fgetc(f) != EOF)
		goto bad;
	a->next_sa_id = h.next_sa_id;
	fclose(f);
	logmsg(LOG_INFO, "adopted %zu interfaces and %zu SAs", a->t.n_ifaces, a->t.n_sas);
	return 0;
bad:
	fclose(f);
	table_free(&a->t);
	table_init(&a->t);
	a->n_xdp = 0;
	a->n_lan = 0;
	return errmsg(err, errlen, ret, "%s does not read back as this agent's state; "
		      "remove it and %s to start afresh", path, a->pin_dir);
}

static void state_remove(struct agent *a)
{
	char path[192];

	state_path(a, path, sizeof(path));
	unlink(path);
	rmdir(STATE_DIR);	/* only when no other namespace's agent keeps one */
}

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

/*
 * One request from one client, answered; the agent carries on whatever it
 * was.  True when the connection stays open (an event subscription).
 */
static bool serve(struct agent *a, int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ctl_hdr h;
	struct ctl_req req;
	char err[512], text[1024];
	char *msg = NULL;
	size_t got;
	int ret;

	/* Root only (the socket is in the abstract namespace: no file mode). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.uid != 0) {
		agent_reply(fd, -EPERM, "ipsecif-agent: only root may talk to the agent\n");
		return false;
	}
	ret = agent_recv_some(fd, &h, sizeof(h), &got);
	if (ret) {
		if (got)	/* the rest never came: say so, it is all we can do */
			ctl_decode(&h, got, &req, err, sizeof(err));
		if (got)
			goto bad;
		return false;
	}
	ret = ctl_check_hdr(&h, err, sizeof(err));
	if (ret)
		goto bad;
	msg = malloc(sizeof(h) + h.len);
	if (!msg) {
		agent_reply(fd, -ENOMEM, "ipsecif-agent: out of memory\n");
		return false;
	}
	memcpy(msg, &h, sizeof(h));
	ret = agent_recv_some(fd, msg + sizeof(h), h.len, &got);
	/* Short: the decoder names what is missing. */
	ret = ctl_decode(msg, sizeof(h) + (ret ? got : h.len), &req, err, sizeof(err));
	if (ret)
		goto bad;
	switch (req.type) {
	case CTL_REQ_STATUS:
		status_text(a, req.flags & CTL_F_JSON, text, sizeof(text));
		agent_reply(fd, 0, text);
		break;
	case CTL_REQ_STOP:
		a->stop = true;
		a->flush = req.flags & CTL_F_FLUSH;
		/* Answered after teardown, so that "stop; start" scripts never race it. */
		a->stop_fd = dup(fd);
		if (a->stop_fd < 0)
			agent_reply(fd, 0, "stopping\n");
		break;
	case CTL_REQ_IFCMD:
	case CTL_REQ_SETKEY: {
		size_t len = reply_room(a, &req);
		char *out = malloc(len);

		if (!out) {
			agent_reply(fd, -ENOMEM, "ipsecif-agent: out of memory\n");
			break;
		}
		ret = req.type == CTL_REQ_IFCMD ? do_ifcmd(a, &req, out, len) :
						  do_setkey(a, &req, out, len);
		state_save(a);
		/* A reply is whole or not at all: cut JSON is worse than none. */
		if (strlen(out) == len - 1)
			ret = errmsg(out, len, -EMSGSIZE, "ipsecif-agent: the reply is over %zu "
				     "bytes and was not sent (what the request changed stays "
				     "changed); ask for less\n", len);
		agent_reply(fd, ret, out);
		free(out);
		break;
	}
	case CTL_REQ_SA: {
		struct ctl_sa_reply r;

		ret = do_sa(a, &req.sa, &r, err, sizeof(err));
		if (ret) {
			logmsg(LOG_DEBUG, "SA request %u: %s", req.sa.op, err);
			goto bad_sa;
		}
		if (req.sa.op != CTL_SA_GETSPI && req.sa.op != CTL_SA_QUERY &&
		    req.sa.op != CTL_SA_POLICY && req.sa.op != CTL_SA_RELEASE)
			state_save(a);
		agent_reply_data(fd, 0, &r, sizeof(r));
		break;
	}
	case CTL_REQ_EVENTS:
		if (a->n_subs == MAX_SUBSCRIBERS) {
			agent_reply(fd, -EUSERS, "ipsecif-agent: too many event subscribers\n");
			break;
		}
		if (agent_reply(fd, 0, NULL))
			break;
		a->subs[a->n_subs++] = fd;
		free(msg);
		return true;
	default:
		agent_reply(fd, -EOPNOTSUPP, "ipsecif-agent: unknown request\n");
	}
	free(msg);
	return false;
bad:
	logmsg(LOG_WARNING, "%s: malformed request: %s", __func__, err);
bad_sa:
	snprintf(text, sizeof(text), "ipsecif-agent: %s\n", err);
	agent_reply(fd, ret, text);
	free(msg);
	return false;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static const char *sa_name(const struct table_sa *s, char *buf, size_t len)
{
	char dst[INET6_ADDRSTRLEN];

	inet_ntop(s->family, &s->dst, dst, sizeof(dst));
	snprintf(buf, len, "SA %u to %s (reqid %u)", s->spi, dst, s->reqid);
	return buf;
}

static ssize_t sa_by_id(const struct agent *a, __u32 id)
{
	size_t i;

	for (i = 0; i < a->t.n_sas; i++)
		if (a->t.sas[i].id == id)
			return i;
	return -1;
}

/*
 * Tell the key managers (CTL_REQ_EVENTS connections).  One that does not
 * take an event at once is dropped: it reconnects, and the data path
 * must never wait on it.
 */
static void publish(struct agent *a, const struct ctl_event *ev)
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
		close(a->subs[k]);
		a->subs[k] = a->subs[--a->n_subs];
	}
}

/*
 * An SA's lifetime is over (RFC 4301 §4.4.2.1): soft marks it dying and
 * asks the key manager for a replacement; hard removes it, and the key
 * manager hears so.  why: what ran out, for the log.
 */
static void sa_expire(struct agent *a, size_t i, __u32 type, __u64 value, const char *why)
{
	struct table_sa *s = &a->t.sas[i];
	struct ctl_event ev = { .type = type, .reqid = s->reqid, .spi = s->spi,
				.family = s->family, .dst = s->dst, .value = value };
	char name[128];

	sa_name(s, name, sizeof(name));
	if (type == IPSECIF_EV_HARD_EXPIRE) {
		logmsg(LOG_NOTICE, "%s: hard lifetime reached (%s %llu): removed", name, why,
		       (unsigned long long)value);
		sa_forget(a, i);
	} else {
		logmsg(LOG_NOTICE, "%s: soft lifetime reached (%s %llu): dying", name, why,
		       (unsigned long long)value);
		s->expired |= IPSECIF_SA_EXP_SOFT;
	}
	a->dirty = true;
	publish(a, &ev);
}

/*
 * The data path's events (bpf/events.h): the hook where they reach the
 * key managers.  An acquire (traffic for a reqid without an outbound SA)
 * asks them for SAs (RFC 4301 §4.4.1.1 trigger); lifetimes as above.
 */
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
		publish(a, &ev);
		return 0;
	}
	i = sa_by_id(a, e->sa_id);
	if (i < 0)
		return 0;	/* already gone: a late event */
	switch (e->type) {
	case IPSECIF_EV_SOFT_EXPIRE:
	case IPSECIF_EV_HARD_EXPIRE:
		sa_expire(a, i, e->type, e->value, "count");
		break;
	case IPSECIF_EV_SEQ_THRESHOLD:
		sa_expire(a, i, IPSECIF_EV_SOFT_EXPIRE, e->value, "sequence number");
		break;
	}
	return 0;
}

/* Lifetimes by time: the data path counts bytes, the agent the seconds. */
static void lifetimes_tick(struct agent *a)
{
	__u64 now = mono_ns();
	size_t i;

	for (i = a->t.n_sas; i-- > 0;) {
		struct table_sa *s = &a->t.sas[i];
		__u64 age = now - s->added;

		if (s->hard_time && age >= s->hard_time * 1000000000ULL)
			sa_expire(a, i, IPSECIF_EV_HARD_EXPIRE, s->hard_time, "seconds");
		else if (s->soft_time && age >= s->soft_time * 1000000000ULL &&
			 !(s->expired & IPSECIF_SA_EXP_SOFT))
			sa_expire(a, i, IPSECIF_EV_SOFT_EXPIRE, s->soft_time, "seconds");
	}
}

/*
 * Held-back outbound SAs take over: those whose time has come, or (reqid
 * not 0) all of reqid's, once the key manager knows the peer has their
 * inbound twins.
 */
static void hold_end(struct agent *a, __u32 reqid)
{
	__u64 now = mono_ns();
	size_t i;

	for (i = 0; i < a->t.n_sas; i++) {
		struct table_sa *s = &a->t.sas[i];

		if (s->not_before && (reqid ? s->reqid == reqid : s->not_before <= now)) {
			s->not_before = 0;
			sa_resync(a);
			a->dirty = true;
		}
	}
}

/*
 * How long poll may sleep: until the next time lifetime ends, so that a
 * key manager hears of it within milliseconds (its rekey depends on it),
 * and at most a second (the MTU watch).
 */
static int tick_ms(const struct agent *a)
{
	__u64 now = mono_ns(), next = now + 1000000000ULL;
	size_t i;

	for (i = 0; i < (size_t)a->n_lingers; i++)
		if (a->lingers[i].until < next)
			next = a->lingers[i].until;
	for (i = 0; i < (size_t)a->n_graves; i++)
		if (a->graves[i].until < next)
			next = a->graves[i].until;
	for (i = 0; i < a->t.n_sas; i++)
		if (a->t.sas[i].not_before > now && a->t.sas[i].not_before < next)
			next = a->t.sas[i].not_before;
	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *s = &a->t.sas[i];
		__u64 soft = s->added + s->soft_time * 1000000000ULL;
		__u64 hard = s->added + s->hard_time * 1000000000ULL;

		if (s->soft_time && !(s->expired & IPSECIF_SA_EXP_SOFT) && soft < next)
			next = soft;
		if (s->hard_time && hard < next)
			next = hard;
	}
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/* Underlay MTU changes reach ipsecN within a second (the agent polls). */
static void mtu_tick(struct agent *a)
{
	struct ifaddrs *ifa;
	__u64 now = mono_ns();
	size_t i;

	/*
	 * Once a second, however often the agent wakes (events, subscribers):
	 * the address dump costs netlink round trips, and with many interfaces
	 * a dump per interface per wakeup ate a core.
	 */
	if (now < a->next_mtu_check)
		return;
	a->next_mtu_check = now + 1000000000ULL;
	if (!a->t.n_ifaces || getifaddrs(&ifa))
		return;
	for (i = 0; i < a->t.n_ifaces; i++) {
		const struct table_iface *f = &a->t.ifaces[i];
		long cur = dev_attr(f->name, "mtu");

		if (f->tunnel && !f->mtu_user && cur > 0 && cur != auto_mtu_in(a, f, ifa))
			mtu_refresh(a, f, 0);
	}
	freeifaddrs(ifa);
}

static int run(struct agent *a, int ready_fd)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct pollfd pfd[2 + MAX_SUBSCRIBERS] = { { .fd = a->sock, .events = POLLIN },
						   { .fd = -1 } };

	a->events = ring_buffer__new(bpf_map__fd(a->skel->maps.events), on_event, a, NULL);
	if (!a->events)
		logmsg(LOG_ERR, "the events ring buffer: %s: hard byte limits will drop "
		       "without the SA being removed", strerror(errno));
	else
		pfd[1] = (struct pollfd){ .fd = ring_buffer__epoll_fd(a->events), .events = POLLIN };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	logmsg(LOG_INFO, "ready; pins in %s", a->pin_dir);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "", 1);	/* the parent returns 0 */
		close(ready_fd);
	}
	while (!a->stop && !got_signal) {
		int fd, k, n;

		/* Subscribers only ever close (or misbehave): any input ends them. */
		for (k = 0; k < a->n_subs; k++)
			pfd[2 + k] = (struct pollfd){ .fd = a->subs[k], .events = POLLIN };
		n = poll(pfd, 2 + a->n_subs, tick_ms(a));
		for (k = a->n_subs; k-- > 0;)
			if (pfd[2 + k].revents) {
				close(a->subs[k]);
				a->subs[k] = a->subs[--a->n_subs];
			}
		if (a->events)
			ring_buffer__consume(a->events);
		lifetimes_tick(a);
		hold_end(a, 0);
		linger_end(a, 0, true);
		graves_end(a, false);
		if (a->dirty) {
			state_save(a);
			a->dirty = false;
		}
		mtu_tick(a);
		if (n <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(a->sock, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* A client gets 5 s to send its request. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
			   sizeof(struct timeval));
		if (!serve(a, fd))
			close(fd);
	}
	return 0;
}

static void teardown(struct agent *a)
{
	size_t i;

	if (a->sock >= 0)
		close(a->sock);
	/* A lingering SA is deleted already: no agent after this one knows it. */
	for (i = 0; i < (size_t)a->n_lingers; i++)
		a->lingers[i].until = 0;
	if (a->skel) {
		linger_end(a, 0, true);
		if (a->n_graves)
			nanosleep(&(struct timespec){ .tv_nsec = GRAVE_NS }, NULL);
		graves_end(a, true);
	}
	while (a->n_subs)
		close(a->subs[--a->n_subs]);
	ring_buffer__free(a->events);
	for (i = 0; a->flush && i < a->t.n_ifaces; i++)
		netdev_destroy(a->t.ifaces[i].name, NULL, 0);
	for (i = 0; i < (size_t)a->n_xdp; i++) {
		if (a->flush && a->xdp_links[i])
			bpf_link__unpin(a->xdp_links[i]);	/* detached as it is destroyed */
		bpf_link__destroy(a->xdp_links[i]);
	}
	for (i = 0; i < (size_t)a->n_lan; i++) {
		if (a->flush && a->lan_links[i])
			bpf_link__unpin(a->lan_links[i]);
		bpf_link__destroy(a->lan_links[i]);
	}
	table_free(&a->t);
	if (a->skel) {
		if (a->flush) {
			bpf_object__unpin_maps(a->skel->obj, NULL);
			unpin_programs(a);
		}
		ipsecif__destroy(a->skel);
	}
	if (a->flush && a->pin_dir[0]) {
		state_remove(a);
		rmdir(a->pin_dir);
	}
	if (a->lock_fd >= 0)
		close(a->lock_fd);
}

/*
 * This load's programs take over from the adopted ones, in place (TC
 * filter replace, XDP replace): no moment without a program, so no loss.
 */
static void adopt_attach(struct agent *a)
{
	char err[256];
	size_t i;
	int k;

	for (i = 0; i < a->t.n_ifaces; i++)
		if (attach_out(a, a->t.ifaces[i].name, err, sizeof(err)))
			logmsg(LOG_WARNING, "%s", err);
	for (k = 0; k < a->n_xdp; k++)
		xdp_attach_in(a, k);
	for (k = 0; k < a->n_lan; k++)
		xdp_attach(a, a->skel->progs.xdp_lan, "lan", a->lan_devs[k], &a->lan_links[k]);
}

/*
 * Slots (keyed by SA id) of SAs the adopted tables do not know: those the
 * agent before had deleted and not yet freed (struct grave) when it died.
 */
static void reap_slots(struct agent *a, const struct bpf_map *m)
{
	__u32 id, next, *gone = calloc(IPSECIF_MAX_SAS, sizeof(*gone));
	int fd = bpf_map__fd(m), n = 0, ret;

	if (!gone)
		return;
	for (ret = bpf_map_get_next_key(fd, NULL, &next); !ret && n < IPSECIF_MAX_SAS;
	     ret = bpf_map_get_next_key(fd, &id, &next)) {
		id = next;
		if (sa_by_id(a, id) < 0)
			gone[n++] = id;
	}
	while (n)
		sa_slots_free(a, gone[--n]);
	free(gone);
}

/*
 * An outbound SA in sa_out that the adopted tables do not know: one that
 * lingered when the agent before died (a stop ends them).  Out, with its
 * slots, so that no deleted SA carries traffic.
 */
static void reap_orphans(struct agent *a)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa cur;
	size_t i;

	for (i = 0; i < a->t.n_ifaces; i++) {
		__u32 reqid = a->t.ifaces[i].reqid;

		if (bpf_map_lookup_elem(out_fd, &reqid, &cur) || sa_by_id(a, cur.id) >= 0)
			continue;
		logmsg(LOG_NOTICE, "reqid %u: outbound SA %u is no longer known: removed", reqid,
		       ntohl(cur.spi));
		bpf_map_delete_elem(out_fd, &reqid);
		sa_slots_free(a, cur.id);
	}
	reap_slots(a, a->skel->maps.keys);
	reap_slots(a, a->skel->maps.sa_ctr);
}

/*
 * --config FILE, applied by a fresh agent before it reports ready.  Lines
 * are ipsecifctl's interface commands ("ipsec0 create reqid 100", with or
 * without the leading "ipsecifctl"); a line "setkey" opens a setkey(8)
 * script that a line "end" closes; '#' starts a comment line.  The first
 * error stops the start, named by file and line, and the agent leaves
 * nothing behind.
 */
static int config_apply(struct agent *a, const char *path, char *err, size_t errlen)
{
	static char out[256 * 1024];
	char *text, *line, *next, *block = NULL;
	int ret = 0, lineno = 0, block_lineno = 0;
	size_t len;
	FILE *f = fopen(path, "r");

	if (!f)
		return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
	text = calloc(1, CTL_MAX_PAYLOAD + 1);
	len = text ? fread(text, 1, CTL_MAX_PAYLOAD + 1, f) : 0;
	fclose(f);
	if (!text)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	if (len > CTL_MAX_PAYLOAD) {
		ret = errmsg(err, errlen, -EFBIG, "%s: over %d bytes", path, CTL_MAX_PAYLOAD);
		goto out;
	}
	for (line = text; line && !ret; line = next) {
		struct ctl_req req = { 0 };
		char *w, *save;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		w = line + strspn(line, " \t");
		if (block) {
			if (strcmp(w, "end")) {
				line[strlen(line)] = '\n';	/* the script keeps its lines */
				continue;
			}
			/*
			 * One blank line for each line before the script (each took
			 * a byte at least), so that setkey's line numbers are the
			 * file's.
			 */
			memset(block - block_lineno, '\n', block_lineno);
			req = (struct ctl_req){ .type = CTL_REQ_SETKEY, .text = block - block_lineno,
						.len = line - (block - block_lineno) };
			ret = do_setkey(a, &req, out, sizeof(out));
			block = NULL;
		} else if (!*w || *w == '#') {
			continue;
		} else if (!strcmp(w, "setkey")) {
			block = next ? next : line + strlen(line);
			block_lineno = lineno;
			continue;
		} else {
			req.type = CTL_REQ_IFCMD;
			for (w = strtok_r(w, " \t", &save); w && req.argc < CTL_MAX_ARGS;
			     w = strtok_r(NULL, " \t", &save))
				if (req.argc || strcmp(w, "ipsecifctl"))
					req.argv[req.argc++] = w;
			ret = do_ifcmd(a, &req, out, sizeof(out));
		}
		if (ret) {
			/* Without "ipsecifctl: "; setkey's messages carry their line. */
			char *m = strstr(out, ": ") ? strstr(out, ": ") + 2 : out;

			m[strcspn(m, "\n")] = 0;
			if (req.type == CTL_REQ_SETKEY)
				ret = errmsg(err, errlen, ret, "%s: %s", path, m);
			else
				ret = errmsg(err, errlen, ret, "%s:%d: %s", path, lineno, m);
		} else if (out[0]) {
			logmsg(LOG_WARNING, "%s:%d: %.*s", path, lineno, (int)strcspn(out, "\n"), out);
		}
	}
	if (!ret && block)
		ret = errmsg(err, errlen, -EINVAL, "%s:%d: this setkey block has no \"end\"", path,
			     block_lineno);
	if (!ret)
		logmsg(LOG_INFO, "applied %s: %zu interfaces, %zu SAs", path, a->t.n_ifaces,
		       a->t.n_sas);
out:
	free(text);
	return ret;
}

static int agent_start(bool foreground, const char *config)
{
	struct agent a = { .lock_fd = -1, .sock = -1, .stop_fd = -1, .foreground = foreground };

	table_init(&a.t);
	char err[512] = "";
	int pfd[2] = { -1, -1 }, ret;
	bool adopt = false;
	pid_t pid;

	if (!foreground) {
		if (pipe2(pfd, O_CLOEXEC))
			return -errno;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid > 0) {
			char buf[600];
			ssize_t n;

			close(pfd[1]);
			/* Ready: one NUL byte.  Otherwise the reason, then EOF. */
			n = read(pfd[0], buf, sizeof(buf) - 1);
			if (n == 1 && buf[0] == 0)
				return 0;
			if (n <= 0)
				snprintf(buf, sizeof(buf), "the agent exited before it was ready");
			else
				buf[n] = 0;
			fprintf(stderr, "ipsecif-agent: %s\n", buf);
			return -EIO;
		}
		close(pfd[0]);
		setsid();
		use_syslog = true;
		openlog("ipsecif-agent", LOG_PID, LOG_DAEMON);
	}

	ret = bpffs_ready(err, sizeof(err));
	if (!ret)
		ret = pin_dir_lock(&a, err, sizeof(err));
	if (!ret) {
		char probe[200];

		/* Pinned maps from an earlier agent: its tables go with them. */
		snprintf(probe, sizeof(probe), "%s/sa_in", a.pin_dir);
		adopt = !access(probe, F_OK);
		ret = bpf_ready(&a, err, sizeof(err));
	}
	if (!ret) {
		if (adopt)
			ret = state_load(&a, err, sizeof(err));
		else
			state_remove(&a);
	}
	if (!ret && adopt) {
		adopt_attach(&a);
		reap_orphans(&a);
	}
	if (!ret)
		ret = sock_ready(&a, err, sizeof(err));
	if (!ret && config && adopt)
		logmsg(LOG_NOTICE, "%s not applied: the running data path's state was adopted",
		       config);
	if (!ret && config && !adopt) {
		ret = config_apply(&a, config, err, sizeof(err));
		a.flush = ret != 0;	/* a fresh agent whose file fails leaves nothing */
		if (!ret)
			state_save(&a);
	}
	if (ret) {
		if (pfd[1] >= 0)
			(void)!write(pfd[1], err, strlen(err));
		else
			fprintf(stderr, "ipsecif-agent: %s\n", err);
		teardown(&a);
		return ret;
	}
	if (!foreground) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	ret = run(&a, pfd[1]);
	logmsg(LOG_INFO, "stopping%s", a.flush ? ", tearing everything down" : "");
	teardown(&a);
	if (a.stop_fd >= 0) {
		agent_reply(a.stop_fd, 0, a.flush ? "stopped; everything torn down\n" :
				      "stopped; the data path keeps running\n");
		close(a.stop_fd);
	}
	return ret;
}

static int simple_request(enum ctl_type type, __u32 flags)
{
	char buf[64], out[4096];
	ssize_t n = ctl_encode(type, flags, 0, NULL, NULL, 0, buf, sizeof(buf));
	int status, ret;

	if (n < 0)
		return n;
	ret = agent_request(buf, n, out, sizeof(out), &status);
	if (ret == -ECONNREFUSED || ret == -ENOENT) {
		fprintf(stderr, "ipsecif-agent: not running in this network namespace\n");
		return -ESRCH;
	}
	if (ret) {
		fprintf(stderr, "ipsecif-agent: talking to the agent: %s\n", strerror(-ret));
		return ret;
	}
	fputs(out, status ? stderr : stdout);
	return status;
}

static void usage(FILE *f)
{
	fputs("usage: ipsecif-agent start [-f|--foreground] [-v] [--config FILE]\n"
	      "       ipsecif-agent status [-j]\n"
	      "       ipsecif-agent stop [--flush]\n", f);
}

int main(int argc, char **argv)
{
	bool foreground = false, json = false, flush = false;
	const char *cmd, *config = NULL;
	int i, ret;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	for (i = 2; i < argc; i++) {
		if (!strcmp(cmd, "start") && (!strcmp(argv[i], "-f") ||
					      !strcmp(argv[i], "--foreground")))
			foreground = true;
		else if (!strcmp(cmd, "start") && !strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(cmd, "start") && !strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strcmp(cmd, "status") && !strcmp(argv[i], "-j"))
			json = true;
		else if (!strcmp(cmd, "stop") && !strcmp(argv[i], "--flush"))
			flush = true;
		else {
			fprintf(stderr, "ipsecif-agent: '%s': unknown option for %s\n", argv[i], cmd);
			usage(stderr);
			return 2;
		}
	}
	if (!strcmp(cmd, "start"))
		ret = agent_start(foreground, config);
	else if (!strcmp(cmd, "status"))
		ret = simple_request(CTL_REQ_STATUS, json ? CTL_F_JSON : 0);
	else if (!strcmp(cmd, "stop"))
		ret = simple_request(CTL_REQ_STOP, flush ? CTL_F_FLUSH : 0);
	else if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	} else {
		fprintf(stderr, "ipsecif-agent: '%s': unknown command\n", cmd);
		usage(stderr);
		return 2;
	}
	return ret ? 1 : 0;
}
