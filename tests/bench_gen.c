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
 *   Thread i runs on CPU i (THREADS > 1; one thread stays on the CPU it
 *   starts on); until SIGINT, SIGTERM or SECONDS; prints "sent N packets
 *   in S s", then "cpu C idle F steal F" for each CPU a thread ran on:
 *   the fraction of the sending time that CPU was idle (or taken by the
 *   hypervisor), from /proc/stat.  A generator whose CPU idles measures
 *   its own duty cycle, not the path: it warns when idle is above 5 %.
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
#define MAX_CPUS	1024
#define IDLE_WARN	0.05

/*
 * Frames per test run.  Each run sets up and tears down its live-frame
 * page pool, and with 2^16 frames a run took 31.7 ms of wall time for
 * 10 ms of sending, its CPU halted the rest (docs/BENCHMARKS.md): a run
 * now lasts until the generator is stopped, which interrupts it (-EINTR)
 * with no count; the count is xdp_gen's own (gen_count).
 */
#define GEN_REPEAT	(1U << 31)

static volatile sig_atomic_t stop;

struct gen {
	pthread_t tid;
	int cpu;			/* where the thread runs */
	int prog_fd, ifindex;
	const __u8 *frame;
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
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = GEN_REPEAT,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
	cpu_set_t set;
	sigset_t usr1;

	/* The main thread takes the stop signals; SIGUSR1 ends a test run. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	CPU_ZERO(&set);
	CPU_SET(g->cpu, &set);
	g->err = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!g->err && !stop) {
		g->err = bpf_prog_test_run_opts(g->prog_fd, &opts);
		if (g->err == -EINTR)
			g->err = 0;		/* the loop sees stop */
	}
	return NULL;
}

/* Idle, steal and total jiffies of every CPU so far (/proc/stat). */
struct cpu_times {
	unsigned long long idle, steal, total;
};

static int cpu_times(struct cpu_times *t, int n)
{
	unsigned long long v[10];
	char line[512];
	FILE *f = fopen("/proc/stat", "r");
	int cpu, k;

	if (!f)
		return -errno;
	memset(t, 0, n * sizeof(*t));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
			continue;
		memset(v, 0, sizeof(v));
		k = sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		if (k < 5 || cpu < 0 || cpu >= n)
			continue;
		/* user nice system idle iowait irq softirq steal */
		t[cpu].idle = v[3] + v[4];
		t[cpu].steal = v[7];
		t[cpu].total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	}
	fclose(f);
	return 0;
}

/* xdp_gen's runs on every CPU. */
static unsigned long long gen_count(struct bench *skel)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	unsigned long long sum = 0;
	__u64 *v;
	__u32 zero = 0;

	if (ncpu <= 0)
		return 0;
	v = calloc(ncpu, sizeof(*v));
	if (v && !bpf_map__lookup_elem(skel->maps.gen_count, &zero, sizeof(zero), v,
				       ncpu * sizeof(*v), 0))
		for (i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

/*
 * Stop every thread: SIGUSR1 ends a test run, and is sent again until
 * the thread is out, in case it came just before the thread went in.
 */
static void gen_stop(struct gen *g)
{
	struct timespec ts;

	for (;;) {
		pthread_kill(g->tid, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(g->tid, NULL, &ts) == 0)
			return;
	}
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
	static struct cpu_times c0[MAX_CPUS], c1[MAX_CPUS];
	struct gen g[MAX_THREADS] = {};
	__u8 frame[FRAME_LEN], dmac[6], smac[6];
	struct bench *skel = NULL;
	struct timespec t0, t1;
	sigset_t sigs, old;
	double secs;
	__u32 src, dst;
	int i, j, started = 0, ret, cpu, ifindex = if_nametoindex(dev);

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
	cpu = sched_getcpu();
	if (cpu < 0 || cpu >= MAX_CPUS)
		return fprintf(stderr, "bench_gen: no CPU to run on\n"), -ERANGE;

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
	/*
	 * No SA_RESTART: a signal interrupts the running test run.  Blocked
	 * but in sigsuspend(), so the main thread takes every stop signal
	 * (the threads inherit the mask and unblock SIGUSR1 alone).
	 */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGALRM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	cpu_times(c0, MAX_CPUS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < threads; i++, started++) {
		g[i] = (struct gen){ .cpu = threads > 1 ? i : cpu, .ifindex = ifindex,
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
		sigsuspend(&old);
	/* Idle while sending: not the test runs' teardown, which sleeps. */
	cpu_times(c1, MAX_CPUS);
	for (i = 0; i < started; i++) {
		gen_stop(&g[i]);
		if (g[i].err && !ret)
			ret = g[i].err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		fprintf(stderr, "bench_gen: sending on %s: %s\n", dev, strerror(-ret));
	secs = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sent %llu packets in %.3f s\n", gen_count(skel), secs);
	for (i = 0; i < started; i++) {
		struct cpu_times *a = &c0[g[i].cpu], *b = &c1[g[i].cpu];
		double tot = b->total - a->total, idle, steal;

		for (j = 0; j < i && g[j].cpu != g[i].cpu; j++)
			;
		if (j < i || tot <= 0)
			continue;		/* said already, or too short to tell */
		idle = (b->idle - a->idle) / tot;
		steal = (b->steal - a->steal) / tot;
		printf("cpu %d idle %.3f steal %.3f\n", g[i].cpu, idle, steal);
		if (idle > IDLE_WARN)
			fprintf(stderr, "bench_gen: cpu %d idle %.0f %% of the time: the generator "
				"did not keep it busy\n", g[i].cpu, idle * 100);
	}
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
