/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ipsecifctl's interface commands, spelled as ifconfig(8) spells them on
 * FreeBSD and NetBSD, so the if_ipsec(4) and ipsecif(4) examples run with
 * only the command name changed:
 *
 *   [NAME [create [reqid N]] [destroy] [reqid N]
 *         [[inet|inet6] tunnel SRC DST] [-tunnel|deletetunnel]
 *         [inet ADDR[/PLEN] [PEER]] [inet6 ADDR[/PLEN] [PEER]]
 *         [[-]link0|[-]link1|[-]link2] [[-]xdpfwd] [mtu N] [up|down]]
 *   lan add|del DEV
 *   stats [-o openmetrics]
 *   engine [on [workers N] [cpus A,B,...] | off | min SUITE BYTES]
 *
 * Readable aliases: nat-t (link0), ecn (link1), ipv6 (link2), each with -.
 * xdpfwd (IPSECIF_F_XDP_FWD), "lan" and "stats" are ours: the XDP line-rate path
 * (docs/DATAPATH.md), decapsulated packets forwarded in XDP and xdp_lan
 * on a LAN-facing device; "engine", the vector-crypto engine's workers
 * (docs/ENGINE.md).
 */
#ifndef IPSECIF_IFCMD_H
#define IPSECIF_IFCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/types.h>
#include "ipsecif.h"

#define IFCMD_MAX_ADDRS	4

struct ifcmd_addr {
	int family;
	union ipsecif_addr addr;
	__u8 plen;
	bool has_peer;
	union ipsecif_addr peer;
};

enum ifcmd_lan {
	IFCMD_LAN_NONE,
	IFCMD_LAN_ADD,			/* xdp_lan onto lan_dev */
	IFCMD_LAN_DEL,			/* and off it */
};

enum ifcmd_engine {
	IFCMD_ENGINE_NONE,
	IFCMD_ENGINE_SHOW,		/* "engine" */
	IFCMD_ENGINE_ON,		/* "engine on [workers N] [cpus LIST]" */
	IFCMD_ENGINE_OFF,
	IFCMD_ENGINE_MIN,		/* "engine min SUITE BYTES" */
};

#define IFCMD_MAX_CPUS	64		/* IPSECIF_ENG_MAX_WORKERS */

struct ifcmd {
	char name[IFNAMSIZ];		/* empty: all interfaces */
	enum ifcmd_engine engine;	/* "engine ...": nothing else is set */
	int eng_workers;		/* on: 0, one per online CPU */
	int eng_cpus[IFCMD_MAX_CPUS];	/* on: worker q on eng_cpus[q % eng_n_cpus] */
	int eng_n_cpus;
	int eng_suite;			/* min: enum ipsecif_enc */
	__u16 eng_min;			/* min: text bytes, 0 never */
	enum ifcmd_lan lan;		/* "lan add|del DEV": nothing else is set */
	char lan_dev[IFNAMSIZ];
	bool show;			/* nothing but the name (or nothing at all) */
	bool stats;			/* "stats [-o openmetrics]": the counters as
					 * OpenMetrics (show.c); show is set too, so
					 * that a caller knowing nothing of it shows */
	bool create, destroy;
	bool reqid_set;
	__u32 reqid;
	bool tunnel_set, tunnel_delete;
	int tunnel_family;
	union ipsecif_addr tunnel_src, tunnel_dst;
	__u32 flags_set, flags_clear;	/* IPSECIF_F_* */
	bool mtu_set;
	__u16 mtu;
	int n_addrs;
	struct ifcmd_addr addrs[IFCMD_MAX_ADDRS];
	bool up, down;
};

/*
 * Parse argv (without the program name and global options).  Returns 0,
 * or -EINVAL with "'TOKEN': reason" in err.
 */
int ifcmd_parse(int argc, char *const *argv, struct ifcmd *c, char *err, size_t errlen);

#endif /* IPSECIF_IFCMD_H */
