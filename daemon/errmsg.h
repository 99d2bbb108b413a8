/* SPDX-License-Identifier: GPL-2.0-only */
/* Error messages for the caller's buffer, the way every daemon API reports. */
#ifndef IPSECIF_ERRMSG_H
#define IPSECIF_ERRMSG_H

#include <stdarg.h>
#include <stdio.h>

/* Write the message into err (when given) and return ret, a -errno. */
static inline __attribute__((format(printf, 4, 5)))
int errmsg(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

#endif /* IPSECIF_ERRMSG_H */
