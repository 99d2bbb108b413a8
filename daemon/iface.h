/* SPDX-License-Identifier: GPL-2.0-only */
/* ipsecN: interface commands, the interface maps, the MTU. */
#ifndef IPSECIF_IFACE_H
#define IPSECIF_IFACE_H

#include "agentd.h"
#include "ctl.h"

/* One ifconfig-style command; a reply (shown output or an error) into out. */
int iface_cmd(struct agent *a, const struct ctl_req *req, char *out, size_t len);
/* ipsecN's MTU (automatic unless "mtu N" fixed it) onto the device and into the maps. */
int mtu_refresh(struct agent *a, const struct table_iface *f, int mtu);
/* Every automatic MTU again, after the outbound SAs (their suites) changed. */
void mtu_refresh_all(struct agent *a);
/* Underlay MTU changes reach ipsecN within a second: the loop calls this. */
void mtu_tick(struct agent *a);
/* ipsecN's MTU as it stands, or the default while none can be read. */
int mtu_now(const char *name);
/* A device's number from sysfs ("mtu", "flags": decimal or 0x...), or -1. */
long dev_attr(const char *dev, const char *attr);

#endif /* IPSECIF_IFACE_H */
