// SPDX-License-Identifier: GPL-2.0-only
/*
 * The programs on devices.  xdp_esp_in sits on every underlay device that
 * holds a tunnel's source address, xdp_lan on the LAN devices (lan.c),
 * each through a bpf_link pinned as link_KIND_IFINDEX so that it outlives
 * the agent and a new agent swaps its own program in atomically.
 * tc_esp_out is at the ingress of ipsecN's veth peer (there, unlike at
 * ipsecN's own egress, local TCP no longer carries a partial checksum,
 * docs/DATAPATH.md): a tcx link pinned as link_tc_IFINDEX, or a TC filter
 * (fixed handle 1, priority 1) on kernels without tcx and with --tc-hook filter,
 * or the one filter of a TC block all peers share (--tc-hook block, tcblock.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <dirent.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "errmsg.h"
#include "lan.h"
#include "netdev.h"
#include "tcblock.h"

/* The kernel's (6.6 and later) values; Debian's libbpf 1.1 headers predate tcx. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif
#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif

static void tc_pin_path(const struct agent *a, int idx, char *path, size_t len)
{
	snprintf(path, len, "%s/link_tc_%d", a->pin_dir, idx);
}

/*
 * A TC ingress program (tc_esp_out as "tc", the engine's as theirs)
 * through a tcx link, first in the device's tcx chain and pinned as
 * link_KIND_IFINDEX: other owners' tcx programs and TC filters
 * stay where they are, and an adopting agent swaps its program into the
 * pinned link in place (bpf_link_update), as for the XDP links.  libbpf
 * 1.1 has no bpf_program__attach_tcx, so the generic link_create;
 * -EINVAL or -EOPNOTSUPP means a kernel without tcx.
 */
int attach_tcx(struct agent *a, const struct bpf_program *p, const char *kind, int idx)
{
	int prog = bpf_program__fd(p), fd, ret;
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_BEFORE);
	char path[256];

	snprintf(path, sizeof(path), "%s/link_%s_%d", a->pin_dir, kind, idx);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		ret = bpf_link_update(fd, prog, NULL) ? -errno : 0;
		close(fd);
		if (!ret)
			return 0;
		unlink(path);	/* a link whose device went: made anew */
	}
	fd = bpf_link_create(prog, idx, BPF_TCX_INGRESS, &opts);
	if (fd < 0)
		return -errno;
	ret = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd);	/* the pin holds it; without a pin the link is gone */
	return ret;
}

static bool tc_link_pinned(const struct agent *a, int idx)
{
	char path[256];

	tc_pin_path(a, idx, path, sizeof(path));
	return !access(path, F_OK);
}

const char *const tc_hook_names[TC_HOOKS] = {
	[TC_HOOK_LINK] = "link", [TC_HOOK_FILTER] = "filter", [TC_HOOK_BLOCK] = "block",
};

/* The old-style filter (handle 1, priority 1) off idx, once the tcx link runs. */
static void tc_filter_drop(int idx)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

	log_libbpf_quiet(true);
	if (!bpf_tc_query(&hook, &opts)) {
		opts.prog_fd = opts.prog_id = opts.flags = 0;
		bpf_tc_detach(&hook, &opts);
	}
	log_libbpf_quiet(false);
}

/* The fallback for kernels without tcx: one fixed filter, replaced in place. */
static int tc_filter_attach(struct agent *a, int idx, const char *peer)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(a->skel->progs.tc_esp_out),
		    .handle = 1, .priority = 1, .flags = BPF_TC_F_REPLACE);
	int ret;

	/*
	 * The clsact qdisc is there already when an agent adopts the
	 * device: the kernel's "Exclusivity flag on" then is no error.
	 */
	log_libbpf_quiet(true);
	ret = bpf_tc_hook_create(&hook);
	log_libbpf_quiet(false);
	if (ret && ret != -EEXIST)
		logmsg(LOG_WARNING, "%s: the clsact qdisc on %s: %s", __func__, peer,
		       strerror(-ret));
	if (!ret || ret == -EEXIST)
		ret = bpf_tc_attach(&hook, &opts);
	return ret;
}

/*
 * --tc-hook block: the peer's ingress qdisc bound to the shared block,
 * whose one filter runs tc_esp_out for every peer (made when the block
 * is, each peer gone taking its binding along).  The peer binds first,
 * then the block's filter gets this agent's program (replaced in place
 * after a restart): ipsecN is not up yet, so nothing crosses it
 * unfiltered between the two.
 * A peer with a qdisc of its own already (an agent's of --tc-hook
 * filter) keeps it: -EEXIST, and the caller's filter goes there.
 */
static int tc_block_attach(struct agent *a, int idx)
{
	int ret = tcblock_bind(idx, TCBLOCK_INDEX);

	if (ret == -EEXIST && tcblock_bound(idx) == TCBLOCK_INDEX)
		ret = 0;	/* adopted: bound by an agent before */
	if (ret)
		return ret;
	ret = attach_block_filter(a);
	return ret > 0 ? 0 : ret;
}

int attach_block_filter(struct agent *a)
{
	int fd = bpf_program__fd(a->skel->progs.tc_esp_out);
	struct bpf_prog_info info = {};
	__u32 n = sizeof(info);
	int ret;

	if (bpf_obj_get_info_by_fd(fd, &info, &n))
		return -errno;
	if (tcblock_prog(TCBLOCK_INDEX) == info.id)
		return 0;
	ret = tcblock_filter(TCBLOCK_INDEX, fd, "tc_esp_out");
	return ret ? ret : 1;
}

int attach_out(struct agent *a, const char *name, char *err, size_t errlen)
{
	char peer[IFNAMSIZ];
	__u8 mac[6];
	int idx, ret;

	netdev_peer_name(name, peer, sizeof(peer));
	if (netdev_info(peer, &idx, mac))
		return errmsg(err, errlen, -ENODEV, "%s: no peer device", name);
	/*
	 * --tc-hook filter: a peer without a hook gets the filter, whose attach
	 * and removal wait for no RCU grace period (a tcx link's each wait one,
	 * 12 to 17 ms here, holding rtnl: docs/BENCHMARKS.md, Scale); one with
	 * a pinned link keeps it, its program swapped in place.
	 */
	if (a->tc_hook != TC_HOOK_LINK && !tc_link_pinned(a, idx))
		goto filter;
	ret = attach_tcx(a, a->skel->progs.tc_esp_out, "tc", idx);
	if (!ret) {
		/* An older agent's filter goes only now: tc_esp_out ran throughout. */
		tc_filter_drop(idx);
		return 0;
	}
	if (ret != -EINVAL && ret != -EOPNOTSUPP)
		return errmsg(err, errlen, ret, "%s: the tcx link on %s: %s", name, peer,
			      strerror(-ret));
filter:
	if (a->tc_hook == TC_HOOK_BLOCK) {
		ret = tc_block_attach(a, idx);
		if (ret != -EEXIST)
			return ret ? errmsg(err, errlen, ret, "%s: binding %s to TC block %#x: %s",
					    name, peer, TCBLOCK_INDEX, strerror(-ret)) : 0;
	}
	ret = tc_filter_attach(a, idx, peer);
	return ret ? errmsg(err, errlen, ret, "%s: attaching to %s: %s", name, peer,
			    strerror(-ret)) : 0;
}

/*
 * The link_tc_ pins whose peer device went (its interface destroyed: the
 * kernel detached the link, the pin kept a dead one), or with all every
 * one (stop --flush: the devices are gone already).
 */
static void tc_unpin(struct agent *a, bool all)
{
	char path[512], dev[IF_NAMESIZE];
	struct dirent *e;
	DIR *d = opendir(a->pin_dir);

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "link_tc_", 8) &&
		    (all || !if_indextoname(atoi(e->d_name + 8), dev))) {
			snprintf(path, sizeof(path), "%s/%s", a->pin_dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
}

int xdp_attach(struct agent *a, struct bpf_program *prog, const char *kind, int idx,
	       struct bpf_link **out)
{
	struct bpf_link *l;
	char path[256];
	int ret;

	snprintf(path, sizeof(path), "%s/link_%s_%d", a->pin_dir, kind, idx);
	l = bpf_link__open(path);
	if (l) {
		ret = bpf_link__update_program(l, prog);
		if (ret == -ENOLINK) {
			/*
			 * A link whose device went: a pin left in a dead
			 * namespace's folder, whose inode this one has now.
			 */
			bpf_link__unpin(l);
			bpf_link__destroy(l);
			l = NULL;
		}
	}
	if (!l) {
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

int tunnel_dev_in(struct ifaddrs *ifa, const struct table_iface *f)
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

int tunnel_dev(const struct table_iface *f)
{
	struct ifaddrs *ifa;
	int idx;

	if (!f->tunnel)
		return 0;
	/* Its local route: one round trip, where a dump of every device grows with them. */
	idx = netdev_addr_dev(f->family, &f->src);
	if (idx || getifaddrs(&ifa))
		return idx;
	idx = tunnel_dev_in(ifa, f);	/* no such route (a device down, IPv6): look */
	freeifaddrs(ifa);
	return idx;
}

void attach_in(struct agent *a, const struct table_iface *f)
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

/*
 * A device from which no interface's tunnel starts any more (its
 * interfaces destroyed or moved) is left as it was before, free for
 * another XDP program, its pinned link gone.
 */
static int addr_cmp(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(union ipsecif_addr));
}

/*
 * The first interface whose tunnel starts from an address of device idx,
 * into *f (NULL: none): 0, or -errno with nothing known.
 */
int attach_tunnel_at(const struct agent *a, int idx, const struct table_iface **f)
{
	static const int families[] = { AF_INET, AF_INET6 };
	union ipsecif_addr *addrs = NULL, *p;
	int n = 0, cap = 64, fam;
	size_t i;

	*f = NULL;
	/* That device's addresses (a dump of its own), sorted, then the table: no dump of all. */
	for (fam = 0; fam < 2 && !*f; fam++) {
		do {
			if (n > cap)
				cap = n;
			p = realloc(addrs, cap * sizeof(*addrs));
			if (!p) {
				free(addrs);
				return -ENOMEM;
			}
			addrs = p;
			n = netdev_dev_addrs(idx, families[fam], addrs, cap);
		} while (n > cap);
		if (n < 0) {
			free(addrs);
			return n;
		}
		qsort(addrs, n, sizeof(*addrs), addr_cmp);
		for (i = 0; n && !*f && i < a->t.n_ifaces; i++) {
			const struct table_iface *t = &a->t.ifaces[i];

			if (t->tunnel && t->family == families[fam] &&
			    bsearch(&t->src, addrs, n, sizeof(*addrs), addr_cmp))
				*f = t;
		}
	}
	free(addrs);
	return 0;
}

/* Does some interface's tunnel start from an address of device idx?  If not known, yes. */
static bool dev_used(const struct agent *a, int idx)
{
	const struct table_iface *f;

	return attach_tunnel_at(a, idx, &f) || f;
}

void xdp_release_unused(struct agent *a)
{
	bool used[MAX_XDP_DEVS] = {};
	int k;

	tc_unpin(a, false);	/* called after an interface is destroyed */
	for (k = 0; k < a->n_xdp; k++)
		used[k] = dev_used(a, a->xdp_devs[k]);
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
 * This load's programs take over from the adopted ones, in place (TC
 * filter replace, XDP replace): no moment without a program, so no loss.
 */
void attach_adopt(struct agent *a)
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


void attach_close(struct agent *a)
{
	int i;

	if (a->flush && a->pin_dir[0])
		tc_unpin(a, true);

	for (i = 0; i < a->n_xdp; i++) {
		if (a->flush && a->xdp_links[i])
			bpf_link__unpin(a->xdp_links[i]);	/* detached as it is destroyed */
		bpf_link__destroy(a->xdp_links[i]);
	}
	for (i = 0; i < a->n_lan; i++) {
		if (a->flush && a->lan_links[i])
			bpf_link__unpin(a->lan_links[i]);
		bpf_link__destroy(a->lan_links[i]);
	}
}

/*
 * What carries f's inbound ESP: 1 with xdp_esp_in on *dev (the device
 * holding the tunnel's source), 0 with no such device yet (*dev 0) or no
 * SA to attach for, -EBUSY with another owner's XDP program there (*other
 * its id): the attach was refused and no inbound ESP is decrypted.
 */
int attach_in_state(const struct agent *a, const struct table_iface *f, int *dev, __u32 *other)
{
	int k;

	*other = 0;
	*dev = tunnel_dev(f);
	if (!*dev)
		return 0;
	for (k = 0; k < a->n_xdp; k++)
		if (a->xdp_devs[k] == *dev)
			return 1;
	if (!bpf_xdp_query_id(*dev, 0, other) && *other)
		return -EBUSY;
	return 0;
}

/* A peer on the shared block (--tc-hook block) whose filter is there: the filter's program once a show. */
static bool on_block(int idx, __u32 *block_prog)
{
	if (tcblock_bound(idx) != TCBLOCK_INDEX)
		return false;
	if (*block_prog == ATTACH_BLOCK_UNKNOWN)
		*block_prog = tcblock_prog(TCBLOCK_INDEX);
	return *block_prog;
}

const char *attach_out_state(const struct agent *a, const char *name, __u32 *block_prog)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
	char peer[IFNAMSIZ], path[256];
	int idx, fd, ret;

	netdev_peer_name(name, peer, sizeof(peer));
	idx = if_nametoindex(peer);	/* one ioctl: a show asks this of every interface */
	if (!idx)
		return NULL;
	tc_pin_path(a, idx, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_link_info info = {};
		__u32 n = sizeof(info);

		/*
		 * A link whose device went has ifindex 0: detached.  The
		 * tcx member's ifindex is where the xdp one's is (libbpf
		 * 1.1's header has no tcx member).
		 */
		ret = bpf_obj_get_info_by_fd(fd, &info, &n);
		close(fd);
		if (!ret && info.xdp.ifindex)
			return "tcx";
	}
	/* The agent's own mode asked first: one round trip for most peers, not two. */
	if (a->tc_hook == TC_HOOK_BLOCK && on_block(idx, block_prog))
		return "block";
	{
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);

		log_libbpf_quiet(true);
		ret = bpf_tc_query(&hook, &opts);
		log_libbpf_quiet(false);
	}
	if (!ret)
		return "filter";
	return a->tc_hook != TC_HOOK_BLOCK && on_block(idx, block_prog) ? "block" : NULL;
}

void attach_dev_name(int idx, char *dev)
{
	if (!if_indextoname(idx, dev))
		snprintf(dev, IF_NAMESIZE, "#%d", idx);
}

int attach_refused_text(int idx, __u32 other, char *out, size_t len)
{
	char dev[IF_NAMESIZE];

	attach_dev_name(idx, dev);
	return snprintf(out, len, "xdp_esp_in is not attached to %s (another XDP program, id %u, "
			"holds it): no inbound ESP is decrypted", dev, other);
}

int attach_warn(const struct agent *a, const struct table_iface *f, char *out, size_t len)
{
	char msg[160];
	__u32 other;
	int idx;

	if (attach_in_state(a, f, &idx, &other) != -EBUSY)
		return 0;
	attach_refused_text(idx, other, msg, sizeof(msg));
	return snprintf(out, len, "ipsecifctl: warning: %s: %s\n", f->name, msg);
}
