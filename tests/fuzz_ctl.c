// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for what the agent does with a control message: decode
 * it, then parse the interface command or setkey script it carries.
 * make fuzz-ctl.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "ctl.h"
#include "ifcmd.h"
#include "setkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req req;
	struct ifcmd c;
	struct setkey_script s;
	char err[256];

	if (ctl_decode(data, size, &req, err, sizeof(err))) {
		if (!memchr(err, 0, sizeof(err)))
			__builtin_trap();
		return 0;
	}
	if (req.type == CTL_REQ_IFCMD) {
		if (req.argc > CTL_MAX_ARGS)
			__builtin_trap();
		ifcmd_parse(req.argc, (char *const *)req.argv, &c, err, sizeof(err));
	} else if (req.type == CTL_REQ_SETKEY) {
		setkey_parse(req.text, req.len, &s, err, sizeof(err));
		setkey_script_free(&s);
	}
	return 0;
}
