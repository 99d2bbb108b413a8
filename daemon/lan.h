/* SPDX-License-Identifier: GPL-2.0-only */
/* The LAN devices carrying xdp_lan, the XDP line-rate path's outbound half. */
#ifndef IPSECIF_LAN_H
#define IPSECIF_LAN_H

#include "agentd.h"
#include "ifcmd.h"

/* "lan add|del DEV"; the reply (an error) into out. */
int lan_cmd(struct agent *a, const struct ifcmd *c, char *out, size_t len);
/* k in lan_devs of device idx, or -1. */
int lan_find(const struct agent *a, int idx);
/* Devices that are gone (their XDP program went with them) leave the list. */
void lan_prune(struct agent *a);

#endif /* IPSECIF_LAN_H */
