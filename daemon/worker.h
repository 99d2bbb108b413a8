/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One engine worker (ipsecif-engine): an AF_XDP socket on one rx queue
 * of the workers' device, whose frames it seals or opens in place
 * (engcipher.h) and sends back at the same length.
 */
#ifndef IPSECIF_WORKER_H
#define IPSECIF_WORKER_H

#include <linux/types.h>

struct worker_opts {
	const char *dev;	/* the worker's device (ipsecif-wQ) */
	__u32 queue;		/* its rx queue (0: a device a worker) */
	int keys_fd;		/* memfd: the key table, mapped read-only */
	int status_fd;		/* memfd: the workers' status blocks */
	__u32 index;		/* ours among them, and our key in the xsks map */
	int xsks_fd;		/* the XSKMAP to join, or -1 */
	int cpu;		/* to pin to, or -1 */
};

/*
 * Set up and run until SIGTERM or SIGINT.  0 after a signal, -errno when
 * setting up failed; a message on stderr says which step.
 */
int worker_run(const struct worker_opts *o);

#endif /* IPSECIF_WORKER_H */
