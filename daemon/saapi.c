// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SA API (CTL_REQ_SA): what a key manager's kernel interface needs,
 * one operation per call, in the shape of strongSwan's kernel_ipsec_t
 * (get_spi, add_sa, update_sa, query_sa, del_sa, flush_sas; plugin/ maps
 * one to one).  Every reply carries a struct ctl_sa_reply on success, a
 * message naming the problem otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "errmsg.h"
#include "iface.h"
#include "sadb.h"
#include "saapi.h"
#include "show.h"
#include "state.h"

static int sa_add(struct agent *a, const struct ctl_sa *c, char *err, size_t errlen)
{
	struct ipsecif_key_params p = {
		.enc = c->enc, .auth = c->auth, .enc_key = c->enc_key,
		.enc_key_len = c->enc_key_len,
		.auth_key = c->auth_key_len ? c->auth_key : NULL,
		.auth_key_len = c->auth_key_len,
	};
	struct table_sa t = { .spi = c->spi, .family = c->family, .src = c->src, .dst = c->dst,
			      .reqid = c->reqid, .flags = c->flags, .replay = c->replay,
			      .sport = c->sport, .dport = c->dport,
			      .soft_bytes = c->soft_bytes, .hard_bytes = c->hard_bytes,
			      .soft_packets = c->soft_packets, .hard_packets = c->hard_packets,
			      .soft_time = c->soft_time, .hard_time = c->hard_time,
			      .added = mono_ns(), .enc = c->enc, .auth = c->auth, .by_api = true };
	int ret;

	t.not_before = c->hold_ms ? t.added + c->hold_ms * 1000000ULL : 0;

	if (table_sa_find(&a->t, c->spi, c->family, &c->dst))
		return errmsg(err, errlen, -EEXIST, "SA %u exists", c->spi);
	ret = sadb_install(a, &t, &p, err, errlen);
	if (ret)
		return ret;
	sadb_spi_release(a, c->spi);
	sadb_touch(a, t.reqid);
	sadb_changed(a);
	return 0;
}

/*
 * MOBIKE (RFC 4555) moved an SA that served interface name: the tunnel
 * follows it, as the key manager's view of the endpoints is the current
 * one.  The interface's other SAs come along as the key manager updates
 * them; one that cannot (another interface has those endpoints) stays
 * inactive, and the log says why.
 */
static void tunnel_follow(struct agent *a, const char *name, const struct table_sa *t, bool in)
{
	const union ipsecif_addr *src = in ? &t->dst : &t->src, *dst = in ? &t->src : &t->dst;
	char err[256];

	if (table_set_tunnel(&a->t, name, t->family, src, dst, err, sizeof(err))) {
		logmsg(LOG_WARNING, "SA %u moved: %s", t->spi, err);
		return;
	}
	mtu_refresh(a, table_find(&a->t, name), mtu_now(name));
	logmsg(LOG_NOTICE, "%s: the tunnel follows SA %u (MOBIKE)", name, t->spi);
}

/* New addressing for an SA in place (MOBIKE, RFC 4555; NAT-T ports, RFC 3948). */
static int sa_update(struct agent *a, struct table_sa *t, const struct ctl_sa *c,
		     char *err, size_t errlen)
{
	struct table_sa n = *t;
	bool in, in_old = false;
	const struct table_iface *f = table_sa_iface(&a->t, t, &in_old);

	if (c->new_flags & ~(IPSECIF_SA_F_ESN | IPSECIF_SA_F_NATT))
		return errmsg(err, errlen, -EINVAL, "SA %u: unknown flags %#x", t->spi,
			      c->new_flags);
	n.family = c->new_family;
	n.src = c->new_src;
	n.dst = c->new_dst;
	n.sport = c->new_sport;
	n.dport = c->new_dport;
	n.flags = (t->flags & ~IPSECIF_SA_F_NATT) | (c->new_flags & IPSECIF_SA_F_NATT);
	if ((n.family != t->family || memcmp(&n.dst, &t->dst, sizeof(n.dst))) &&
	    table_sa_find(&a->t, n.spi, n.family, &n.dst))
		return errmsg(err, errlen, -EEXIST, "SA %u exists at the new address", n.spi);
	sadb_readdress(a, t, &n);
	*t = n;
	state_sa_changed(a, t);
	if (f && !table_sa_iface(&a->t, t, &in))
		tunnel_follow(a, f->name, t, in_old);
	if (!table_sa_iface(&a->t, t, &in))
		sadb_unmap(a, t);	/* no interface has these endpoints */
	sadb_touch(a, t->reqid);
	sadb_changed(a);
	return 0;
}

/* Counters, and how long since they moved (charon's use time). */
static void sa_query(struct agent *a, struct table_sa *t, struct ctl_sa_reply *r)
{
	struct ipsecif_stats st;
	__u64 now = mono_ns();

	sa_stats_sum(a, t->id, &st);
	if (st.packets != t->last_packets) {
		t->last_packets = st.packets;
		t->last_used = now;
		state_sa_changed(a, t);
	}
	r->bytes = st.bytes;
	r->packets = st.packets;
	r->idle_ns = t->last_used ? now - t->last_used : ~0ULL;
}

bool saapi_changes(__u32 op)
{
	return op != CTL_SA_GETSPI && op != CTL_SA_QUERY && op != CTL_SA_POLICY &&
	       op != CTL_SA_RELEASE;
}

int saapi_do(struct agent *a, const struct ctl_sa *c, struct ctl_sa_reply *r, char *err,
	     size_t errlen)
{
	struct table_sa *t = NULL;
	char addr[INET6_ADDRSTRLEN];
	const struct table_iface *f;
	size_t i;
	bool in;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	switch (c->op) {
	case CTL_SA_GETSPI:
		ret = sadb_getspi(a, &r->spi, err, errlen);
		break;
	case CTL_SA_ADD:
		ret = sa_add(a, c, err, errlen);
		t = ret ? NULL : table_sa_find(&a->t, c->spi, c->family, &c->dst);
		break;
	case CTL_SA_FLUSH:
		for (i = a->t.n_sas; i-- > 0;)
			if (a->t.sas[i].by_api) {
				sadb_touch(a, a->t.sas[i].reqid);
				sadb_forget(a, i, false);
			}
		sadb_changed(a);
		break;
	case CTL_SA_RELEASE:
		sadb_release(a, c->reqid);
		break;
	case CTL_SA_POLICY:
		f = table_find_reqid(&a->t, c->reqid);
		if (!f || !f->tunnel)
			ret = errmsg(err, errlen, -ENXIO, "no interface with reqid %u and a tunnel",
				     c->reqid);
		break;
	default:
		t = table_sa_find(&a->t, c->spi, c->family, &c->dst);
		if (!t && c->op == CTL_SA_DEL && sadb_spi_held(a, c->spi)) {
			/* Handed out, never added (the negotiation failed): free again. */
			sadb_spi_release(a, c->spi);
			break;
		}
		if (!t) {
			ret = errmsg(err, errlen, -ESRCH, "no SA %u to %s", c->spi,
				     inet_ntop(c->family, &c->dst, addr, sizeof(addr)) ?: "?");
			break;
		}
		if (c->op == CTL_SA_UPDATE)
			ret = sa_update(a, t, c, err, errlen);
		else if (c->op == CTL_SA_QUERY)
			sa_query(a, t, r);
		else if (c->op == CTL_SA_DEL) {
			sadb_touch(a, t->reqid);
			sadb_forget(a, t - a->t.sas, true);
			sadb_changed(a);
			t = NULL;
		}
		break;
	}
	if (!ret && t) {
		r->spi = t->spi;
		r->active = !!table_sa_iface(&a->t, t, &in);
	}
	return ret;
}
