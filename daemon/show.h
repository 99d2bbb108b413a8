/* SPDX-License-Identifier: GPL-2.0-only */
/* Everything the agent shows, in text and JSON from one call per field (json.h). */
#ifndef IPSECIF_SHOW_H
#define IPSECIF_SHOW_H

#include "agentd.h"
#include "json.h"

struct bpf_map;
struct ipsecif_stats;

/* enum ipsecif_drop's names, as docs/DATAPATH.md and the JSON spell them. */
extern const char *const ipsecif_drop_names[];

/* A per-CPU map's value at key summed over the CPUs, as __u64 words: 0 or -errno (sum zeroed). */
int percpu_sum(const struct bpf_map *map, const void *key, void *sum, size_t size);
/* The per-CPU sums of one slot of sa_stats or if_stats. */
void stats_sum(const struct bpf_map *map, __u32 key, struct ipsecif_stats *sum);
/* SA id's counters (sa_stats at its slot), summed over the CPUs. */
void sa_stats_sum(const struct agent *a, __u32 id, struct ipsecif_stats *sum);
/* ipsecifctl engine [-j]: 0, or -EMSGSIZE when out is too small. */
int show_engine(struct agent *a, bool json, char *out, size_t len);

/* ipsecifctl [-j] [NAME]: the interfaces (or one), their SAs and counters, the LAN devices. */
int show_ifaces(struct agent *a, const char *name, bool json, char *out, size_t len);
/* One SA as setkey -D shows it, or a JSON object. */
void show_sa(struct out *o, struct agent *a, const struct table_sa *s);
/* One of an interface's policies, as setkey -DP shows it, or a JSON object. */
void show_policy(struct out *o, const struct table_policy *p);
/*
 * ipsecifctl stats [-o openmetrics]: every interface's, SA's and the
 * global counters, the SAs' ages and lifetimes, as OpenMetrics text.
 */
int show_metrics(struct agent *a, char *out, size_t len);
/* The "stats" request: checked by ifcmd_parse, answered by show_metrics. */
struct ctl_req;
int show_stats_cmd(struct agent *a, const struct ctl_req *req, char *out, size_t len);
/* Room enough for show_metrics' output, per interface and per SA. */
#define SHOW_METRICS_BASE	16384	/* the families, global drops: about 9000 */
#define SHOW_METRICS_IFACE_MAX	4096	/* about 2200 */
#define SHOW_METRICS_SA_MAX	6144	/* about 3600 */
/* ipsecif-agent status [-j]. */
void show_status(struct agent *a, bool json, char *buf, size_t len);

#endif /* IPSECIF_SHOW_H */
