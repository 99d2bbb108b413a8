// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecifctl: the agent's command line, spelled as ifconfig(8) and
 * setkey(8) are on the BSDs (see daemon/ifcmd.h, daemon/setkey.h).
 *
 *   ipsecifctl [-j] [NAME [create [reqid N]] [destroy] [tunnel SRC DST] ...]
 *   ipsecifctl lan add|del DEV          (the XDP line-rate path on a LAN device)
 *   ipsecifctl [-j] setkey -c           (a setkey script on standard input)
 *   ipsecifctl [-j] setkey -f FILE
 *   ipsecifctl [-j] setkey -D | -DP | -F  (dump SAs, dump policies, flush SAs)
 *
 * It parses nothing itself but its own options: the agent checks every
 * request, so one parser decides.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent.h"
#include "ctl.h"

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 4096;
	char *buf = malloc(cap);

	*len = 0;
	while (buf) {
		size_t n = fread(buf + *len, 1, cap - *len, f);

		*len += n;
		if (n == 0)
			break;
		if (*len == cap) {
			char *p = cap >= CTL_MAX_PAYLOAD ? NULL : realloc(buf, cap * 2);

			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	return buf;
}

int main(int argc, char **argv)
{
	static char out[CTL_MAX_REPLY + 1];	/* untouched pages cost nothing */
	__u32 flags = 0;
	char *msg, *text = NULL;
	size_t tlen = 0;
	ssize_t n;
	int i = 1, status, ret;
	enum ctl_type type = CTL_REQ_IFCMD;

	if (i < argc && !strcmp(argv[i], "-j")) {
		flags |= CTL_F_JSON;
		i++;
	}
	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
		puts("usage: ipsecifctl [-j] [NAME [create [reqid N]] [destroy] [reqid N]\n"
		     "                  [[inet|inet6] tunnel SRC DST] [-tunnel]\n"
		     "                  [inet|inet6 ADDR[/PLEN] [PEER]] [[-]link0|1|2] [[-]xdpfwd]\n"
		     "                  [mtu N] [up|down]]\n"
		     "       ipsecifctl lan add|del DEV\n"
		     "       ipsecifctl [-j] setkey -c | -f FILE | -D | -DP | -F");
		return 0;
	}
	if (i < argc && !strcmp(argv[i], "setkey")) {
		FILE *f = NULL;

		type = CTL_REQ_SETKEY;
		/* setkey(8)'s own spellings for dump, policy dump and flush. */
		if (i + 2 == argc && (!strcmp(argv[i + 1], "-D") || !strcmp(argv[i + 1], "-DP") ||
				      !strcmp(argv[i + 1], "-F"))) {
			const char *script = !strcmp(argv[i + 1], "-D") ? "dump;" :
					     !strcmp(argv[i + 1], "-DP") ? "spddump;" : "flush;";

			text = strdup(script);
			tlen = strlen(script);
		} else if (i + 1 < argc && !strcmp(argv[i + 1], "-c") && i + 2 == argc)
			f = stdin;
		else if (i + 2 < argc && !strcmp(argv[i + 1], "-f") && i + 3 == argc)
			f = fopen(argv[i + 2], "r");
		else {
			fprintf(stderr, "ipsecifctl: setkey takes -c (standard input), -f FILE, "
				"-D, -DP or -F\n");
			return 2;
		}
		if (!text && !f) {
			fprintf(stderr, "ipsecifctl: %s: %s\n", argv[i + 2], strerror(errno));
			return 1;
		}
		if (!text)
			text = read_all(f, &tlen);
		if (!text) {
			fprintf(stderr, "ipsecifctl: the script is over %d bytes\n", CTL_MAX_PAYLOAD);
			return 1;
		}
	}
	msg = malloc(sizeof(struct ctl_hdr) + CTL_MAX_PAYLOAD);
	if (!msg)
		return 1;
	n = ctl_encode(type, flags, argc - i, argv + i, text, tlen, msg,
		       sizeof(struct ctl_hdr) + CTL_MAX_PAYLOAD);
	if (n < 0) {
		fprintf(stderr, "ipsecifctl: %s\n", n == -E2BIG ? "too many or too long arguments" :
			strerror((int)-n));
		return 2;
	}
	ret = agent_request(msg, n, out, sizeof(out), &status);
	if (ret == -ECONNREFUSED || ret == -ENOENT) {
		fprintf(stderr, "ipsecifctl: no ipsecif-agent runs in this network namespace "
			"(ipsecif-agent start)\n");
		return 1;
	}
	if (ret && out[0]) {	/* e.g. the socket held by another user: nothing sent */
		fprintf(stderr, "ipsecifctl: %s", out);
		return 1;
	}
	if (ret) {
		fprintf(stderr, "ipsecifctl: talking to the agent: %s\n", strerror(-ret));
		return 1;
	}
	fputs(out, status ? stderr : stdout);
	return status ? 1 : 0;
}
