/* SPDX-License-Identifier: GPL-2.0-only */
/* The agent's programs on devices: xdp_esp_in and xdp_lan links, tc_esp_out's tcx link. */
#ifndef IPSECIF_ATTACH_H
#define IPSECIF_ATTACH_H

#include <ifaddrs.h>
#include "agentd.h"

struct bpf_link;
struct bpf_program;

/* --tc-hook's words, by enum tc_hook: what start takes and status shows. */
extern const char *const tc_hook_names[TC_HOOKS];
/* tc_esp_out at the TC ingress of interface name's veth peer. */
int attach_out(struct agent *a, const char *name, char *err, size_t errlen);
/*
 * The shared block's one filter (--tc-hook block) runs this agent's
 * tc_esp_out: 0 if it did already, 1 once made so (made, or its program
 * replaced), or -errno.
 */
int attach_block_filter(struct agent *a);
/* xdp_esp_in onto the device holding f's tunnel source, once. */
void attach_in(struct agent *a, const struct table_iface *f);
int attach_tunnel_at(const struct agent *a, int idx, const struct table_iface **f);
/* p at idx's TC ingress through a tcx link pinned as link_KIND_IDX (made, or updated): 0 or -errno. */
int attach_tcx(struct agent *a, const struct bpf_program *p, const char *kind, int idx);
/* prog onto device idx through a link pinned as link_KIND_IDX (adopted if pinned). */
int xdp_attach(struct agent *a, struct bpf_program *prog, const char *kind, int idx,
	       struct bpf_link **out);
/* xdp_esp_in off the devices no interface's tunnel starts from any more. */
void xdp_release_unused(struct agent *a);
/* An adopting agent's programs take over every attachment, in place. */
void attach_adopt(struct agent *a);
/* The links let go; with a->flush, unpinned, so the programs come off. */
void attach_close(struct agent *a);
/* The ifindex of the device holding f's tunnel source address, or 0. */
int tunnel_dev(const struct table_iface *f);
/*
 * Whether xdp_esp_in carries f's inbound ESP: 1 on *dev; 0 not yet (no
 * device holds the tunnel's source, or no SA); -EBUSY refused, another
 * owner's XDP program (id *other) on *dev.
 */
int attach_in_state(const struct agent *a, const struct table_iface *f, int *dev, __u32 *other);
/*
 * How tc_esp_out sits on interface name's peer: "tcx", "filter" (old
 * kernels, --tc-hook filter), "block" (--tc-hook block), or NULL.
 * *block_prog: the shared block's program, asked once for a whole show
 * (ATTACH_BLOCK_UNKNOWN before).
 */
#define ATTACH_BLOCK_UNKNOWN	((__u32)-1)
const char *attach_out_state(const struct agent *a, const char *name, __u32 *block_prog);
/* Device idx's name into dev (IF_NAMESIZE), or "#idx" if it has none. */
void attach_dev_name(int idx, char *dev);
/* Why xdp_esp_in is off device idx (another program, id other, holds it), into out. */
int attach_refused_text(int idx, __u32 other, char *out, size_t len);
/* A warning line for f into out when its xdp_esp_in was refused; its length, or 0. */
int attach_warn(const struct agent *a, const struct table_iface *f, char *out, size_t len);
/* The ifindex of the device in ifa holding f's tunnel source address, or 0. */
int tunnel_dev_in(struct ifaddrs *ifa, const struct table_iface *f);

#endif /* IPSECIF_ATTACH_H */
