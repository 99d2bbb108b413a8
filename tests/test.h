/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A minimal test harness: named cases, each passing or failing as a whole,
 * and a closing "N passed, N failed" line that CI reads.
 */
#ifndef IPSECIF_TEST_H
#define IPSECIF_TEST_H

#include <stdio.h>
#include <stdarg.h>

struct test_state {
	int passed;
	int failed;
	int case_failed;
	const char *name;
};

extern struct test_state T;

static inline void test_begin(const char *name)
{
	T.name = name;
	T.case_failed = 0;
}

static inline void test_end(void)
{
	if (T.case_failed) {
		T.failed++;
		printf("FAIL  %s\n", T.name);
	} else {
		T.passed++;
		printf("ok    %s\n", T.name);
	}
	fflush(stdout);
}

/* Record a failed check; prints at most a few lines per case. */
static inline void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (T.case_failed++ >= 5)
		return;
	printf("  %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			test_fail(__FILE__, __LINE__, __VA_ARGS__);	\
	} while (0)

static inline int test_summary(void)
{
	printf("%d passed, %d failed\n", T.passed, T.failed);
	return T.failed ? 1 : 0;
}

#endif /* IPSECIF_TEST_H */
