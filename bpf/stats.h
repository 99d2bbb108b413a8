/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Counters.  The data path never prints: every packet it takes is counted
 * as passed or as dropped for a named reason (enum ipsecif_drop), on the
 * SA and on the interface when they are known, globally when not.
 */
#ifndef IPSECIF_STATS_H
#define IPSECIF_STATS_H

#include "maps.h"

#define DIR_IN	0
#define DIR_OUT	1

#define PASSED		IPSECIF_DROP_MAX	/* not a drop: counted as passed */
#define PASSED_FAST	(IPSECIF_DROP_MAX + 1)	/* passed, on the XDP line-rate path */
#define PASSED_ENGINE	(IPSECIF_DROP_MAX + 2)	/* passed, ciphered by the engine (engine.h) */

/* Count into map[key]; false when there is no such entry. */
static __always_inline bool stats_add(void *map, const __u32 *key, __u32 reason, __u64 bytes)
{
	struct ipsecif_stats *st = bpf_map_lookup_elem(map, key);

	if (!st)
		return false;
	if (reason < IPSECIF_DROP_MAX) {
		st->drops[reason]++;
	} else {
		st->packets++;
		st->bytes += bytes;
		if (reason == PASSED_FAST)
			st->fast++;
		else if (reason == PASSED_ENGINE)
			st->engine++;
	}
	return true;
}

/*
 * Count a packet (reason PASSED, PASSED_FAST, PASSED_ENGINE) or a drop, on the SA and
 * the interface when they are known (ids not 0) and have counters; when
 * neither does, the global counters of direction dir take it, so that no
 * drop goes uncounted.
 */
static __always_inline void count(__u32 dir, __u32 sa_id, __u32 reqid, __u32 reason, __u64 bytes)
{
	__u32 slot = IPSECIF_SA_SLOT(sa_id);
	bool counted = false;

	if (sa_id)
		counted |= stats_add(&sa_stats, &slot, reason, bytes);
	if (reqid)
		counted |= stats_add(&if_stats, &reqid, reason, bytes);
	if (!counted)
		stats_add(&global_stats, &dir, reason, bytes);
}

#endif /* IPSECIF_STATS_H */
