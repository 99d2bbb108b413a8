// SPDX-License-Identifier: GPL-2.0-only
/*
 * Anti-replay window tests (bpf/replay.h), run in the kernel through
 * BPF_PROG_TEST_RUN: numbered cases sweeping the window's edges and the
 * ESN inference of RFC 4303 Appendix A2 (cases A and B), in the manner of
 * WireGuard's selftest/counter.c, then a randomised comparison with a
 * plain reference model.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "ipsecif.h"
#include "test.h"

struct test_state T;
static int fd;

static struct ipsecif_rtest rt(__u32 op, bool esn, __u64 seq, __u32 arg)
{
	struct ipsecif_rtest t = { .op = op, .esn = esn, .seq = seq, .arg = arg }, out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &t, .data_size_in = sizeof(t),
		    .data_out = &out, .data_size_out = sizeof(out));

	if (bpf_prog_test_run_opts(fd, &opts)) {
		out.verdict = -errno;
		printf("  test run: %s\n", strerror(errno));
	}
	return out;
}

static int nr;

/* One numbered step: accept (or only check) seq, expecting verdict and,
 * when want64 is not 0, the inferred full sequence number. */
static void step(__u32 op, bool esn, __u64 seq, int want, __u64 want64)
{
	struct ipsecif_rtest r = rt(op, esn, seq, 0);

	nr++;
	CHECK(r.verdict == want, "case %d: seq %#llx: verdict %d, want %d", nr,
	      (unsigned long long)seq, r.verdict, want);
	if (want64)
		CHECK(r.seq64 == want64, "case %d: seq %#llx inferred as %#llx, want %#llx", nr,
		      (unsigned long long)seq, (unsigned long long)r.seq64,
		      (unsigned long long)want64);
}

#define OK	IPSECIF_REPLAY_OK
#define DUP	IPSECIF_REPLAY_DUP
#define OLD	IPSECIF_REPLAY_OLD
#define ACC	IPSECIF_RTEST_ACCEPT
#define CHK	IPSECIF_RTEST_CHECK
#define UPD	IPSECIF_RTEST_UPDATE

static void reset(__u32 window, __u64 top)
{
	struct ipsecif_rtest r = rt(IPSECIF_RTEST_RESET, false, top, window);

	CHECK(r.verdict == 0, "reset window %u: %d", window, r.verdict);
}

static void test_window64(void)
{
	test_begin("replay: 32-bit sequence numbers, window 64");
	nr = 0;
	reset(64, 0);
	step(ACC, 0, 0, OLD, 0);		/* 1: 0 is never sent (RFC 4303 §3.3.3) */
	step(ACC, 0, 1, OK, 1);
	step(ACC, 0, 1, DUP, 0);
	step(ACC, 0, 2, OK, 0);
	step(ACC, 0, 64, OK, 0);		/* 5 */
	step(ACC, 0, 3, OK, 0);			/* 61 behind: inside */
	step(ACC, 0, 65, OK, 0);
	step(ACC, 0, 65 - 63, DUP, 0);		/* 63 back: inside, and taken */
	step(CHK, 0, 65 - 64, OLD, 0);		/* 64 back: left of the window */
	step(ACC, 0, 65 - 62, DUP, 0);		/* 10: 3 was taken */
	step(ACC, 0, 65 - 61, OK, 0);		/* 4 was never seen */
	step(ACC, 0, 65 - 64, OLD, 0);
	step(ACC, 0, 1000, OK, 0);		/* jump: everything behind is cleared */
	step(ACC, 0, 1000 - 63, OK, 0);		/* left edge */
	step(ACC, 0, 1000 - 64, OLD, 0);	/* 15: one past it */
	step(ACC, 0, 999, OK, 0);
	step(ACC, 0, 999, DUP, 0);
	step(CHK, 0, 1001, OK, 0);
	step(CHK, 0, 1001, OK, 0);		/* a check does not mark */
	step(ACC, 0, 1001, OK, 0);		/* 20 */
	step(ACC, 0, 0xffffffffULL, OK, 0);	/* 32-bit top: the sender stops here */
	step(ACC, 0, 0xffffffffULL, DUP, 0);
	step(ACC, 0, 0xffffffffULL - 63, OK, 0);
	step(ACC, 0, 0xffffffffULL - 64, OLD, 0);
	test_end();
}

static void test_window4096(void)
{
	__u64 s;

	test_begin("replay: window 4096, jumps across the ring");
	nr = 0;
	reset(4096, 0);
	step(ACC, 0, 10000, OK, 0);
	step(ACC, 0, 10000 - 4095, OK, 0);	/* left edge */
	step(ACC, 0, 10000 - 4096, OLD, 0);
	step(ACC, 0, 10000 - 4095, DUP, 0);
	for (s = 10000 - 4000; s < 10000; s += 37)	/* 5..: fill the middle */
		step(ACC, 0, s, OK, 0);
	for (s = 10000 - 4000; s < 10000; s += 37)
		step(ACC, 0, s, DUP, 0);
	/* Move by exactly the ring: no stale bit may survive. */
	step(ACC, 0, 10000 + IPSECIF_REPLAY_RING, OK, 0);
	for (s = 10000 + IPSECIF_REPLAY_RING - 4000; s < 10000 + IPSECIF_REPLAY_RING; s += 37)
		step(ACC, 0, s, OK, 0);
	/* And by one word less than the ring. */
	step(ACC, 0, 10000 + 2 * IPSECIF_REPLAY_RING - 64, OK, 0);
	for (s = 10000 + 2 * IPSECIF_REPLAY_RING - 64 - 4095; s < 10000 + 2 * IPSECIF_REPLAY_RING - 64;
	     s += 41)
		step(ACC, 0, s, OK, 0);
	test_end();

	test_begin("replay: window larger than 4096 refused");
	CHECK(rt(IPSECIF_RTEST_RESET, false, 0, 4097).verdict == -EINVAL, "4097 accepted");
	test_end();
}

static void test_esn(void)
{
	const __u64 th = 7;

	test_begin("replay: ESN case A (window inside one subspace)");
	nr = 0;
	reset(64, (th << 32) | 0x100);
	step(CHK, 1, 0x100 - 63, OK, (th << 32) | (0x100 - 63));	/* 1: Seqh = Th */
	step(CHK, 1, 0x100 - 64, OK, ((th + 1) << 32) | (0x100 - 64)); /* below the window: Th + 1 */
	step(ACC, 1, 0xff, OK, (th << 32) | 0xff);
	step(ACC, 1, 0xff, DUP, (th << 32) | 0xff);
	step(ACC, 1, 5, OK, ((th + 1) << 32) | 5);	/* 5: into the next subspace */
	/*
	 * Now case B: an old low half left of the window is taken as ahead
	 * (Appendix A2.1); the ICV check, computed with that high half,
	 * is what rejects it.
	 */
	step(CHK, 1, 0xff, OK, ((th + 1) << 32) | 0xff);
	test_end();

	test_begin("replay: ESN case B (window spans two subspaces)");
	nr = 0;
	reset(64, (th << 32) | 5);
	step(CHK, 1, 0xfffffff0, OK, ((th - 1) << 32) | 0xfffffff0);	/* 1: Th - 1 */
	step(CHK, 1, 0xffffffc6, OK, ((th - 1) << 32) | 0xffffffc6);	/* Tl - W + 1, left edge */
	step(CHK, 1, 0xffffffc5, OK, (th << 32) | 0xffffffc5);	/* outside: taken as ahead */
	step(ACC, 1, 0xfffffff0, OK, ((th - 1) << 32) | 0xfffffff0);
	step(ACC, 1, 0xfffffff0, DUP, 0);			/* 5 */
	step(ACC, 1, 6, OK, (th << 32) | 6);
	step(ACC, 1, 0, OK, (th << 32) | 0);	/* 0 is a valid low half with ESN */
	test_end();

	test_begin("replay: ESN crossing 2^32");
	nr = 0;
	reset(64, 0xfffffff0ULL);
	step(ACC, 1, 0xffffffff, OK, 0xffffffffULL);
	step(ACC, 1, 0, OK, 1ULL << 32);		/* the low half wraps, the high goes on */
	step(ACC, 1, 1, OK, (1ULL << 32) | 1);
	step(ACC, 1, 0xfffffffe, OK, 0xfffffffeULL);	/* late packet from before the wrap */
	step(ACC, 1, 0xffffffff, DUP, 0xffffffffULL);	/* 5 */
	step(CHK, 1, 0xffffffc2, OK, 0xffffffc2ULL);	/* 63 behind 2^32 + 1: left edge */
	step(CHK, 1, 0xffffffc1, OK, 0x1ffffffc1ULL);	/* past it: inferred as ahead */
	test_end();
}

/*
 * The update after the ICV decides alone: without the pre-check (which
 * reads without the lock and may be stale) it still refuses duplicates,
 * right after the first copy and long after, and numbers left of the
 * window or 0.
 */
static void test_update_alone(void)
{
	__u64 s;

	test_begin("replay: the locked update refuses duplicates without the pre-check");
	reset(64, 0);
	nr = 500;
	step(UPD, false, 0, OLD, 0);		/* 501: never sent (§3.3.3) */
	step(UPD, false, 5, OK, 0);
	step(UPD, false, 5, DUP, 0);		/* 503: at once */
	step(UPD, false, 3, OK, 0);
	step(UPD, false, 3, DUP, 0);		/* 505: below the top */
	for (s = 6; s <= 66; s++)
		if (rt(UPD, false, s, 0).verdict != OK)
			break;
	CHECK(s == 67, "seq %llu refused", (unsigned long long)s);
	step(UPD, false, 5, DUP, 0);		/* 506: long after, 61 below the top */
	step(UPD, false, 3, DUP, 0);		/* 507: 63 below: the window's left edge */
	step(UPD, false, 2, OLD, 0);		/* 508: 64 below: left of it */
	step(UPD, false, 66, DUP, 0);		/* 509: the top itself */
	step(CHK, false, 66, DUP, 0);		/* 510: and the pre-check agrees */
	step(CHK, false, 67, OK, 0);
	test_end();
}

/* A plain model: top and the set of accepted numbers inside the window. */
struct model {
	__u64 top;
	__u32 window;
	unsigned char *seen;	/* by seq, small range */
};

static int model_accept(struct model *m, __u64 seq)
{
	if (seq == 0)
		return OLD;
	if (seq > m->top) {
		m->top = seq;
		m->seen[seq] = 1;
		return OK;
	}
	if (m->top - seq >= m->window)
		return OLD;
	if (m->seen[seq])
		return DUP;
	m->seen[seq] = 1;
	return OK;
}

static void test_random(void)
{
	static const __u32 windows[] = { 1, 32, 64, 65, 1000, 4096 };
	const __u64 range = 4000000;
	struct model m;
	size_t wi;
	int i, bad = 0, n = 0;

	test_begin("replay: 60000 random sequence numbers agree with a reference model");
	m.seen = calloc(range + 1, 1);
	for (wi = 0; wi < sizeof(windows) / sizeof(windows[0]); wi++) {
		__u64 cur = 1;

		memset(m.seen, 0, range + 1);
		m.top = 0;
		m.window = windows[wi];
		reset(m.window, 0);
		for (i = 0; i < 10000 && cur < range - 5000; i++) {
			__u64 seq;
			int r = random() % 10;

			/* Mostly in order, some reordered, some replays, some jumps. */
			if (r < 5)
				seq = ++cur;
			else if (r < 8)
				seq = cur > 2 * m.window ? cur - random() % (2 * m.window) : cur;
			else if (r < 9)
				seq = cur;
			else
				seq = cur += random() % 3000;
			{
				struct ipsecif_rtest t = rt(ACC, false, seq, 0);
				int want = model_accept(&m, seq);

				n++;
				if (t.verdict != want && bad++ < 3)
					CHECK(0, "window %u seq %llu: %d, model says %d", m.window,
					      (unsigned long long)seq, t.verdict, want);
			}
		}
	}
	CHECK(!bad, "%d disagreements", bad);
	CHECK(n == 60000, "only %d numbers tried", n);
	free(m.seen);
	test_end();
}

/*
 * Two threads (on the two CPUs) offer the same numbers at once: each must
 * be accepted exactly once, the other copy refused as a duplicate.
 */
#define RACE_N 50000

struct racer {
	__u32 op;
	int ok, dup, other;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	__u64 s;

	for (s = 1; s <= RACE_N; s++) {
		int v = rt(r->op, false, s, 0).verdict;

		if (v == OK)
			r->ok++;
		else if (v == DUP)
			r->dup++;
		else
			r->other++;
	}
	return NULL;
}

static void test_race(__u32 op, const char *what)
{
	struct racer a = { .op = op }, b = { .op = op };
	pthread_t ta, tb;

	test_begin(what);
	reset(4096, 0);
	pthread_create(&ta, NULL, race, &a);
	pthread_create(&tb, NULL, race, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	printf("  accepted %d + %d, duplicates %d + %d, other %d + %d\n", a.ok, b.ok, a.dup, b.dup,
	       a.other, b.other);
	CHECK(a.ok + b.ok == RACE_N, "%d accepted, want %d", a.ok + b.ok, RACE_N);
	CHECK(a.dup + b.dup + a.other + b.other == RACE_N, "refusals do not add up");
	test_end();
}

int main(void)
{
	struct ipsecif *skel;

	srandom(time(NULL));
	skel = ipsecif__open_and_load();
	if (!skel) {
		test_begin("load BPF object");
		CHECK(0, "%s", strerror(errno));
		test_end();
		return test_summary();
	}
	fd = bpf_program__fd(skel->progs.replay_test);
	test_window64();
	test_window4096();
	test_esn();
	test_random();
	test_update_alone();
	test_race(ACC, "replay: two CPUs racing on the same numbers accept each once");
	test_race(UPD, "replay: likewise through the locked update alone");
	ipsecif__destroy(skel);
	return test_summary();
}
