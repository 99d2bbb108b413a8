// SPDX-License-Identifier: GPL-2.0-only
/*
 * Launcher for one engine worker under test, playing the agent's part:
 * it opens the pinned xsks map, makes the key and status memfds, starts
 * the worker with the three descriptors inherited, and then answers
 * commands on standard input, one line each:
 *
 *   key ID ENC AUTH ICV KEYHEX SALTHEX AKEYHEX   write entry ID ("-": none)
 *   clear ID                                     empty ID's slot
 *   status                                       the worker's status block
 *   wait                                         its end: "exit N" or "signal N"
 *   blast DEV CPU COUNT HEX                      COUNT copies of frame HEX out of
 *                                                DEV from CPU, at full speed
 *                                                (sendmmsg): "sent N NS"
 *   quit                                         SIGTERM, then as wait
 *
 * Usage: eng_fixture XSKS_PIN INDEX -- ENGINE [ARGS...]
 * Prints "ready PID" once the worker says bound, or "err ...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "ipsecif_engine.h"
#include "hex.h"

static struct ipsecif_eng_key *keys;
static struct ipsecif_eng_status *status;
static pid_t child;

/* tests/hex.h's unhex, with "-" for nothing. */
static int unhex_or_none(const char *s, __u8 *out, size_t max)
{
	return strcmp(s, "-") ? unhex(s, out, max) : 0;
}

/* Entry id as the agent writes it: lock odd, the fields, lock even. */
static void entry_write(__u32 id, const struct ipsecif_eng_key *k)
{
	struct ipsecif_eng_key *e = &keys[id % IPSECIF_ENG_KEY_SLOTS];
	__u32 lock = e->lock;

	__atomic_store_n(&e->lock, lock + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy((__u8 *)e + sizeof(e->lock), (const __u8 *)k + sizeof(k->lock),
	       sizeof(*e) - sizeof(e->lock));
	__atomic_store_n(&e->lock, lock + 2, __ATOMIC_RELEASE);
}

static int cmd_key(char *args)
{
	char kh[256], sh[64], ah[256];
	unsigned int id, enc, auth, icv;
	struct ipsecif_eng_key k = {};
	int n;

	if (sscanf(args, "%u %u %u %u %255s %63s %255s", &id, &enc, &auth, &icv, kh, sh, ah) != 7)
		return -EINVAL;
	k.id = id;
	k.enc = enc;
	k.auth = auth;
	k.icv_len = icv;
	n = unhex_or_none(kh, k.enc_key, sizeof(k.enc_key));
	if (n < 0 || unhex_or_none(sh, k.salt, sizeof(k.salt)) < 0)
		return -EINVAL;
	k.enc_key_len = n;
	n = unhex_or_none(ah, k.auth_key, sizeof(k.auth_key));
	if (n < 0)
		return -EINVAL;
	k.auth_key_len = n;
	entry_write(id, &k);
	memset(&k, 0, sizeof(k));
	return 0;
}

/* The rate test's sender: what a Python loop cannot offer, bursts. */
static int cmd_blast(char *args)
{
	static __u8 frame[9000];
	char dev[IF_NAMESIZE + 1], *hex = malloc(2 * sizeof(frame) + 1);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct mmsghdr msgs[64];
	struct iovec iov;
	unsigned int cpu, count, sent = 0, i;
	struct timespec t0, t1;
	cpu_set_t set, old;
	int fd = -1, n, len, err = -EINVAL;

	if (!hex || sscanf(args, "%16s %u %u %18000s", dev, &cpu, &count, hex) != 4)
		goto out;
	len = unhex(hex, frame, sizeof(frame));
	sll.sll_ifindex = if_nametoindex(dev);
	if (len < 14 || !sll.sll_ifindex)
		goto out;
	fd = socket(AF_PACKET, SOCK_RAW, 0);	/* send only */
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		goto out;
	iov.iov_base = frame;
	iov.iov_len = len;
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < 64; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	sched_getaffinity(0, sizeof(old), &old);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < count) {
		n = sendmmsg(fd, msgs, count - sent < 64 ? count - sent : 64, 0);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN)
			break;
		sent += n > 0 ? n : 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sched_setaffinity(0, sizeof(old), &old);
	printf("sent %u %lld\n", sent, (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
	       (t1.tv_nsec - t0.tv_nsec));
	err = 0;
out:
	if (fd >= 0)
		close(fd);
	free(hex);
	return err;
}

static void print_status(const struct ipsecif_eng_status *s)
{
	printf("status %llu %u %u %d %u %llu %llu %llu %llu %llu %llu %llu %u %u %llu %llu\n",
	       (unsigned long long)s->heartbeat_ns, s->pid, s->queue, s->cpu, s->bound,
	       (unsigned long long)s->frames, (unsigned long long)s->sealed,
	       (unsigned long long)s->opened, (unsigned long long)s->bad_icv,
	       (unsigned long long)s->no_key, (unsigned long long)s->bad_frame,
	       (unsigned long long)s->tx_full, s->rx_depth, s->tx_depth,
	       (unsigned long long)s->rx_dropped, (unsigned long long)s->rx_ring_full);
}

static void print_end(int st)
{
	if (WIFEXITED(st))
		printf("exit %d\n", WEXITSTATUS(st));
	else
		printf("signal %d\n", WTERMSIG(st));
}

static void *memfd_map(const char *name, size_t size, int *fd)
{
	void *p;

	*fd = memfd_create(name, 0);	/* no MFD_CLOEXEC: the worker inherits it */
	if (*fd < 0 || ftruncate(*fd, size))
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static pid_t start(char **argv, int argc, int kfd, int sfd, int xfd, const char *index)
{
	char k[16], s[16], x[16];
	char **av = calloc(argc + 10, sizeof(*av));
	pid_t pid;
	int i, n = 0;

	if (!av)
		return -1;
	snprintf(k, sizeof(k), "%d", kfd);
	snprintf(s, sizeof(s), "%d", sfd);
	snprintf(x, sizeof(x), "%d", xfd);
	for (i = 0; i < argc; i++)
		av[n++] = argv[i];
	av[n++] = "--keys-fd";
	av[n++] = k;
	av[n++] = "--status-fd";
	av[n++] = s;
	av[n++] = "--xsks-fd";
	av[n++] = x;
	av[n++] = "--index";
	av[n++] = (char *)index;
	pid = fork();
	if (pid == 0) {
		/* The worker goes when its launcher does (the test's cleanup). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* BPF object descriptors come close-on-exec. */
		fcntl(xfd, F_SETFD, 0);
		execv(av[0], av);
		_exit(127);
	}
	free(av);
	return pid;
}

int main(int argc, char **argv)
{
	int kfd, sfd, xfd, st, i;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	static char line[20000];
	unsigned int index;

	if (argc < 5 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: eng_fixture XSKS_PIN INDEX -- ENGINE [ARGS...]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	index = atoi(argv[2]);
	if (index >= IPSECIF_ENG_MAX_WORKERS) {
		printf("err index\n");
		return 1;
	}
	xfd = bpf_obj_get(argv[1]);
	if (xfd < 0) {
		printf("err %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	keys = memfd_map("ipsecif-eng-keys", IPSECIF_ENG_KEY_SLOTS * sizeof(*keys), &kfd);
	status = memfd_map("ipsecif-eng-status", IPSECIF_ENG_MAX_WORKERS * sizeof(*status), &sfd);
	if (!keys || !status) {
		printf("err memfd: %s\n", strerror(errno));
		return 1;
	}
	child = start(argv + 4, argc - 4, kfd, sfd, xfd, argv[2]);
	if (child < 0) {
		printf("err fork: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < 500 && !__atomic_load_n(&status[index].bound, __ATOMIC_ACQUIRE); i++) {
		if (waitpid(child, &st, WNOHANG) == child) {
			printf("err the worker ended: ");
			print_end(st);
			return 1;
		}
		nanosleep(&ts, NULL);
	}
	if (!status[index].bound) {
		printf("err the worker did not bind\n");
		kill(child, SIGKILL);
		return 1;
	}
	printf("ready %d\n", child);

	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "key ", 4)) {
			printf(cmd_key(line + 4) ? "err key\n" : "ok\n");
		} else if (!strncmp(line, "clear ", 6)) {
			struct ipsecif_eng_key k = {};

			entry_write(strtoul(line + 6, NULL, 10), &k);
			printf("ok\n");
		} else if (!strncmp(line, "blast ", 6)) {
			if (cmd_blast(line + 6))
				printf("err blast\n");
		} else if (!strcmp(line, "status")) {
			print_status(&status[index]);
		} else if (!strcmp(line, "wait") || !strcmp(line, "quit")) {
			if (child <= 0) {
				printf("err no worker\n");
				continue;
			}
			if (line[0] == 'q')
				kill(child, SIGTERM);
			if (waitpid(child, &st, 0) != child) {
				printf("err waitpid: %s\n", strerror(errno));
				continue;
			}
			child = 0;
			print_end(st);
			if (line[0] == 'q')
				return 0;
		} else {
			printf("err unknown command\n");
		}
	}
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, &st, 0);
	}
	return 0;
}
