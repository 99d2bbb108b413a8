/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kernel-ipsecif: strongSwan's kernel IPsec interface (kernel_ipsec_t)
 * on ipsecif-agent.  charon keys the SAs; the agent puts them into the
 * eBPF data path of the ipsecif interface whose reqid they carry.
 */
#ifndef KERNEL_IPSECIF_PLUGIN_H_
#define KERNEL_IPSECIF_PLUGIN_H_

#include <plugins/plugin.h>
#include <kernel/kernel_ipsec.h>

typedef struct kernel_ipsecif_plugin_t kernel_ipsecif_plugin_t;

struct kernel_ipsecif_plugin_t {
	plugin_t plugin;
};

/* The kernel_ipsec_t on the agent (kernel_ipsecif_ipsec.c). */
kernel_ipsec_t *kernel_ipsecif_ipsec_create(void);

#endif /* KERNEL_IPSECIF_PLUGIN_H_ */
