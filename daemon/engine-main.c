// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecif-engine: one worker of the vector-crypto engine, started by the
 * agent with its file descriptors (include/ipsecif_engine.h, worker.h).
 *
 *   ipsecif-engine --dev NAME --queue Q --keys-fd FD --status-fd FD --index I
 *                  [--xsks-fd FD] [--cpu C]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "worker.h"

static int number(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: ipsecif-engine --dev NAME --queue Q --keys-fd FD --status-fd FD "
		"--index I [--xsks-fd FD] [--cpu C]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "queue", required_argument, NULL, 'q' },
		{ "keys-fd", required_argument, NULL, 'k' },
		{ "status-fd", required_argument, NULL, 's' },
		{ "index", required_argument, NULL, 'i' },
		{ "xsks-fd", required_argument, NULL, 'x' },
		{ "cpu", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker_opts o = { .keys_fd = -1, .status_fd = -1, .xsks_fd = -1, .cpu = -1 };
	long v, queue = -1, index = -1;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd') {
			o.dev = optarg;
			continue;
		}
		if (c == '?' || number(optarg, 0, INT_MAX, &v)) {
			if (c != '?')
				fprintf(stderr, "ipsecif-engine: bad number: %s\n", optarg);
			usage();
			return 2;
		}
		switch (c) {
		case 'q':
			queue = v;
			break;
		case 'k':
			o.keys_fd = v;
			break;
		case 's':
			o.status_fd = v;
			break;
		case 'i':
			index = v;
			break;
		case 'x':
			o.xsks_fd = v;
			break;
		case 'c':
			o.cpu = v;
			break;
		}
	}
	if (optind != argc || !o.dev || queue < 0 || index < 0 || o.keys_fd < 0 ||
	    o.status_fd < 0) {
		usage();
		return 2;
	}
	o.queue = queue;
	o.index = index;
	err = worker_run(&o);
	if (err) {
		fprintf(stderr, "ipsecif-engine: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
