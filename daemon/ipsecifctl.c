// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecifctl: the agent's command line, spelled as ifconfig(8) and
 * setkey(8) are on the BSDs (see daemon/ifcmd.h, daemon/setkey.h).
 *
 *   ipsecifctl [-j] [NAME [create [reqid N]] [destroy] [tunnel SRC DST] ...]
 *   ipsecifctl lan add|del DEV          (the XDP line-rate path on a LAN device)
 *   ipsecifctl stats [-o openmetrics]   (the counters, for Prometheus)
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

/* One request to the agent; its reply printed.  The exit status. */
static int request(enum ctl_type type, __u32 flags, int argc, char **argv, const char *text,
		   size_t tlen)
{
	static char out[CTL_MAX_REPLY + 1];	/* untouched pages cost nothing */
	char *msg = malloc(sizeof(struct ctl_hdr) + CTL_MAX_PAYLOAD);
	int status, ret;
	ssize_t n;

	if (!msg)
		return 1;
	n = ctl_encode(type, flags, argc, argv, text, tlen, msg,
		       sizeof(struct ctl_hdr) + CTL_MAX_PAYLOAD);
	if (n < 0) {
		fprintf(stderr, "ipsecifctl: %s\n", n == -E2BIG ? "too many or too long arguments" :
			strerror((int)-n));
		free(msg);
		return 2;
	}
	ret = agent_request(msg, n, out, sizeof(out), &status);
	free(msg);
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
	/* A command that stands with a warning (e.g. xdp_esp_in refused): on stderr. */
	fputs(out, status || !strncmp(out, "ipsecifctl: warning:", 20) ? stderr : stdout);
	return status ? 1 : 0;
}

/* Interface commands, "lan" among them: the agent parses the words. */
static int do_ifcmd(int argc, char **argv, __u32 flags)
{
	return request(CTL_REQ_IFCMD, flags, argc, argv, NULL, 0);
}

/* setkey -c | -f FILE | -D | -DP | -F: a script for the agent. */
static int do_setkey(int argc, char **argv, __u32 flags)
{
	FILE *f = NULL;
	char *text = NULL;
	size_t tlen = 0;
	int ret;

	/* setkey(8)'s own spellings for dump, policy dump and flush. */
	if (argc == 2 && (!strcmp(argv[1], "-D") || !strcmp(argv[1], "-DP") ||
			  !strcmp(argv[1], "-F"))) {
		const char *script = !strcmp(argv[1], "-D") ? "dump;" :
				     !strcmp(argv[1], "-DP") ? "spddump;" : "flush;";

		text = strdup(script);
		tlen = strlen(script);
	} else if (argc == 2 && !strcmp(argv[1], "-c")) {
		f = stdin;
	} else if (argc == 3 && !strcmp(argv[1], "-f")) {
		f = fopen(argv[2], "r");
	} else {
		fprintf(stderr, "ipsecifctl: setkey takes -c (standard input), -f FILE, "
			"-D, -DP or -F\n");
		return 2;
	}
	if (!text && !f) {
		fprintf(stderr, "ipsecifctl: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (!text)
		text = read_all(f, &tlen);
	if (f && f != stdin)
		fclose(f);
	if (!text) {
		fprintf(stderr, "ipsecifctl: the script is over %d bytes\n", CTL_MAX_PAYLOAD);
		return 1;
	}
	ret = request(CTL_REQ_SETKEY, flags, argc, argv, text, tlen);
	free(text);
	return ret;
}

static int do_help(int argc, char **argv, __u32 flags);

/* The subcommands; the last, without a name, takes an interface name first. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv, __u32 flags);
	const char *usage;
} commands[] = {
	{ "setkey", do_setkey, "[-j] setkey -c | -f FILE | -D | -DP | -F" },
	{ "lan", do_ifcmd, "lan add|del DEV" },
	{ "stats", do_ifcmd, "stats [-o openmetrics]" },
	{ "engine", do_ifcmd, "[-j] engine [on [workers N] [cpus LIST] | off | min SUITE BYTES]" },
	{ "help", do_help, "help" },
	{ NULL, do_ifcmd, "[-j] [NAME [create [reqid N]] [destroy] [reqid N]\n"
			  "                  [[inet|inet6] tunnel SRC DST] [-tunnel]\n"
			  "                  [inet|inet6 ADDR[/PLEN] [PEER]] [[-]link0|1|2] "
			  "[[-]xdpfwd]\n"
			  "                  [mtu N] [up|down]]" },
};

#define N_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

static int do_help(int argc, char **argv, __u32 flags)
{
	size_t i;

	(void)argc, (void)argv, (void)flags;
	/* The interface commands first: they are what ipsecifctl is mostly for. */
	printf("usage: ipsecifctl %s\n", commands[N_COMMANDS - 1].usage);
	for (i = 0; i + 1 < N_COMMANDS; i++)
		printf("       ipsecifctl %s\n", commands[i].usage);
	return 0;
}

int main(int argc, char **argv)
{
	__u32 flags = 0;
	size_t k;
	int i = 1;

	if (i < argc && !strcmp(argv[i], "-j")) {
		flags |= CTL_F_JSON;
		i++;
	}
	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")))
		return do_help(argc - i, argv + i, flags);
	for (k = 0; k + 1 < N_COMMANDS; k++)
		if (i < argc && !strcmp(argv[i], commands[k].name))
			return commands[k].run(argc - i, argv + i, flags);
	return commands[N_COMMANDS - 1].run(argc - i, argv + i, flags);
}
