// SPDX-License-Identifier: GPL-2.0-only
/*
 * The engine worker's test (tests/test_engine_worker.py): every frame
 * arriving on the workers' device goes to the AF_XDP socket of its rx
 * queue, as BPF's own program on ipsecif-engw will do.  With no socket
 * in xsks at that queue the frame passes to the stack and "unbound"
 * counts it: user space cannot read an XSKMAP (lookups from a system
 * call are refused), so this count is the test's view of an entry gone.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "ipsecif_engine.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, IPSECIF_ENG_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPSECIF_ENG_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} unbound SEC(".maps");

SEC("xdp")
int eng_redirect(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	__u64 *n;

	if (!bpf_map_lookup_elem(&xsks, &q)) {
		n = bpf_map_lookup_elem(&unbound, &q);
		if (n)
			__sync_fetch_and_add(n, 1);
		return XDP_PASS;
	}
	return bpf_redirect_map(&xsks, q, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
