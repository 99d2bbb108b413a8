/* SPDX-License-Identifier: GPL-2.0-only */
/* Hex strings to bytes, for the test tools. */
#ifndef IPSECIF_HEX_H
#define IPSECIF_HEX_H

#include <stdio.h>
#include <string.h>
#include <linux/types.h>

/* Bytes written to out, or -1 for odd length, a bad digit or no room. */
static inline int unhex(const char *s, __u8 *out, size_t max)
{
	size_t n = strlen(s), i;

	if (n % 2 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = b;
	}
	return n / 2;
}

#endif /* IPSECIF_HEX_H */
