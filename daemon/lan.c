// SPDX-License-Identifier: GPL-2.0-only
/*
 * The LAN devices of the XDP line-rate path (docs/DATAPATH.md): "lan add
 * DEV" puts xdp_lan on a LAN-facing device, which then seals what it
 * routes into an ipsecif interface without the stack.  A device has one
 * XDP program, so an underlay (a tunnel starts at one of its addresses,
 * whether or not xdp_esp_in is on it yet), or ipsecN and its peer, are
 * refused; a LAN device deleted that a tunnel starts at gets xdp_esp_in.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "errmsg.h"
#include "lan.h"

int lan_find(const struct agent *a, int idx)
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

void lan_prune(struct agent *a)
{
	char dev[IF_NAMESIZE];
	int k;

	for (k = a->n_lan; k-- > 0;)
		if (!if_indextoname(a->lan_devs[k], dev)) {
			logmsg(LOG_INFO, "LAN device %d is gone: xdp_lan with it", a->lan_devs[k]);
			lan_forget(a, k);
		}
}

int lan_cmd(struct agent *a, const struct ifcmd *c, char *out, size_t len)
{
	const struct table_iface *f;
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
		/* A tunnel's underlay that xdp_lan kept xdp_esp_in from: now it can. */
		if (!attach_tunnel_at(a, idx, &f) && f)
			attach_in(a, f);
		return 0;
	}
	if (k >= 0)
		return errmsg(out, len, -EEXIST, "ipsecifctl: %s: xdp_lan is on it already\n",
			      c->lan_dev);
	for (k = 0; k < a->n_xdp; k++)
		if (a->xdp_devs[k] == (int)idx)
			return errmsg(out, len, -EBUSY, "ipsecifctl: %s: an underlay device, "
				      "xdp_esp_in is on it\n", c->lan_dev);
	ret = attach_tunnel_at(a, idx, &f);
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: %s: its addresses: %s\n", c->lan_dev,
			      strerror(-ret));
	if (f)
		return errmsg(out, len, -EBUSY, "ipsecifctl: %s: %s's tunnel starts here: its "
			      "underlay, xdp_esp_in's device, not a LAN device\n", c->lan_dev,
			      f->name);
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
