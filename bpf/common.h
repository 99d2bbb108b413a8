/* SPDX-License-Identifier: GPL-2.0-only */
/* Small helpers every BPF header uses. */
#ifndef IPSECIF_COMMON_H
#define IPSECIF_COMMON_H

#include <linux/types.h>
#include <linux/errno.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

/*
 * Loads and stores of words at any byte offset.  x86 (and arm64) JITs do
 * unaligned accesses, and the verifier permits them on map values; the
 * casts keep clang from splitting them into byte loads.  Never used on
 * the stack, where the verifier insists on alignment.
 */
static __always_inline __u32 ld32(const void *p)
{
	return *(const __u32 *)p;
}

static __always_inline __u64 ld64(const void *p)
{
	return *(const __u64 *)p;
}

static __always_inline void st32(void *p, __u32 v)
{
	*(__u32 *)p = v;
}

static __always_inline void st64(void *p, __u64 v)
{
	*(__u64 *)p = v;
}

static __always_inline __u32 ld_be32(const void *p)
{
	return __builtin_bswap32(ld32(p));
}

static __always_inline __u64 ld_be64(const void *p)
{
	return __builtin_bswap64(ld64(p));
}

static __always_inline void st_be32(void *p, __u32 v)
{
	st32(p, __builtin_bswap32(v));
}

static __always_inline void st_be64(void *p, __u64 v)
{
	st64(p, __builtin_bswap64(v));
}

/*
 * barrier_var(x) (bpf_helpers.h) makes clang forget what it knows of x.
 * Used where it would rewrite base + (16n + 8) as base + (16n | 8), an OR
 * whose bounds the verifier cannot follow, or a select as a branch.
 */

/*
 * All ones when a < b, else zero, for a, b < 2^31.  Loops over a variable
 * length select with this instead of branching: a branch on an unknown
 * length forks the verifier's state on every iteration, and those forks
 * multiply through the rest of the program.
 */
static __always_inline __u32 lt_mask(__u32 a, __u32 b)
{
	__u32 d = a - b;

	/* Hide d from clang, which would turn the select back into a branch. */
	barrier_var(d);
	return (__u32)((__s32)d >> 31);
}

static __always_inline __u32 rotl32(__u32 v, int c)
{
	return (v << c) | (v >> (32 - c));
}

static __always_inline __u32 rotr32(__u32 v, int c)
{
	return (v >> c) | (v << (32 - c));
}

/*
 * Subprograms (__noinline) return int even when there is nothing to say:
 * a void one may leave a pointer in R0, which the verifier rejects.
 */

/*
 * Verdicts of the stages shared by the TC and XDP paths; their callers
 * turn them into TC_ACT_* or XDP_*.
 */
#define ESP_GO		(-1)	/* go on */
#define ESP_DROPPED	(-2)	/* counted; drop it */
#define ESP_NOT_OURS	(-3)	/* leave it to the kernel */

/* One load or store the compiler neither splits, merges nor repeats. */
#define READ_ONCE(x)		(*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile typeof(x) *)&(x) = (v))

#endif /* IPSECIF_COMMON_H */
