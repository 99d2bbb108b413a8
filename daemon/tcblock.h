/* SPDX-License-Identifier: GPL-2.0-only */
/* The shared TC filter block of --tc-hook block (tcblock.c). */
#ifndef IPSECIF_TCBLOCK_H
#define IPSECIF_TCBLOCK_H

#include <linux/types.h>

/* The block's index in each namespace: "ips" and 1, clear of tc-block(8)'s small numbers. */
#define TCBLOCK_INDEX	0x69707301

/* An ingress qdisc on device ifindex bound to shared block: 0 or -errno (-EEXIST: a qdisc there). */
int tcblock_bind(int ifindex, __u32 block);
/* prog_fd (named name) as the block's one filter, made or its program replaced: 0 or -errno. */
int tcblock_filter(__u32 block, int prog_fd, const char *name);
/* The shared block ifindex's ingress qdisc binds, or 0 (none, or no qdisc). */
__u32 tcblock_bound(int ifindex);
/* The id of the program the block's filter runs, or 0 (no filter, or no block). */
__u32 tcblock_prog(__u32 block);

#endif /* IPSECIF_TCBLOCK_H */
