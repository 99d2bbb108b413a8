// SPDX-License-Identifier: GPL-2.0-only
/*
 * Programs for the network benchmark (scripts/bench.py), not for the data
 * path:
 *
 * - xdp_fwd_plain: IPv4 forwarding in XDP without any cryptography, the
 *   ceiling that the XDP line-rate path's redirection could reach;
 * - xdp_sink: counts the generator's packets (UDP to port BENCH_PORT)
 *   where they arrive, and drops them there;
 * - xdp_pass: nothing, for a veth that must take XDP redirects (a veth
 *   has NAPI only with an XDP program or GRO, and GRO would merge TCP);
 * - xdp_gen: the traffic generator's program (tests/bench_gen.c): run
 *   with BPF_F_TEST_XDP_LIVE_FRAMES, its XDP_TX sends the frame out of
 *   the device named in the context, as xdp-trafficgen does; it counts
 *   its runs in gen_count.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "fwd.h"

#define BENCH_PORT	9	/* discard (RFC 863) */

char LICENSE[] SEC("license") = "GPL";

/* Key 0: packets counted by xdp_sink, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/*
 * Key 0: runs of xdp_gen, per CPU.  A signal cuts a test run short with
 * -EINTR and no count, so the generator counts here instead.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_count SEC(".maps");

/* The generator's frame, set before load (tests/bench_gen.c). */
#define GEN_FRAME_LEN	60
const volatile __u8 gen_frame[GEN_FRAME_LEN];

/*
 * Live frames are recycled without being initialised again, and whoever
 * forwards them (a gateway's TTL and MAC rewrite) writes into the same
 * pages: the frame is written whole before each send.
 */
SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u64 *n;
	int i;

	if (data + GEN_FRAME_LEN > end)
		return XDP_ABORTED;
	for (i = 0; i < GEN_FRAME_LEN; i++)
		((__u8 *)data)[i] = gen_frame[i];
	n = bpf_map_lookup_elem(&gen_count, &zero);
	if (n)
		(*n)++;
	return XDP_TX;
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(BENCH_PORT))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&sink_count, &zero);
	if (n)
		(*n)++;
	return XDP_DROP;
}

/*
 * The route of an IPv4 packet with its neighbour, the TTL taken down
 * (fwd.h, as the line-rate path does it), and the frame sent; whatever
 * that cannot finish goes to the kernel.
 */
SEC("xdp")
int xdp_fwd_plain(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *ip = data + sizeof(*eth);
	struct bpf_fib_lookup fib;

	if ((void *)(ip + 20) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip[0] != 0x45)
		return XDP_PASS;
	if (fib_inner(ctx, &fib, ip, false, ld_be32(ip) & 0xffff, ctx->ingress_ifindex) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	if (!fwd_ttl(ip, false))
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}
