// SPDX-License-Identifier: GPL-2.0-only
/*
 * A 64-byte UDP traffic generator for the network benchmark
 * (scripts/bench.py), in the manner of xdp-trafficgen, whose Debian
 * build (xdp-tools 1.3.1) no longer loads on recent kernels (it wants the
 * xdp_redirect_map_err tracepoint).  Each thread runs xdp_gen
 * (bpf/bench.bpf.c) through BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES: every repetition writes the frame and
 * sends it out of DEV through its ndo_xdp_xmit, with no skb and no
 * socket.
 *
 * Usage: bench_gen DEV DST_MAC SRC_IP DST_IP [-t THREADS] [-s SECONDS]
 *   Thread i runs on CPU i (THREADS > 1); until SIGINT, SIGTERM or
 *   SECONDS; prints "sent N packets in S s".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.skel.h"

#define FRAME_LEN	60	/* 64 on the wire with the FCS */
#define MAX_THREADS	64
#define DST_PORT	9	/* xdp_sink counts these */

static volatile sig_atomic_t stop;

struct gen {
	pthread_t tid;
	int cpu;			/* -1: wherever the scheduler puts it */
	int prog_fd, ifindex;
	const __u8 *frame;
	unsigned long long sent;
	int err;
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The RFC 1071 checksum of an IPv4 header. */
static __u16 ip_csum(const __u8 *h)
{
	__u32 sum = 0;
	int i;

	for (i = 0; i < 20; i += 2)
		sum += (h[i] << 8) | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static int build_frame(__u8 *f, const __u8 dmac[6], const __u8 smac[6], __u32 src, __u32 dst)
{
	__u8 *ip = f + 14, *udp = ip + 20;
	__u16 sum;

	memset(f, 0, FRAME_LEN);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = FRAME_LEN - 14;			/* total length */
	ip[8] = 64;				/* TTL */
	ip[9] = 17;				/* UDP */
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	sum = ip_csum(ip);
	ip[10] = sum >> 8;
	ip[11] = sum & 0xff;
	udp[0] = 0x30;				/* source port 12345 */
	udp[1] = 0x39;
	udp[3] = DST_PORT;
	udp[5] = FRAME_LEN - 34;		/* length; checksum 0: none (RFC 768) */
	return 0;
}

static void *gen_run(void *arg)
{
	struct gen *g = arg;
	struct xdp_md ctx = { .data_end = FRAME_LEN, .ingress_ifindex = g->ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = g->frame, .data_size_in = FRAME_LEN,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1 << 16,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

	if (g->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(g->cpu, &set);
		g->err = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (g->err)
			return NULL;
	}
	while (!stop) {
		/* A signal cuts a run short (-EINTR); its count is then unknown. */
		g->err = bpf_prog_test_run_opts(g->prog_fd, &opts);
		if (g->err == -EINTR) {
			g->err = 0;
			break;
		}
		if (g->err)
			break;
		g->sent += opts.repeat;
	}
	return NULL;
}

static int parse_mac(const char *s, __u8 mac[6])
{
	unsigned int b[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

static int dev_mac(const char *dev, __u8 mac[6])
{
	char path[64], buf[32];
	FILE *f;
	int ret = -ENODEV;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", dev);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (fgets(buf, sizeof(buf), f))
		ret = parse_mac(buf, mac);
	fclose(f);
	return ret;
}

static int generate(const char *dev, const char *dmac_s, const char *src_s, const char *dst_s,
		    int threads, int seconds)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct gen g[MAX_THREADS] = {};
	__u8 frame[FRAME_LEN], dmac[6], smac[6];
	struct bench *skel = NULL;
	struct timespec t0, t1;
	unsigned long long sent = 0;
	__u32 src, dst;
	int i, started = 0, ret, ifindex = if_nametoindex(dev);

	if (!ifindex)
		return fprintf(stderr, "bench_gen: %s: no such device\n", dev), -ENODEV;
	if (parse_mac(dmac_s, dmac))
		return fprintf(stderr, "bench_gen: '%s': not a MAC address\n", dmac_s), -EINVAL;
	if (inet_pton(AF_INET, src_s, &src) != 1 || inet_pton(AF_INET, dst_s, &dst) != 1)
		return fprintf(stderr, "bench_gen: '%s' or '%s': not an IPv4 address\n", src_s,
			       dst_s), -EINVAL;
	ret = dev_mac(dev, smac);
	if (ret)
		return fprintf(stderr, "bench_gen: %s: no MAC address\n", dev), ret;
	build_frame(frame, dmac, smac, src, dst);

	skel = bench__open();
	if (!skel) {
		ret = -errno;
		fprintf(stderr, "bench_gen: opening bench.bpf.o: %s\n", strerror(-ret));
		goto out;
	}
	_Static_assert(sizeof(skel->rodata->gen_frame) == FRAME_LEN, "one frame length");
	memcpy((void *)skel->rodata->gen_frame, frame, FRAME_LEN);
	ret = bench__load(skel);
	if (ret) {
		fprintf(stderr, "bench_gen: loading bench.bpf.o: %s\n", strerror(-ret));
		goto out;
	}
	/* No SA_RESTART: a signal interrupts the running test run. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < threads; i++, started++) {
		g[i] = (struct gen){ .cpu = threads > 1 ? i : -1, .ifindex = ifindex,
				     .prog_fd = bpf_program__fd(skel->progs.xdp_gen), .frame = frame };
		ret = -pthread_create(&g[i].tid, NULL, gen_run, &g[i]);
		if (ret) {
			stop = 1;
			break;
		}
	}
	if (seconds)
		alarm(seconds);
	while (!stop && !ret)
		pause();
	/* Every thread out of its test run, whichever got the signal. */
	for (i = 0; i < started; i++)
		pthread_kill(g[i].tid, SIGUSR1);
	for (i = 0; i < started; i++) {
		pthread_join(g[i].tid, NULL);
		sent += g[i].sent;
		if (g[i].err && !ret)
			ret = g[i].err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ret)
		fprintf(stderr, "bench_gen: sending on %s: %s\n", dev, strerror(-ret));
	printf("sent %llu packets in %.3f s\n", sent,
	       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
out:
	bench__destroy(skel);
	return ret;
}

int main(int argc, char **argv)
{
	int threads = 1, seconds = 0, opt;

	while ((opt = getopt(argc, argv, "t:s:")) != -1) {
		if (opt == 't')
			threads = atoi(optarg);
		else if (opt == 's')
			seconds = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 4 || threads < 1 || threads > MAX_THREADS || seconds < 0) {
		fprintf(stderr, "usage: bench_gen DEV DST_MAC SRC_IP DST_IP [-t THREADS 1-%d] "
			"[-s SECONDS]\n", MAX_THREADS);
		return 2;
	}
	return generate(argv[optind], argv[optind + 1], argv[optind + 2], argv[optind + 3],
			threads, seconds) ? 1 : 0;
}
