// SPDX-License-Identifier: GPL-2.0-only
/*
 * --config FILE, applied by a fresh agent before it reports ready.  Lines
 * are ipsecifctl's interface commands ("ipsec0 create reqid 100", with or
 * without the leading "ipsecifctl"); a line "setkey" opens a setkey(8)
 * script that a line "end" closes; '#' starts a comment line.  The first
 * error stops the start, named by file and line, and the agent leaves
 * nothing behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ctl.h"
#include "errmsg.h"
#include "iface.h"
#include "script.h"

int config_apply(struct agent *a, const char *path, char *err, size_t errlen)
{
	static char out[256 * 1024];
	char *text, *line, *next, *block = NULL;
	int ret = 0, lineno = 0, block_lineno = 0;
	size_t len;
	FILE *f = fopen(path, "r");

	if (!f)
		return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
	text = calloc(1, CTL_MAX_PAYLOAD + 1);
	len = text ? fread(text, 1, CTL_MAX_PAYLOAD + 1, f) : 0;
	fclose(f);
	if (!text)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	if (len > CTL_MAX_PAYLOAD) {
		ret = errmsg(err, errlen, -EFBIG, "%s: over %d bytes", path, CTL_MAX_PAYLOAD);
		goto out;
	}
	for (line = text; line && !ret; line = next) {
		struct ctl_req req = { 0 };
		char *w, *save;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		w = line + strspn(line, " \t");
		if (block) {
			if (strcmp(w, "end")) {
				line[strlen(line)] = '\n';	/* the script keeps its lines */
				continue;
			}
			/*
			 * One blank line for each line before the script (each took
			 * a byte at least), so that setkey's line numbers are the
			 * file's.
			 */
			memset(block - block_lineno, '\n', block_lineno);
			req = (struct ctl_req){ .type = CTL_REQ_SETKEY, .text = block - block_lineno,
						.len = line - (block - block_lineno) };
			ret = script_run(a, &req, out, sizeof(out));
			block = NULL;
		} else if (!*w || *w == '#') {
			continue;
		} else if (!strcmp(w, "setkey")) {
			block = next ? next : line + strlen(line);
			block_lineno = lineno;
			continue;
		} else {
			req.type = CTL_REQ_IFCMD;
			for (w = strtok_r(w, " \t", &save); w && req.argc < CTL_MAX_ARGS;
			     w = strtok_r(NULL, " \t", &save))
				if (req.argc || strcmp(w, "ipsecifctl"))
					req.argv[req.argc++] = w;
			ret = iface_cmd(a, &req, out, sizeof(out));
		}
		if (ret) {
			/* Without "ipsecifctl: "; setkey's messages carry their line. */
			char *m = strstr(out, ": ") ? strstr(out, ": ") + 2 : out;

			m[strcspn(m, "\n")] = 0;
			if (req.type == CTL_REQ_SETKEY)
				ret = errmsg(err, errlen, ret, "%s: %s", path, m);
			else
				ret = errmsg(err, errlen, ret, "%s:%d: %s", path, lineno, m);
		} else if (out[0]) {
			logmsg(LOG_WARNING, "%s:%d: %.*s", path, lineno, (int)strcspn(out, "\n"), out);
		}
	}
	if (!ret && block)
		ret = errmsg(err, errlen, -EINVAL, "%s:%d: this setkey block has no \"end\"", path,
			     block_lineno);
	if (!ret)
		logmsg(LOG_INFO, "applied %s: %zu interfaces, %zu SAs", path, a->t.n_ifaces,
		       a->t.n_sas);
out:
	/* setkey blocks carry keys: none is left in freed memory. */
	explicit_bzero(text, CTL_MAX_PAYLOAD + 1);
	explicit_bzero(out, sizeof(out));
	free(text);
	return ret;
}
