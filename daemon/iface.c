// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecN, the interface: the ifconfig-style commands (daemon/ifcmd.h
 * parses them), the device they make (daemon/netdev.h), the maps that
 * tell the data path about it (ifaces, if_reqid, if_stats), and its MTU.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "engine.h"
#include "errmsg.h"
#include "iface.h"
#include "ifcmd.h"
#include "lan.h"
#include "mtu.h"
#include "netdev.h"
#include "sadb.h"
#include "show.h"

/* The suite with the largest overhead: the MTU's assumption while no SA says. */
#define WORST_ENC	IPSECIF_ENC_AES_CBC
#define WORST_AUTH	IPSECIF_AUTH_HMAC_SHA256_128

/* ipsecN's default MTU: a 1500-byte underlay, the worst suite, IPv6 and NAT-T. */
static int default_mtu(void)
{
	return ipsecif_inner_mtu(1500, WORST_ENC, WORST_AUTH, AF_INET6, true);
}

long dev_attr(const char *dev, const char *attr)
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

int mtu_now(const char *name)
{
	long mtu = dev_attr(name, "mtu");

	return mtu > 0 ? mtu : default_mtu();
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

/* if_reqid for ipsecN and its peer, and the interface's counters, for reqid. */
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

/*
 * The table's rules for command c, applied to next, a copy of the
 * interfaces (the SAs are shared, and no interface rule touches them).
 */
static int iface_rules(struct table *next, const struct ifcmd *c, char *err, size_t errlen)
{
	int ret = 0;

	if (c->destroy)
		ret = table_destroy(next, c->name, err, errlen);
	else if (c->create)
		ret = table_create(next, c->name, c->reqid, err, errlen);
	else if (!table_find(next, c->name))
		ret = errmsg(err, errlen, -ENODEV, "%s: no such interface", c->name);
	if (!ret && !c->create && c->reqid_set)
		ret = table_set_reqid(next, c->name, c->reqid, err, errlen);
	if (!ret && c->tunnel_set)
		ret = table_set_tunnel(next, c->name, c->tunnel_family, &c->tunnel_src,
				       &c->tunnel_dst, err, errlen);
	if (!ret && c->tunnel_delete)
		ret = table_delete_tunnel(next, c->name, err, errlen);
	if (!ret && (c->flags_set | c->flags_clear))
		ret = table_set_flags(next, c->name, c->flags_set, c->flags_clear, err, errlen);
	return ret;
}

/* The interfaces of next become the table's. */
static void iface_swap(struct agent *a, struct table *next)
{
	free(a->t.ifaces);
	a->t.ifaces = next->ifaces;
	a->t.n_ifaces = next->n_ifaces;
	a->t.cap_ifaces = next->cap_ifaces;
	memcpy(a->t.by_name, next->by_name, sizeof(a->t.by_name));
	memcpy(a->t.by_reqid, next->by_reqid, sizeof(a->t.by_reqid));
}

static int auto_mtu(struct agent *a, const struct table_iface *f);

/*
 * The addresses c adds that its device (there already) has not: 0, or
 * -EEXIST naming one it has, before anything changes (the kernel would
 * refuse it after the command's other changes were made).
 */
static int addrs_new(const struct ifcmd *c, char *err, size_t errlen)
{
	union ipsecif_addr have[64];
	int idx = c->n_addrs ? (int)if_nametoindex(c->name) : 0, i, k, n;
	char buf[INET6_ADDRSTRLEN];

	for (i = 0; idx && i < c->n_addrs; i++) {
		n = netdev_dev_addrs(idx, c->addrs[i].family, have, 64);
		for (k = 0; k < n && k < 64; k++)
			if (!memcmp(&have[k], &c->addrs[i].addr, sizeof(have[k]))) {
				inet_ntop(c->addrs[i].family, &c->addrs[i].addr, buf, sizeof(buf));
				return errmsg(err, errlen, -EEXIST, "%s: has %s already", c->name,
					      buf);
			}
	}
	return 0;
}

/*
 * The rules are checked on a copy of the interfaces, which replaces them
 * once the device work that can fail (create, attach) has succeeded: a
 * refused command changes nothing.
 */
int iface_cmd(struct agent *a, const struct ctl_req *req, char *out, size_t len)
{
	struct table next = a->t;
	const struct table_iface *old;
	struct table_iface *f;
	__u32 old_reqid;
	bool release;
	struct ifcmd c;
	char err[512];
	int ret, i, mtu;

	out[0] = 0;
	ret = ifcmd_parse(req->argc, (char *const *)req->argv, &c, err, sizeof(err));
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: %s\n", err);
	lan_prune(a);
	a->writes = !c.show;
	if (c.lan)
		return lan_cmd(a, &c, out, len);
	if (c.engine)
		return engine_cmd(a, &c, req->flags & CTL_F_JSON, out, len);
	if (c.show)
		return show_ifaces(a, c.name, req->flags & CTL_F_JSON, out, len);

	next.ifaces = malloc((a->t.cap_ifaces + 1) * sizeof(*next.ifaces));
	if (!next.ifaces)
		return errmsg(out, len, -ENOMEM, "ipsecif-agent: out of memory\n");
	memcpy(next.ifaces, a->t.ifaces, a->t.n_ifaces * sizeof(*next.ifaces));
	next.cap_ifaces = a->t.cap_ifaces + 1;
	ret = iface_rules(&next, &c, err, sizeof(err));
	if (ret) {
		free(next.ifaces);
		return errmsg(out, len, ret, "ipsecifctl: %s\n", err);
	}
	old = table_find(&a->t, c.name);
	ret = old && !c.destroy ? addrs_new(&c, err, sizeof(err)) : 0;
	if (ret) {
		free(next.ifaces);
		return errmsg(out, len, ret, "ipsecifctl: %s\n", err);
	}
	old_reqid = old ? old->reqid : 0;
	/* Only a tunnel that moved or went can leave an underlay device unused. */
	release = old && old->tunnel && (c.destroy || c.tunnel_set || c.tunnel_delete);

	/* The device first, then the table and the maps. */
	if (c.destroy) {
		reqid_maps(a, c.name, old_reqid, false);
		ret = netdev_destroy(c.name, err, sizeof(err));
		iface_swap(a, &next);
		sadb_sync_reqid(a, old_reqid);
		if (release)
			xdp_release_unused(a);
		return ret ? errmsg(out, len, ret, "ipsecif-agent: %s\n", err) : 0;
	}
	if (c.create) {
		/*
		 * At the MTU it will have: every change of a device's MTU walks
		 * the namespace's whole IPv6 routing table (rt6_mtu_change), a
		 * cost that grows with the devices.
		 */
		ret = netdev_create(c.name, c.mtu_set ? c.mtu : auto_mtu(a, table_find(&next, c.name)),
				    err, sizeof(err));
		if (!ret)
			ret = attach_out(a, c.name, err, sizeof(err));
		if (ret) {
			netdev_destroy(c.name, NULL, 0);
			free(next.ifaces);
			return errmsg(out, len, ret, "ipsecif-agent: %s\n", err);
		}
	}
	iface_swap(a, &next);
	f = table_find(&a->t, c.name);
	if (c.create) {
		reqid_maps(a, c.name, f->reqid, true);
	} else if (c.reqid_set && old_reqid != f->reqid) {
		reqid_maps(a, c.name, old_reqid, false);
		reqid_maps(a, c.name, f->reqid, true);
	}
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
	if (c.mtu_set)
		f->mtu_user = true;
	mtu = c.mtu_set ? c.mtu : dev_attr(c.name, "mtu");
	ret = mtu_refresh(a, f, mtu > 0 ? mtu : default_mtu());
	if (ret)
		return errmsg(out, len, ret, "ipsecif-agent: %s: the data path's maps: %s\n",
			      c.name, strerror(-ret));
	/* SAs waiting for this interface, or leaving it: its reqid's, and its old one's */
	sadb_sync_reqid(a, f->reqid);
	if (old_reqid != f->reqid)
		sadb_sync_reqid(a, old_reqid);
	if (release)
		xdp_release_unused(a);
	out[0] = 0;
	attach_warn(a, f, out, len);	/* the command stands; its XDP half may not */
	return 0;
}

/*
 * ipsecN's MTU unless "mtu N" fixed it: what the underlay device's MTU
 * leaves after the outbound SA's overhead (the worst suite while there is
 * none), with NAT-T's 8 bytes under link0 or for an outbound SA in UDP,
 * so that no ESP packet is fragmented (RFC 4459 §3).  A 1500-byte
 * underlay while there is no tunnel.
 */
/* The MTU of underlay device idx, or -1. */
static long underlay_mtu(int idx)
{
	char name[IF_NAMESIZE];

	return idx && if_indextoname(idx, name) ? dev_attr(name, "mtu") : -1;
}

static int auto_mtu_in(const struct table_iface *f, long ul, const struct table_sa *out)
{
	enum ipsecif_enc enc = out ? out->enc : WORST_ENC;
	enum ipsecif_auth auth = out ? out->auth : WORST_AUTH;
	/* A key manager's NAT-T SA (RFC 3948) without link0. */
	bool natt = f->flags & IPSECIF_F_NATT || (out && out->flags & IPSECIF_SA_F_NATT);
	int mtu;

	if (ul <= 0)
		ul = 1500;
	/*
	 * Without an SA, whatever the tunnel: nothing is carried yet, and a
	 * tunnel set then changes no MTU (each change walks the namespace's
	 * IPv6 routes: thousands of interfaces), only the SA's suite does.
	 */
	mtu = ipsecif_inner_mtu(ul, enc, auth, out && f->tunnel ? f->family : AF_INET6, natt);
	if (mtu < 0)
		return IPSECIF_MTU_MIN;	/* -ERANGE: the least the BSDs allow */
	return mtu > 8192 ? 8192 : mtu;
}

/* f's outbound SA that decides its MTU (the last in the table), or NULL. */
static const struct table_sa *mtu_sa(const struct agent *a, const struct table_iface *f)
{
	const struct table_sa *out = NULL;
	size_t i;
	bool in;

	for (i = 0; i < a->t.n_sas; i++)
		if (a->t.sas[i].reqid == f->reqid &&
		    table_sa_iface(&a->t, &a->t.sas[i], &in) == f && !in)
			out = &a->t.sas[i];
	return out;
}

static int auto_mtu(struct agent *a, const struct table_iface *f)
{
	return auto_mtu_in(f, underlay_mtu(tunnel_dev(f)), mtu_sa(a, f));
}

int mtu_refresh(struct agent *a, const struct table_iface *f, int mtu)
{
	if (!f->mtu_user) {
		mtu = auto_mtu(a, f);
		netdev_set_mtu(f->name, mtu, NULL, 0);
	}
	return iface_sync(a, f, mtu);
}

void mtu_refresh_all(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->t.n_ifaces; i++)
		if (a->t.ifaces[i].tunnel && !a->t.ifaces[i].mtu_user)
			mtu_refresh(a, &a->t.ifaces[i], 0);	/* the outbound suite decides */
}

#define MTU_TICK_DEVS	256	/* devices whose MTU mtu_tick reads a tick */

/* An underlay looked up once a tick for all the tunnels from one source. */
struct ul_cache {
	int family;
	long mtu;
	union ipsecif_addr src;
};

void mtu_tick(struct agent *a)
{
	struct ul_cache ul[16];
	__u32 *out = NULL;
	__u64 now = mono_ns();
	int n_ul = 0, k;
	long ul_mtu;
	size_t i;
	bool in;

	/*
	 * Once a second, however often the agent wakes (events, subscribers):
	 * with thousands of interfaces, each look is made once for them all
	 * (the SAs' suites, each tunnel source's device), not per interface.
	 */
	if (now < a->next_mtu_check)
		return;
	a->next_mtu_check = now + 1000000000ULL;
	if (!a->t.n_ifaces)
		return;
	if (a->mtu_turn >= a->t.n_ifaces)
		a->mtu_turn = 0;
	/* Each reqid's outbound SA that decides (the last in the table), plus 1. */
	out = calloc(TABLE_REQID_MAX + 1, sizeof(*out));
	if (!out)
		return;
	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *s = &a->t.sas[i];

		if (s->reqid <= TABLE_REQID_MAX && table_sa_iface(&a->t, s, &in) && !in)
			out[s->reqid] = i + 1;
	}
	for (i = 0; i < a->t.n_ifaces; i++) {
		const struct table_iface *f = &a->t.ifaces[i];
		struct ipsecif_iface v;
		long cur;

		if (!f->tunnel || f->mtu_user)
			continue;
		for (k = 0; k < n_ul; k++)
			if (ul[k].family == f->family && !memcmp(&ul[k].src, &f->src, sizeof(f->src)))
				break;
		if (k < n_ul) {
			ul_mtu = ul[k].mtu;
		} else {
			ul_mtu = underlay_mtu(tunnel_dev(f));
			if (n_ul < 16)
				ul[n_ul++] = (struct ul_cache){ f->family, ul_mtu, f->src };
		}
		/*
		 * What the agent last set (the ifaces map says) for every one; the
		 * device itself (a sysfs read: someone else's "ip link set mtu")
		 * for MTU_TICK_DEVS of them a tick, in turn.
		 */
		if ((i + a->t.n_ifaces - a->mtu_turn) % a->t.n_ifaces < MTU_TICK_DEVS)
			cur = dev_attr(f->name, "mtu");
		else if (bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.ifaces), &f->reqid, &v))
			cur = -1;
		else
			cur = v.mtu;
		if (cur > 0 && cur != auto_mtu_in(f, ul_mtu, out[f->reqid] ?
						    &a->t.sas[out[f->reqid] - 1] : NULL))
			mtu_refresh(a, f, 0);
	}
	a->mtu_turn = (a->mtu_turn + MTU_TICK_DEVS) % a->t.n_ifaces;
	free(out);
}
