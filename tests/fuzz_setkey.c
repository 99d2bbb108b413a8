// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer target for the setkey(8) parser: make fuzz-setkey. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "setkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct setkey_script s;
	char err[256];
	size_t i;
	int ret;

	ret = setkey_parse((const char *)data, size, &s, err, sizeof(err));
	/* Whatever it says must be a terminated string; success must hold statements only. */
	if (ret && !memchr(err, 0, sizeof(err)))
		__builtin_trap();
	for (i = 0; i < s.n; i++)
		if (s.cmds[i].op < SETKEY_ADD || s.cmds[i].op > SETKEY_SPDDUMP)
			__builtin_trap();
	setkey_script_free(&s);
	return 0;
}
