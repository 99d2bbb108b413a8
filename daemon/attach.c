// SPDX-License-Identifier: GPL-2.0-only
/*
 * The programs on devices.  xdp_esp_in sits on every underlay device that
 * holds a tunnel's source address, xdp_lan on the LAN devices (lan.c),
 * each through a bpf_link pinned as link_KIND_IFINDEX so that it outlives
 * the agent and a new agent swaps its own program in atomically.
 * tc_esp_out is a TC filter (fixed handle 1, priority 1) at the ingress
 * of ipsecN's veth peer: there, unlike at ipsecN's own egress, local TCP
 * no longer carries a partial checksum (docs/DATAPATH.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "errmsg.h"
#include "lan.h"
#include "netdev.h"

int attach_out(struct agent *a, const char *name, char *err, size_t errlen)
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
	}
	return ret ? errmsg(err, errlen, ret, "%s: attaching to %s: %s", name, peer,
			    strerror(-ret)) : 0;
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

/* Does some interface's tunnel start from an address of device idx? */
static bool dev_used(const struct agent *a, int idx)
{
	static const int families[] = { AF_INET, AF_INET6 };
	union ipsecif_addr *addrs = NULL, *p;
	int n = 0, cap = 64, fam;
	bool used = false;
	size_t i;

	/* That device's addresses (a dump of its own), sorted, then the table: no dump of all. */
	for (fam = 0; fam < 2 && !used; fam++) {
		do {
			if (n > cap)
				cap = n;
			p = realloc(addrs, cap * sizeof(*addrs));
			if (!p) {
				free(addrs);
				return true;	/* nothing known: kept */
			}
			addrs = p;
			n = netdev_dev_addrs(idx, families[fam], addrs, cap);
		} while (n > cap);
		if (n < 0) {
			free(addrs);
			return true;
		}
		qsort(addrs, n, sizeof(*addrs), addr_cmp);
		for (i = 0; n && !used && i < a->t.n_ifaces; i++) {
			const struct table_iface *t = &a->t.ifaces[i];

			used = t->tunnel && t->family == families[fam] &&
			       bsearch(&t->src, addrs, n, sizeof(*addrs), addr_cmp);
		}
	}
	free(addrs);
	return used;
}

void xdp_release_unused(struct agent *a)
{
	bool used[MAX_XDP_DEVS] = {};
	int k;

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
