// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecif-agent: owns the BPF objects of one network namespace and serves
 * ipsecifctl on a control socket.
 *
 *   ipsecif-agent start [-f] [-v] [--config FILE] [--tc-hook link|filter|block]
 *                                     start (returns once ready; -f: stay in front)
 *   ipsecif-agent status [-j]         is it running, and what does it hold
 *   ipsecif-agent stop [--flush]      stop; the data path keeps running unless --flush
 *
 * One agent per network namespace.  Its control socket is in the abstract
 * namespace, which is per network namespace, so ipsecifctl finds the
 * agent of the namespace it runs in.  Its pins are under
 * /run/ipsecif/bpf/net-INODE (pins.c).  daemon/agentd.h lists the files
 * of the agent, one noun each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "agent.h"
#include "attach.h"
#include "engine.h"
#include "config.h"
#include "ctl.h"
#include "loop.h"
#include "pins.h"
#include "sadb.h"
#include "seqstore.h"
#include "server.h"
#include "state.h"

struct options {
	bool foreground, json, flush, bad;
	enum tc_hook tc_hook;
	const char *config;
};

/*
 * Daemonized unless foreground: the parent returns once the child is
 * ready (one NUL byte on the pipe), or once it said why not (the reason,
 * then EOF) and has exited: what it had made undone, its control socket
 * closed, so that a status or start right after finds no agent.
 */
static int agent_start(const struct options *opt)
{
	struct agent a = { .lock_fd = -1, .sock = -1, .stop_fd = -1,
			   .foreground = opt->foreground, .tc_hook = opt->tc_hook };
	char err[512] = "";
	int pfd[2] = { -1, -1 }, ret;
	bool adopt = false;
	pid_t pid;

	table_init(&a.t);
	log_libbpf();
	if (!opt->foreground) {
		if (pipe2(pfd, O_CLOEXEC))
			return -errno;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid > 0) {
			char buf[600];
			ssize_t n;

			close(pfd[1]);
			n = read(pfd[0], buf, sizeof(buf) - 1);
			if (n == 1 && buf[0] == 0)
				return 0;
			if (n <= 0)
				snprintf(buf, sizeof(buf), "the agent exited before it was ready");
			else
				buf[n] = 0;
			fprintf(stderr, "ipsecif-agent: %s\n", buf);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return -EIO;
		}
		close(pfd[0]);
		setsid();
		log_to_syslog();
	}

	ret = pins_open(&a, &adopt, err, sizeof(err));
	if (!ret && seqstore_open(&a, err, sizeof(err))) {
		/* Key managers' SAs need none of it: only manual keys are refused. */
		logmsg(LOG_ERR, "the sequence-number store: %s", err);
		err[0] = 0;
	}
	if (!ret) {
		if (adopt)
			ret = state_load(&a, err, sizeof(err));
		else
			state_remove(&a);
	}
	if (!ret && adopt) {
		attach_adopt(&a);
		sadb_reap(&a);
		engine_adopt(&a);	/* a failure leaves BPF's cipher, logged */
	}
	if (!ret)
		ret = server_open(&a, err, sizeof(err));
	if (!ret && opt->config && adopt)
		logmsg(LOG_NOTICE, "%s not applied: the running data path's state was adopted",
		       opt->config);
	if (!ret && opt->config && !adopt) {
		ret = config_apply(&a, opt->config, err, sizeof(err));
		a.flush = ret != 0;	/* a fresh agent whose file fails leaves nothing */
		if (!ret)
			state_save(&a);
	}
	if (ret) {
		if (pfd[1] >= 0)
			(void)!write(pfd[1], err, strlen(err));
		else
			fprintf(stderr, "ipsecif-agent: %s\n", err);
		loop_teardown(&a);
		return ret;
	}
	pins_record_cookie(&a);
	if (!opt->foreground) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	ret = loop_run(&a, pfd[1]);
	logmsg(LOG_INFO, "stopping%s", a.flush ? ", tearing everything down" : "");
	loop_teardown(&a);
	if (a.stop_fd >= 0) {
		agent_reply(a.stop_fd, 0, a.flush ? "stopped; everything torn down\n" :
				      "stopped; the data path keeps running\n");
		close(a.stop_fd);
	}
	return ret;
}

static int simple_request(enum ctl_type type, __u32 flags)
{
	char buf[64], out[4096];
	ssize_t n = ctl_encode(type, flags, 0, NULL, NULL, 0, buf, sizeof(buf));
	int status, ret;

	if (n < 0)
		return n;
	ret = agent_request(buf, n, out, sizeof(out), &status);
	if (ret == -ECONNREFUSED || ret == -ENOENT) {
		fprintf(stderr, "ipsecif-agent: not running in this network namespace\n");
		return -ESRCH;
	}
	if (ret && out[0]) {	/* e.g. the socket held by another user: nothing sent */
		fprintf(stderr, "ipsecif-agent: %s", out);
		return ret;
	}
	if (ret) {
		fprintf(stderr, "ipsecif-agent: talking to the agent: %s\n", strerror(-ret));
		return ret;
	}
	fputs(out, status ? stderr : stdout);
	return status;
}

static int do_start(const struct options *opt)
{
	return agent_start(opt);
}

static int do_status(const struct options *opt)
{
	return simple_request(CTL_REQ_STATUS, opt->json ? CTL_F_JSON : 0);
}

static int do_stop(const struct options *opt)
{
	return simple_request(CTL_REQ_STOP, opt->flush ? CTL_F_FLUSH : 0);
}

/* The subcommands, each with the options it takes. */
static const struct command {
	const char *name;
	int (*run)(const struct options *opt);
	const char *usage;
} commands[] = {
	{ "start", do_start, "start [-f|--foreground] [-v] [--config FILE] "
			     "[--tc-hook link|filter|block]" },
	{ "status", do_status, "status [-j]" },
	{ "stop", do_stop, "stop [--flush]" },
};

#define N_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "%s ipsecif-agent %s\n", i ? "      " : "usage:", commands[i].usage);
}

/* Option argv[*i] of command cmd into opt; false when cmd takes no such option. */
static bool parse_option(const char *cmd, int argc, char **argv, int *i, struct options *opt)
{
	const char *o = argv[*i];

	if (!strcmp(cmd, "start") && (!strcmp(o, "-f") || !strcmp(o, "--foreground")))
		opt->foreground = true;
	else if (!strcmp(cmd, "start") && !strcmp(o, "-v"))
		log_verbose(true);
	else if (!strcmp(cmd, "start") && !strcmp(o, "--config") && *i + 1 < argc)
		opt->config = argv[++*i];
	else if (!strcmp(cmd, "start") && !strcmp(o, "--tc-hook")) {
		const char *v = *i + 1 < argc ? argv[++*i] : "";

		for (opt->tc_hook = 0; opt->tc_hook < TC_HOOKS; opt->tc_hook++)
			if (!strcmp(v, tc_hook_names[opt->tc_hook]))
				break;
		if (opt->tc_hook == TC_HOOKS) {
			fprintf(stderr, "ipsecif-agent: --tc-hook '%s': not \"link\", \"filter\" "
				"or \"block\"\n", v);
			opt->bad = true;
		}
	}
	else if (!strcmp(cmd, "status") && !strcmp(o, "-j"))
		opt->json = true;
	else if (!strcmp(cmd, "stop") && !strcmp(o, "--flush"))
		opt->flush = true;
	else
		return false;
	return true;
}

int main(int argc, char **argv)
{
	struct options opt = {};
	const struct command *c = NULL;
	size_t k;
	int i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (k = 0; k < N_COMMANDS && !c; k++)
		if (!strcmp(argv[1], commands[k].name))
			c = &commands[k];
	for (i = 2; i < argc; i++) {
		if (c && parse_option(c->name, argc, argv, &i, &opt))
			continue;
		fprintf(stderr, "ipsecif-agent: '%s': unknown option for %s\n", argv[i], argv[1]);
		usage(stderr);
		return 2;
	}
	if (opt.bad)
		return 2;
	if (!c) {
		fprintf(stderr, "ipsecif-agent: '%s': unknown command\n", argv[1]);
		usage(stderr);
		return 2;
	}
	return c->run(&opt) ? 1 : 0;
}
