// SPDX-License-Identifier: GPL-2.0-only
/*
 * Everything shown: interfaces as ipsecifctl [-j] [NAME] prints them
 * (ifconfig's layout), SAs and policies as setkey -D and -DP do, the
 * agent's status.  Each field is one call of the writer (json.h), which
 * prints its text form or its JSON member.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "ctl.h"
#include "engine.h"
#include "errmsg.h"
#include "iface.h"
#include "ifcmd.h"
#include "keys.h"
#include "show.h"
#include "tcwatch.h"

const char *const ipsecif_drop_names[] = {
	"no_sa", "bad_endpoint", "replay", "too_old", "auth", "bad_pad", "bad_next_hdr",
	"dummy", "inner_family", "ecn", "seq_exhausted", "too_big", "malformed", "crypto",
	"no_route", "expired", "fragment", "redirect_failed", "seq_unreserved",
};
_Static_assert(sizeof(ipsecif_drop_names) / sizeof(ipsecif_drop_names[0]) == IPSECIF_DROP_MAX,
	       "a name for every drop reason");

int percpu_sum(const struct bpf_map *map, const void *key, void *sum, size_t size)
{
	int ncpu = libbpf_num_possible_cpus(), ret = 0;
	/* The kernel hands a per-CPU value out rounded up to 8 bytes a CPU. */
	size_t words = size / sizeof(__u64), stride = (size + 7) / 8, i, j;
	__u64 *v = ncpu > 0 ? calloc(ncpu, stride * 8) : NULL, *out = sum;

	memset(sum, 0, size);
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(map), key, v))
		ret = -errno;
	for (i = 0; !ret && i < (size_t)ncpu; i++)
		for (j = 0; j < words; j++)
			out[j] += v[i * stride + j];
	free(v);
	return ret;
}

void stats_sum(const struct bpf_map *map, __u32 key, struct ipsecif_stats *sum)
{
	percpu_sum(map, &key, sum, sizeof(*sum));
}

void sa_stats_sum(const struct agent *a, __u32 id, struct ipsecif_stats *sum)
{
	stats_sum(a->skel->maps.sa_stats, IPSECIF_SA_SLOT(id), sum);
}

/* Packets, bytes, the fast path's share and the drops by name; lead: the text line's start. */
static void show_stats(struct out *o, const char *lead, const struct ipsecif_stats *st)
{
	char fmt[32];
	bool any = false;
	int j;

	out_text(o, "%s", lead);
	print_u64(o, PRINT_ANY, "packets", "packets %llu", st->packets);
	print_u64(o, PRINT_ANY, "bytes", " bytes %llu", st->bytes);
	/* Of those, on the XDP line-rate path (in text only once there are some). */
	print_u64(o, st->fast ? PRINT_ANY : PRINT_JSON, "fast", " fast %llu", st->fast);
	/* Of those, ciphered by the engine's workers (the rest: by BPF). */
	print_u64(o, st->engine ? PRINT_ANY : PRINT_JSON, "engine", " engine %llu", st->engine);
	out_text(o, " drops");
	out_open_object(o, "drops");
	for (j = 0; j < IPSECIF_DROP_MAX; j++) {
		snprintf(fmt, sizeof(fmt), " %s %%llu", ipsecif_drop_names[j]);
		print_u64(o, st->drops[j] ? PRINT_ANY : PRINT_JSON, ipsecif_drop_names[j], fmt,
			  st->drops[j]);
		any |= st->drops[j];
	}
	out_close(o);
	out_text(o, "%s\n", any ? "" : " 0");
}

static bool stats_zero(const struct ipsecif_stats *st)
{
	int j;

	for (j = 0; j < IPSECIF_DROP_MAX; j++)
		if (st->drops[j])
			return false;
	return !st->packets;
}

/*
 * The packets no SA or interface could be named for (global_stats: no
 * SA for the SPI, malformed headers): in JSON always, in text once there
 * are some.
 */
static void show_global(struct out *o, const struct agent *a)
{
	struct ipsecif_stats in, out;

	stats_sum(a->skel->maps.global_stats, 0, &in);
	stats_sum(a->skel->maps.global_stats, 1, &out);
	if (!o->json && stats_zero(&in) && stats_zero(&out))
		return;
	out_text(o, "global: outside any SA or interface\n");
	out_open_object(o, "global");
	out_open_object(o, "in");
	show_stats(o, "\tin: ", &in);
	out_close(o);
	out_open_object(o, "out");
	show_stats(o, "\tout: ", &out);
	out_close(o);
	out_close(o);
}

/*
 * One show of the interfaces: what each of thousands would otherwise look
 * up again (every SA searched for its reqid's, the same underlay asked
 * for the same tunnel source).
 */
struct show_ctx {
	struct sa_pos {
		__u32 reqid, pos;
	} *by_reqid;			/* the SAs by reqid, then position; NULL: none */
	bool in_known;			/* in, dev, other: for family and src */
	int family, in, dev;
	union ipsecif_addr src;
	__u32 other;
	__u32 block_prog;		/* the shared TC block's program: attach_out_state */
};

static int sa_pos_cmp(const void *x, const void *y)
{
	const struct sa_pos *p = x, *q = y;

	if (p->reqid != q->reqid)
		return p->reqid < q->reqid ? -1 : 1;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* For a show of many interfaces; without (no memory, or one interface) each searches all. */
static void show_ctx_init(struct show_ctx *c, struct agent *a, bool many)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->block_prog = ATTACH_BLOCK_UNKNOWN;
	if (!many || !a->t.n_sas || !(c->by_reqid = calloc(a->t.n_sas, sizeof(*c->by_reqid))))
		return;
	for (i = 0; i < a->t.n_sas; i++)
		c->by_reqid[i] = (struct sa_pos){ a->t.sas[i].reqid, i };
	qsort(c->by_reqid, a->t.n_sas, sizeof(*c->by_reqid), sa_pos_cmp);
}

/* reqid's SAs: [*lo, *hi) of by_reqid, or with none all of the table. */
static const struct sa_pos *show_ctx_sas(const struct show_ctx *c, const struct table *t,
					 __u32 reqid, size_t *lo, size_t *hi)
{
	size_t l = 0, h = t->n_sas, m;

	*lo = 0;
	*hi = t->n_sas;
	if (!c->by_reqid)
		return NULL;
	while (l < h) {		/* the first of reqid or above */
		m = l + (h - l) / 2;
		if (c->by_reqid[m].reqid < reqid)
			l = m + 1;
		else
			h = m;
	}
	*lo = *hi = l;
	while (*hi < t->n_sas && c->by_reqid[*hi].reqid == reqid)
		++*hi;
	return c->by_reqid;
}

/* ipsecN's SAs and counters, after its ifconfig lines or inside its JSON object. */
static void show_traffic(struct out *o, struct agent *a, const struct show_ctx *c,
			 const struct table_iface *f)
{
	struct ipsecif_stats st;
	size_t k, lo, hi;
	const struct sa_pos *pos = show_ctx_sas(c, &a->t, f->reqid, &lo, &hi);
	bool in;

	out_open_array(o, "sas");
	for (k = lo; k < hi; k++) {
		const struct table_sa *s = &a->t.sas[pos ? pos[k].pos : k];

		if (s->reqid != f->reqid || table_sa_iface(&a->t, s, &in) != f)
			continue;
		out_open_object(o, NULL);
		print_u64(o, PRINT_ANY, "spi", "\tsa %llu ", s->spi);
		print_string(o, PRINT_ANY, "dir", "%s", in ? "in" : "out");
		print_bool(o, PRINT_ANY, "dying", " dying", s->expired & IPSECIF_SA_EXP_SOFT);
		/* By direction: the packets, and those the engine ciphered (the rest: BPF). */
		sa_stats_sum(a, s->id, &st);
		print_u64(o, PRINT_ANY, "packets", " packets %llu", st.packets);
		print_u64(o, st.engine ? PRINT_ANY : PRINT_JSON, "engine", " engine %llu",
			  st.engine);
		out_text(o, "\n");
		out_close(o);
	}
	out_close(o);
	stats_sum(a->skel->maps.if_stats, f->reqid, &st);
	show_stats(o, "\t", &st);
}

static void show_flags(struct out *o, __u32 flags)
{
	static const struct {
		__u32 f;
		const char *name;
	} names[] = {
		{ IPSECIF_F_NATT, "link0" }, { IPSECIF_F_ECN, "link1" }, { IPSECIF_F_INET6, "link2" },
		{ IPSECIF_F_XDP_FWD, "xdpfwd" },
	};
	size_t i;

	out_open_array(o, "flags");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].f)
			print_string(o, PRINT_ANY, NULL, ",%s", names[i].name);
	out_close(o);
}

/*
 * Where the programs sit: xdp_esp_in on the tunnel's underlay device (or
 * null, with a warning when another owner's XDP program holds it) and
 * tc_esp_out on ipsecN's peer ("tcx", "filter" on kernels without tcx).
 */
static void show_attached(struct out *o, const struct agent *a, struct show_ctx *c,
			  const struct table_iface *f)
{
	const char *how = attach_out_state(a, f->name, &c->block_prog);
	char dev[IF_NAMESIZE] = "", msg[160];
	__u32 other;
	int idx, in;

	/* Interfaces whose tunnels start from one address share its answer. */
	if (f->tunnel && c->in_known && c->family == f->family &&
	    !memcmp(&c->src, &f->src, sizeof(c->src))) {
		in = c->in;
		idx = c->dev;
		other = c->other;
	} else {
		in = attach_in_state(a, f, &idx, &other);
		*c = (struct show_ctx){ c->by_reqid, f->tunnel, f->family, in, idx, f->src, other,
					 c->block_prog };
	}
	if (idx)
		attach_dev_name(idx, dev);
	out_open_object(o, "attached");
	out_text(o, "\tattached");
	if (in == 1) {
		print_string(o, PRINT_ANY, "xdp_esp_in", " xdp_esp_in on %s", dev);
	} else {
		out_text(o, " no xdp_esp_in");
		print_null(o, "xdp_esp_in");
	}
	if (how) {
		print_string(o, PRINT_ANY, "tc_esp_out", ", tc_esp_out (%s)", how);
	} else {
		out_text(o, ", no tc_esp_out");
		print_null(o, "tc_esp_out");
	}
	out_text(o, "\n");
	if (in == -EBUSY) {
		attach_refused_text(idx, other, msg, sizeof(msg));
		print_string(o, PRINT_ANY, "warning", "\twarning: %s\n", msg);
		print_u64(o, PRINT_JSON, "other_xdp_prog", NULL, other);
	}
	out_close(o);
}

static void show_iface(struct out *o, struct agent *a, struct show_ctx *c,
		       const struct table_iface *f)
{
	char s[INET6_ADDRSTRLEN] = "", d[INET6_ADDRSTRLEN] = "";
	long mtu = dev_attr(f->name, "mtu"), flags = dev_attr(f->name, "flags");

	if (mtu < 0)
		mtu = 0;
	if (flags < 0)
		flags = 0;
	out_open_object(o, NULL);
	print_string(o, PRINT_ANY, "name", "%s: flags=<", f->name);
	out_text(o, "%s", flags & IFF_UP ? "UP" : "DOWN");
	print_bool(o, PRINT_JSON, "up", NULL, flags & IFF_UP);
	show_flags(o, f->flags);
	print_s64(o, PRINT_ANY, "mtu", "> mtu %lld\n", mtu);
	print_u64(o, PRINT_ANY, "reqid", "\treqid %llu\n", f->reqid);
	if (f->tunnel) {
		inet_ntop(f->family, &f->src, s, sizeof(s));
		inet_ntop(f->family, &f->dst, d, sizeof(d));
		out_open_object(o, "tunnel");
		print_string(o, PRINT_ANY, "family", "\ttunnel %s ",
			     f->family == AF_INET ? "inet" : "inet6");
		print_string(o, PRINT_ANY, "src", "%s", s);
		print_string(o, PRINT_ANY, "dst", " --> %s\n", d);
		out_close(o);
	} else {
		print_null(o, "tunnel");
	}
	show_attached(o, a, c, f);
	show_traffic(o, a, c, f);
	out_close(o);
}

/* The LAN devices carrying xdp_lan, as a JSON array or a line of names. */
static void show_lan(struct out *o, const struct agent *a)
{
	char dev[IF_NAMESIZE];
	int k;

	if (!o->json && !a->n_lan)
		return;
	out_text(o, "lan:");
	out_open_array(o, "lan");
	for (k = 0; k < a->n_lan; k++) {
		if (!if_indextoname(a->lan_devs[k], dev))
			snprintf(dev, sizeof(dev), "#%d", a->lan_devs[k]);	/* gone since */
		print_string(o, PRINT_ANY, NULL, " %s", dev);
	}
	out_close(o);
	out_text(o, "\n");
}

int show_ifaces(struct agent *a, const char *name, bool json, char *out, size_t len)
{
	struct show_ctx c;
	struct out o;
	size_t i;

	if (name[0] && !table_find(&a->t, name))
		return errmsg(out, len, -ENODEV, "ipsecifctl: %s: no such interface\n", name);
	show_ctx_init(&c, a, !name[0]);
	out_init(&o, out, len, json);
	out_open_object(&o, NULL);
	out_open_array(&o, "interfaces");
	for (i = 0; i < a->t.n_ifaces; i++)
		if (!name[0] || !strcmp(a->t.ifaces[i].name, name))
			show_iface(&o, a, &c, &a->t.ifaces[i]);
	free(c.by_reqid);
	out_close(&o);
	if (json || !name[0]) {
		show_lan(&o, a);
		show_global(&o, a);
	}
	out_close(&o);
	return 0;
}

void show_sa(struct out *o, struct agent *a, const struct table_sa *s)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	struct ipsecif_stats st;
	bool in, esn = s->flags & IPSECIF_SA_F_ESN;
	const char *state = table_sa_iface(&a->t, s, &in) ? "active" : "inactive";

	inet_ntop(s->family, &s->src, src, sizeof(src));
	inet_ntop(s->family, &s->dst, dst, sizeof(dst));
	sa_stats_sum(a, s->id, &st);
	out_open_object(o, NULL);
	print_string(o, PRINT_ANY, "src", "%s ", src);
	print_string(o, PRINT_ANY, "dst", "%s\n", dst);
	print_string(o, PRINT_ANY, "proto", "\t%s", "esp");
	print_string(o, PRINT_ANY, "mode", " mode=%s", "tunnel");
	print_u64(o, PRINT_ANY, "spi", " spi=%llu", s->spi);
	out_text(o, "(0x%08x)", s->spi);
	print_u64(o, PRINT_ANY, "reqid", " reqid=%llu", s->reqid);
	print_string(o, PRINT_ANY, "state", " %s", state);
	print_bool(o, PRINT_ANY, "dying", " dying", s->expired & IPSECIF_SA_EXP_SOFT);
	print_u64(o, PRINT_ANY, "replay", "\n\treplay=%llu", s->replay);
	print_bool(o, PRINT_JSON, "esn", NULL, esn);
	out_text(o, " esn=%s", esn ? "on" : "off");
	out_open_array(o, "natt");
	print_u64(o, PRINT_ANY, NULL, " natt=%llu", s->sport);
	print_u64(o, PRINT_ANY, NULL, "/%llu", s->dport);
	out_close(o);
	print_u64(o, PRINT_ANY, "soft_bytes", " soft=%llu(bytes)", s->soft_bytes);
	print_u64(o, PRINT_ANY, "hard_bytes", " hard=%llu(bytes)", s->hard_bytes);
	print_u64(o, PRINT_ANY, "soft_time", "\n\tsoft=%llu(s)", s->soft_time);
	print_u64(o, PRINT_ANY, "hard_time", " hard=%llu(s)", s->hard_time);
	print_u64(o, PRINT_ANY, "age", " age=%llu(s)", (mono_ns() - s->added) / 1000000000ULL);
	print_u64(o, PRINT_ANY, "bytes", "\n\tcurrent: bytes=%llu", st.bytes);
	print_u64(o, PRINT_ANY, "packets", " packets=%llu", st.packets);
	/* Of those, ciphered by the engine's workers. */
	print_u64(o, st.engine ? PRINT_ANY : PRINT_JSON, "engine", " engine=%llu", st.engine);
	out_text(o, "\n");
	out_close(o);
}

void show_policy(struct out *o, const struct table_policy *p)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

	inet_ntop(p->iface->family, &p->src, src, sizeof(src));
	inet_ntop(p->iface->family, &p->dst, dst, sizeof(dst));
	out_open_object(o, NULL);
	print_string(o, PRINT_ANY, "src", "%s ", src);
	print_string(o, PRINT_ANY, "dst", "%s ", dst);
	print_string(o, PRINT_ANY, "inner", "%s -P ", p->inner_family == AF_INET ? "ipv4" : "ipv6");
	print_string(o, PRINT_ANY, "dir", "%s ", p->dir == POLICY_OUT ? "out" : "in");
	print_string(o, PRINT_ANY, "action", "%s ", p->discard ? "discard" : "ipsec");
	out_text(o, "esp/tunnel/%s-%s", src, dst);
	print_u64(o, PRINT_ANY, "reqid", "/unique:%llu", p->iface->reqid);
	print_string(o, PRINT_ANY, "interface", " (%s)\n", p->iface->name);
	out_close(o);
}

void show_status(struct agent *a, bool json, char *buf, size_t len)
{
	struct out o;

	out_init(&o, buf, len, json);
	out_open_object(&o, NULL);
	print_bool(&o, PRINT_JSON, "running", NULL, true);
	print_s64(&o, PRINT_ANY, "pid", "running, pid %lld", getpid());
	print_string(&o, PRINT_ANY, "pin_dir", ", pins in %s", a->pin_dir);
	print_u64(&o, PRINT_ANY, "interfaces", ", %llu interfaces", a->t.n_ifaces);
	print_u64(&o, PRINT_ANY, "sas", ", %llu SAs", a->t.n_sas);
	print_string(&o, PRINT_ANY, "tc_hook", ", new interfaces' tc_esp_out as a %s",
		     tc_hook_names[a->tc_hook]);
	/* Removed by someone else and put back (tcwatch.c): text only if any. */
	print_u64(&o, tcwatch_put_backs(a) ? PRINT_ANY : PRINT_JSON, "tc_hooks_put_back",
		  ", %llu put back", tcwatch_put_backs(a));
	out_text(&o, "\n");
	out_close(&o);
}

/*
 * ipsecifctl stats -o openmetrics: the counters in the OpenMetrics text
 * format (which Prometheus's text parser reads too).  A family's samples
 * stand together under its TYPE, HELP and UNIT lines, as the format asks;
 * the numbers are those ipsecifctl -j and setkey -D show, read at once.
 */
struct metrics {
	struct out *o;
	struct agent *a;
	struct ipsecif_stats *ifs, *sas, glob[2];
};

/* A label value: \, " and newline escaped (OpenMetrics §ABNF). */
static void om_label(struct out *o, const char *name, const char *v, bool first)
{
	out_text(o, "%s%s=\"", first ? "" : ",", name);
	for (; *v; v++)
		if (*v == '\\' || *v == '"')
			out_text(o, "\\%c", *v);
		else if (*v == '\n')
			out_text(o, "\\n");
		else
			out_text(o, "%c", *v);
	out_text(o, "\"");
}

static void om_family(struct out *o, const char *name, const char *type, const char *unit,
		      const char *help)
{
	out_text(o, "# TYPE %s %s\n", name, type);
	if (unit)
		out_text(o, "# UNIT %s %s\n", name, unit);
	out_text(o, "# HELP %s %s\n", name, help);
}

/* The SA's interface name ("" while it has none) and direction. */
static const char *sa_labels(struct agent *a, const struct table_sa *s, const char **dir)
{
	bool in;
	const struct table_iface *f = table_sa_iface(&a->t, s, &in);

	*dir = f ? (in ? "in" : "out") : "";
	return f ? f->name : "";
}

static void om_sa_sample(struct out *o, struct agent *a, const char *name,
			 const struct table_sa *s, const char *reason)
{
	const char *dir, *ifname = sa_labels(a, s, &dir);
	char spi[16];

	snprintf(spi, sizeof(spi), "%u", s->spi);
	out_text(o, "%s{", name);
	om_label(o, "interface", ifname, true);
	om_label(o, "spi", spi, false);
	om_label(o, "direction", dir, false);
	if (reason)
		om_label(o, "reason", reason, false);
	out_text(o, "} ");
}

/* One u64 per interface, per SA or per direction of the global counters. */
enum om_field { OM_PACKETS, OM_BYTES, OM_FAST, OM_ENGINE };

static __u64 om_field(const struct ipsecif_stats *st, enum om_field f)
{
	return f == OM_PACKETS ? st->packets : f == OM_BYTES ? st->bytes :
	       f == OM_FAST ? st->fast : st->engine;
}

static void om_counters(struct metrics *m, const char *what, const char *unit,
			enum om_field f, const char *help_if, const char *help_sa)
{
	char name[64];
	size_t i;

	snprintf(name, sizeof(name), "ipsecif_interface_%s", what);
	om_family(m->o, name, "counter", unit, help_if);
	for (i = 0; i < m->a->t.n_ifaces; i++) {
		out_text(m->o, "%s_total{", name);
		om_label(m->o, "interface", m->a->t.ifaces[i].name, true);
		out_text(m->o, "} %llu\n", (unsigned long long)om_field(&m->ifs[i], f));
	}
	snprintf(name, sizeof(name), "ipsecif_sa_%s", what);
	om_family(m->o, name, "counter", unit, help_sa);
	for (i = 0; i < m->a->t.n_sas; i++) {
		snprintf(name, sizeof(name), "ipsecif_sa_%s_total", what);
		om_sa_sample(m->o, m->a, name, &m->a->t.sas[i], NULL);
		out_text(m->o, "%llu\n", (unsigned long long)om_field(&m->sas[i], f));
	}
}

static void om_drops(struct metrics *m)
{
	static const char *const dirs[] = { "in", "out" };
	size_t i;
	int j, d;

	om_family(m->o, "ipsecif_interface_drops", "counter", NULL,
		  "Packets of the interface dropped, by reason (ipsecif(7)).");
	for (i = 0; i < m->a->t.n_ifaces; i++)
		for (j = 0; j < IPSECIF_DROP_MAX; j++) {
			out_text(m->o, "ipsecif_interface_drops_total{");
			om_label(m->o, "interface", m->a->t.ifaces[i].name, true);
			om_label(m->o, "reason", ipsecif_drop_names[j], false);
			out_text(m->o, "} %llu\n", (unsigned long long)m->ifs[i].drops[j]);
		}
	om_family(m->o, "ipsecif_sa_drops", "counter", NULL,
		  "Packets of the SA dropped, by reason (ipsecif(7)).");
	for (i = 0; i < m->a->t.n_sas; i++)
		for (j = 0; j < IPSECIF_DROP_MAX; j++) {
			om_sa_sample(m->o, m->a, "ipsecif_sa_drops_total", &m->a->t.sas[i],
				     ipsecif_drop_names[j]);
			out_text(m->o, "%llu\n", (unsigned long long)m->sas[i].drops[j]);
		}
	om_family(m->o, "ipsecif_global_drops", "counter", NULL,
		  "Packets dropped before an SA or interface was known, by direction and reason.");
	for (d = 0; d < 2; d++)
		for (j = 0; j < IPSECIF_DROP_MAX; j++) {
			out_text(m->o, "ipsecif_global_drops_total{");
			om_label(m->o, "direction", dirs[d], true);
			om_label(m->o, "reason", ipsecif_drop_names[j], false);
			out_text(m->o, "} %llu\n", (unsigned long long)m->glob[d].drops[j]);
		}
}

/* A gauge of each SA: fn gives its value. */
static void om_sa_gauge(struct metrics *m, const char *name, const char *unit, const char *help,
			__u64 (*fn)(const struct table_sa *s))
{
	size_t i;

	om_family(m->o, name, "gauge", unit, help);
	for (i = 0; i < m->a->t.n_sas; i++) {
		om_sa_sample(m->o, m->a, name, &m->a->t.sas[i], NULL);
		out_text(m->o, "%llu\n", (unsigned long long)fn(&m->a->t.sas[i]));
	}
}

static __u64 sa_age(const struct table_sa *s)
{
	return (mono_ns() - s->added) / 1000000000ULL;
}

static __u64 sa_soft_time(const struct table_sa *s) { return s->soft_time; }
static __u64 sa_hard_time(const struct table_sa *s) { return s->hard_time; }
static __u64 sa_soft_bytes(const struct table_sa *s) { return s->soft_bytes; }
static __u64 sa_hard_bytes(const struct table_sa *s) { return s->hard_bytes; }
static __u64 sa_dying(const struct table_sa *s) { return !!(s->expired & IPSECIF_SA_EXP_SOFT); }

static void om_ifaces(struct metrics *m)
{
	size_t i, k, n;
	bool in;

	om_family(m->o, "ipsecif_interface_up", "gauge", NULL,
		  "1 while the interface is up (flags=<UP>).");
	for (i = 0; i < m->a->t.n_ifaces; i++) {
		long flags = dev_attr(m->a->t.ifaces[i].name, "flags");

		out_text(m->o, "ipsecif_interface_up{");
		om_label(m->o, "interface", m->a->t.ifaces[i].name, true);
		out_text(m->o, "} %d\n", flags >= 0 && (flags & IFF_UP));
	}
	om_family(m->o, "ipsecif_interface_mtu_bytes", "gauge", "bytes", "The interface's MTU.");
	for (i = 0; i < m->a->t.n_ifaces; i++) {
		long mtu = dev_attr(m->a->t.ifaces[i].name, "mtu");

		out_text(m->o, "ipsecif_interface_mtu_bytes{");
		om_label(m->o, "interface", m->a->t.ifaces[i].name, true);
		out_text(m->o, "} %ld\n", mtu > 0 ? mtu : 0);
	}
	om_family(m->o, "ipsecif_interface_sas", "gauge", NULL,
		  "The SAs carrying the interface's traffic, by direction.");
	for (i = 0; i < m->a->t.n_ifaces; i++)
		for (int d = 0; d < 2; d++) {
			for (k = n = 0; k < m->a->t.n_sas; k++)
				if (table_sa_iface(&m->a->t, &m->a->t.sas[k], &in) ==
				    &m->a->t.ifaces[i] && in == !d)
					n++;
			out_text(m->o, "ipsecif_interface_sas{");
			om_label(m->o, "interface", m->a->t.ifaces[i].name, true);
			om_label(m->o, "direction", d ? "out" : "in", false);
			out_text(m->o, "} %zu\n", n);
		}
}

int show_metrics(struct agent *a, char *out, size_t len)
{
	struct metrics m = { .a = a };
	struct out o;
	size_t i;

	m.o = &o;
	m.ifs = calloc(a->t.n_ifaces + 1, sizeof(*m.ifs));
	m.sas = calloc(a->t.n_sas + 1, sizeof(*m.sas));
	if (!m.ifs || !m.sas) {
		free(m.ifs);
		free(m.sas);
		return errmsg(out, len, -ENOMEM, "ipsecif-agent: out of memory\n");
	}
	/* All counters first, so that the families agree with one another. */
	for (i = 0; i < a->t.n_ifaces; i++)
		stats_sum(a->skel->maps.if_stats, a->t.ifaces[i].reqid, &m.ifs[i]);
	for (i = 0; i < a->t.n_sas; i++)
		sa_stats_sum(a, a->t.sas[i].id, &m.sas[i]);
	stats_sum(a->skel->maps.global_stats, 0, &m.glob[0]);
	stats_sum(a->skel->maps.global_stats, 1, &m.glob[1]);

	out_init(&o, out, len, false);
	om_family(&o, "ipsecif_agent_interfaces", "gauge", NULL, "The agent's interfaces.");
	out_text(&o, "ipsecif_agent_interfaces %zu\n", a->t.n_ifaces);
	om_family(&o, "ipsecif_agent_sas", "gauge", NULL, "The agent's SAs, active or not.");
	out_text(&o, "ipsecif_agent_sas %zu\n", a->t.n_sas);
	om_family(&o, "ipsecif_agent_lan_devices", "gauge", NULL,
		  "The LAN devices carrying xdp_lan.");
	out_text(&o, "ipsecif_agent_lan_devices %d\n", a->n_lan);
	om_ifaces(&m);
	om_counters(&m, "packets", NULL, OM_PACKETS,
		    "Inner packets the interface carried, both ways.",
		    "Inner packets the SA carried (direction: in decrypted, out sealed).");
	om_counters(&m, "bytes", "bytes", OM_BYTES,
		    "Inner bytes the interface carried, both ways.",
		    "Inner bytes the SA carried.");
	om_counters(&m, "fast_packets", NULL, OM_FAST,
		    "Of the interface's packets, those on the XDP line-rate path.",
		    "Of the SA's packets, those on the XDP line-rate path.");
	om_counters(&m, "engine_packets", NULL, OM_ENGINE,
		    "Of the interface's packets, those the engine's workers ciphered.",
		    "Of the SA's packets, those the engine's workers ciphered.");
	om_drops(&m);
	om_sa_gauge(&m, "ipsecif_sa_age_seconds", "seconds", "Seconds since the SA was added.",
		    sa_age);
	om_sa_gauge(&m, "ipsecif_sa_soft_lifetime_seconds", "seconds",
		    "The SA's soft lifetime (-ls), 0 for none.", sa_soft_time);
	om_sa_gauge(&m, "ipsecif_sa_hard_lifetime_seconds", "seconds",
		    "The SA's hard lifetime (-lh), 0 for none.", sa_hard_time);
	om_sa_gauge(&m, "ipsecif_sa_soft_lifetime_bytes", "bytes",
		    "The SA's soft byte limit (-bs), 0 for none.", sa_soft_bytes);
	om_sa_gauge(&m, "ipsecif_sa_hard_lifetime_bytes", "bytes",
		    "The SA's hard byte limit (-bh), 0 for none.", sa_hard_bytes);
	om_sa_gauge(&m, "ipsecif_sa_dying", NULL,
		    "1 once the SA's soft lifetime is over (shown dying).", sa_dying);
	out_text(&o, "# EOF\n");
	free(m.ifs);
	free(m.sas);
	return 0;
}

int show_stats_cmd(struct agent *a, const struct ctl_req *req, char *out, size_t len)
{
	struct ifcmd c;
	char err[512];
	int ret = ifcmd_parse(req->argc, (char *const *)req->argv, &c, err, sizeof(err));

	out[0] = 0;
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: %s\n", err);
	if (req->flags & CTL_F_JSON)
		return errmsg(out, len, -EINVAL, "ipsecifctl: stats prints OpenMetrics text; "
			      "ipsecifctl -j gives the counters in JSON\n");
	return show_metrics(a, out, len);
}

/* The engine's BPF side's counters, summed over the CPUs. */
static void bpf_counters(struct agent *a, struct ipsecif_eng_counters *sum)
{
	__u32 zero = 0;

	_Static_assert(sizeof(*sum) % sizeof(__u64) == 0, "counters of __u64 words");
	percpu_sum(a->skel->maps.eng_stats, &zero, sum, sizeof(*sum));
}

static const char *const wstate_name[] = {
	[ENG_W_OFF] = "off", [ENG_W_STARTING] = "starting", [ENG_W_RUNNING] = "running",
};

static void show_dir(struct out *o, const char *key, const struct ipsecif_eng_counters *c, int d)
{
	out_open_object(o, key);
	out_text(o, "  %s:", key);
	print_u64(o, PRINT_ANY, "sent", " sent %llu", c->sent[d]);
	print_u64(o, PRINT_ANY, "back", " back %llu", c->back[d]);
	print_u64(o, PRINT_ANY, "fallback", " ciphered by BPF for want of a worker %llu",
		  c->fallback[d]);
	print_u64(o, PRINT_ANY, "bad", " bad %llu\n", c->bad[d]);
	out_close(o);
}

/* ipsecifctl engine: the engine's settings, its workers and both directions' counters. */
int show_engine(struct agent *a, bool json, char *out, size_t len)
{
	struct engine *e = a->eng;
	struct ipsecif_eng_counters c;
	__u64 now = mono_ns();
	struct out o;
	int q, s;

	out_init(&o, out, len, json);
	out_open_object(&o, NULL);
	print_bool(&o, PRINT_JSON, "on", NULL, e && e->on);
	print_bool(&o, PRINT_JSON, "up", NULL, e && e->up);
	if (!e || !e->on) {
		print_string(&o, PRINT_TEXT, NULL, "%s", "engine off: BPF ciphers everything\n");
		out_close(&o);
		return out_cut(&o) ? -EMSGSIZE : 0;
	}
	print_string(&o, PRINT_TEXT, NULL, "engine %s", e->up ? "up" : "down");
	print_u64(&o, PRINT_ANY, "workers", ", %llu workers", e->n_workers);
	print_u64(&o, PRINT_ANY, "keys", ", %llu keys", e->n_keys);
	print_u64(&o, PRINT_ANY, "stuck", ", %llu taken out stuck", e->stuck);
	print_u64(&o, PRINT_ANY, "died", ", %llu died\n", e->died);
	out_open_object(&o, "min_text");
	out_text(&o, "  to the engine from (text bytes):");
	for (s = 1; s < IPSECIF_ENC_MAX; s++)
		print_u64(&o, PRINT_ANY, ipsecif_enc_name(s), s == 1 ? " %llu" : ", %llu",
			  e->set.min_text[s]);
	out_text(&o, " (");
	for (s = 1; s < IPSECIF_ENC_MAX; s++)
		out_text(&o, s == 1 ? "%s" : ", %s", ipsecif_enc_name(s));
	out_text(&o, ")\n");
	out_close(&o);
	bpf_counters(a, &c);
	show_dir(&o, "in", &c, 0);
	show_dir(&o, "out", &c, 1);
	out_open_array(&o, "worker");
	for (q = 0; q < e->n_workers; q++) {
		const struct eng_worker *w = &e->w[q];
		const struct ipsecif_eng_status *st = &e->status[q];
		const struct { const char *key, *text; __u64 v; } n[] = {
			{ "frames", "    frames %llu", st->frames },
			{ "sealed", " sealed %llu", st->sealed },
			{ "opened", " opened %llu", st->opened },
			{ "bad_icv", " bad_icv %llu", st->bad_icv },
			{ "no_key", " no_key %llu", st->no_key },
			{ "bad_frame", " bad_frame %llu", st->bad_frame },
			{ "tx_full", " tx_full %llu\n", st->tx_full },
			{ "rx_depth", "    rx queue %llu", st->rx_depth },
			{ "tx_depth", " tx queue %llu", st->tx_depth },
			{ "rx_dropped", " rx_dropped %llu", st->rx_dropped },
			{ "rx_ring_full", " rx_ring_full %llu\n", st->rx_ring_full },
		};
		size_t k;

		out_open_object(&o, NULL);
		print_u64(&o, PRINT_ANY, "queue", "  worker %llu", q);
		print_string(&o, PRINT_ANY, "state", " %s", wstate_name[w->state]);
		print_s64(&o, PRINT_ANY, "pid", " pid %lld", w->pid);
		print_s64(&o, PRINT_ANY, "cpu", " cpu %lld", w->cpu);
		print_u64(&o, PRINT_ANY, "heartbeat_age_ms", " heartbeat %llu ms ago",
			  w->beat_seen ? (now - w->beat_seen) / 1000000 : 0);
		print_u64(&o, PRINT_ANY, "restarts", " restarts %llu\n", w->restarts);
		for (k = 0; k < sizeof(n) / sizeof(n[0]); k++)
			print_u64(&o, PRINT_ANY, n[k].key, n[k].text, n[k].v);
		out_close(&o);
	}
	out_close(&o);
	out_close(&o);
	return out_cut(&o) ? -EMSGSIZE : 0;
}
