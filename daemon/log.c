// SPDX-License-Identifier: GPL-2.0-only
/* The agent's messages: to stderr in front, to syslog as a daemon. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <bpf/libbpf.h>
#include "agentd.h"

static bool use_syslog;
static bool verbose;

void log_to_syslog(void)
{
	use_syslog = true;
	openlog("ipsecif-agent", LOG_PID, LOG_DAEMON);
}

void log_verbose(bool on)
{
	verbose = on;
}

static void vlogmsg(int prio, const char *fmt, va_list ap)
{
	if (prio == LOG_DEBUG && !verbose)
		return;
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "ipsecif-agent: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
}

void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogmsg(prio, fmt, ap);
	va_end(ap);
}

static bool libbpf_quiet;

/*
 * libbpf's messages go where the agent's do: its warnings as warnings,
 * the rest for -v only.  While quiet, its warnings are the agent's to
 * judge (an error it handles is no error to the operator).
 */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (level == LIBBPF_DEBUG || (libbpf_quiet && level == LIBBPF_WARN))
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	logmsg(level == LIBBPF_WARN ? LOG_WARNING : LOG_DEBUG, "libbpf: %s", msg);
	return 0;
}

void log_libbpf(void)
{
	libbpf_set_print(libbpf_log);
}

void log_libbpf_quiet(bool on)
{
	libbpf_quiet = on;
}
