// SPDX-License-Identifier: GPL-2.0-only
/* Interfaces, policies and SAs: the agent's model (table.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "errmsg.h"
#include "ipsecif_crypto.h"
#include "table.h"

static bool addr_eq(const union ipsecif_addr *a, const union ipsecif_addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static const char *addr_str(int family, const union ipsecif_addr *a, char *buf, size_t len)
{
	return inet_ntop(family, a, buf, len) ? buf : "?";
}

void table_init(struct table *t)
{
	memset(t, 0, sizeof(*t));
}

void table_free(struct table *t)
{
	free(t->ifaces);
	free(t->sas);
	table_init(t);
}

/* FNV-1a: the name index's slot to start at. */
static size_t name_slot(const char *name)
{
	__u32 h = 2166136261u;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 16777619u;
	return h & (TABLE_NAME_SLOTS - 1);
}

static void index_add(struct table *t, size_t pos)
{
	const struct table_iface *f = &t->ifaces[pos];
	size_t k = name_slot(f->name);

	while (t->by_name[k])
		k = (k + 1) & (TABLE_NAME_SLOTS - 1);
	t->by_name[k] = pos + 1;
	if (f->reqid <= TABLE_REQID_MAX)
		t->by_reqid[f->reqid] = pos + 1;
}

void table_reindex(struct table *t)
{
	size_t i;

	memset(t->by_name, 0, sizeof(t->by_name));
	memset(t->by_reqid, 0, sizeof(t->by_reqid));
	for (i = 0; i < t->n_ifaces; i++)
		index_add(t, i);
}

static const struct table_iface *find_name(const struct table *t, const char *name)
{
	size_t k;

	for (k = name_slot(name); t->by_name[k]; k = (k + 1) & (TABLE_NAME_SLOTS - 1)) {
		size_t pos = t->by_name[k] - 1;

		if (pos < t->n_ifaces && !strcmp(t->ifaces[pos].name, name))
			return &t->ifaces[pos];
	}
	return NULL;
}

static const struct table_iface *find_reqid(const struct table *t, __u32 reqid)
{
	size_t pos;

	if (reqid > TABLE_REQID_MAX || !t->by_reqid[reqid])
		return NULL;
	pos = t->by_reqid[reqid] - 1;
	return pos < t->n_ifaces && t->ifaces[pos].reqid == reqid ? &t->ifaces[pos] : NULL;
}

struct table_iface *table_find(struct table *t, const char *name)
{
	return (struct table_iface *)find_name(t, name);
}

struct table_iface *table_find_reqid(struct table *t, __u32 reqid)
{
	return (struct table_iface *)find_reqid(t, reqid);
}

int table_check_name(const char *name, char *err, size_t errlen)
{
	size_t i, n = strlen(name);

	if (!n || n >= IFNAMSIZ)
		return errmsg(err, errlen, -EINVAL, "'%s': an interface name is 1 to %d characters",
			    name, IFNAMSIZ - 1);
	for (i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] == '/' || name[i] == ':' || name[i] >= 0x7f)
			return errmsg(err, errlen, -EINVAL,
				    "'%s': an interface name has no spaces, '/' or ':'", name);
	return 0;
}

static int check_reqid(__u32 reqid, char *err, size_t errlen)
{
	if (!reqid || reqid > TABLE_REQID_MAX)
		return errmsg(err, errlen, -EINVAL, "reqid %u: a reqid is 1 to %d", reqid,
			    TABLE_REQID_MAX);
	return 0;
}

int table_create(struct table *t, const char *name, __u32 reqid, char *err, size_t errlen)
{
	struct table_iface *f;
	int ret;

	ret = table_check_name(name, err, errlen);
	if (ret)
		return ret;
	if (table_find(t, name))
		return errmsg(err, errlen, -EEXIST, "%s: the interface exists", name);
	if (reqid) {
		ret = check_reqid(reqid, err, errlen);
		if (ret)
			return ret;
		if (table_find_reqid(t, reqid))
			return errmsg(err, errlen, -EEXIST, "reqid %u: %s has it already", reqid,
				    table_find_reqid(t, reqid)->name);
	} else {
		/* The smallest free one, as FreeBSD hands them out. */
		for (reqid = 1; reqid <= TABLE_REQID_MAX && table_find_reqid(t, reqid); reqid++)
			;
		if (reqid > TABLE_REQID_MAX)
			return errmsg(err, errlen, -ENOSPC, "no reqid left");
	}
	if (t->n_ifaces == TABLE_MAX_IFACES)
		return errmsg(err, errlen, -ENOSPC, "%s: at most %d interfaces", name,
			    TABLE_MAX_IFACES);
	if (t->n_ifaces == t->cap_ifaces) {
		size_t cap = t->cap_ifaces ? 2 * t->cap_ifaces : 8;
		struct table_iface *p = realloc(t->ifaces, cap * sizeof(*p));

		if (!p)
			return errmsg(err, errlen, -ENOMEM, "out of memory");
		t->ifaces = p;
		t->cap_ifaces = cap;
	}
	f = &t->ifaces[t->n_ifaces++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->reqid = reqid;
	f->flags = IPSECIF_F_INET6;	/* ipsecif(4): only link2 is set by default */
	index_add(t, t->n_ifaces - 1);
	return 0;
}

int table_destroy(struct table *t, const char *name, char *err, size_t errlen)
{
	struct table_iface *f = table_find(t, name);

	if (!f)
		return errmsg(err, errlen, -ENODEV, "%s: no such interface", name);
	*f = t->ifaces[--t->n_ifaces];
	table_reindex(t);	/* a position moved: O(n), as the destroy itself is */
	return 0;
}

int table_set_reqid(struct table *t, const char *name, __u32 reqid, char *err, size_t errlen)
{
	struct table_iface *f = table_find(t, name), *o;
	int ret;

	if (!f)
		return errmsg(err, errlen, -ENODEV, "%s: no such interface", name);
	ret = check_reqid(reqid, err, errlen);
	if (ret)
		return ret;
	o = table_find_reqid(t, reqid);
	if (o && o != f)
		return errmsg(err, errlen, -EEXIST, "reqid %u: %s has it already", reqid, o->name);
	t->by_reqid[f->reqid] = 0;
	f->reqid = reqid;
	t->by_reqid[reqid] = f - t->ifaces + 1;
	return 0;
}

int table_set_tunnel(struct table *t, const char *name, int family,
		     const union ipsecif_addr *src, const union ipsecif_addr *dst, char *err,
		     size_t errlen)
{
	struct table_iface *f = table_find(t, name);
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	size_t i;

	if (!f)
		return errmsg(err, errlen, -ENODEV, "%s: no such interface", name);
	if (family != AF_INET && family != AF_INET6)
		return errmsg(err, errlen, -EAFNOSUPPORT, "%s: the tunnel is IPv4 or IPv6", name);
	if (addr_eq(src, dst))
		return errmsg(err, errlen, -EINVAL, "%s: tunnel source and destination are both %s",
			    name, addr_str(family, src, a, sizeof(a)));
	/* The same endpoints would mean the same four policies (ipsecif(4)). */
	for (i = 0; i < t->n_ifaces; i++) {
		const struct table_iface *o = &t->ifaces[i];

		if (o != f && o->tunnel && o->family == family && addr_eq(&o->src, src) &&
		    addr_eq(&o->dst, dst))
			return errmsg(err, errlen, -EEXIST,
				    "%s: tunnel %s -> %s: %s has these endpoints, and their "
				    "security policies, already", name,
				    addr_str(family, src, a, sizeof(a)),
				    addr_str(family, dst, b, sizeof(b)), o->name);
	}
	f->tunnel = true;
	f->family = family;
	f->src = *src;
	f->dst = *dst;
	return 0;
}

int table_delete_tunnel(struct table *t, const char *name, char *err, size_t errlen)
{
	struct table_iface *f = table_find(t, name);

	if (!f)
		return errmsg(err, errlen, -ENODEV, "%s: no such interface", name);
	f->tunnel = false;
	f->family = 0;
	memset(&f->src, 0, sizeof(f->src));
	memset(&f->dst, 0, sizeof(f->dst));
	return 0;
}

int table_set_flags(struct table *t, const char *name, __u32 set, __u32 clear, char *err,
		    size_t errlen)
{
	struct table_iface *f = table_find(t, name);
	const __u32 known = IPSECIF_F_NATT | IPSECIF_F_ECN | IPSECIF_F_INET6 | IPSECIF_F_XDP_FWD;

	if (!f)
		return errmsg(err, errlen, -ENODEV, "%s: no such interface", name);
	if ((set | clear) & ~known)
		return errmsg(err, errlen, -EINVAL, "%s: unknown flag bits %#x", name,
			    (set | clear) & ~known);
	f->flags = (f->flags & ~clear) | set;
	return 0;
}

size_t table_policies(const struct table *t, struct table_policy *out, size_t max)
{
	size_t i, n = 0;
	int k;

	for (i = 0; i < t->n_ifaces; i++) {
		const struct table_iface *f = &t->ifaces[i];

		if (!f->tunnel)
			continue;
		for (k = 0; k < 4 && n < max; k++, n++) {
			struct table_policy *p = &out[n];

			p->iface = f;
			p->dir = k & 1 ? POLICY_IN : POLICY_OUT;
			p->inner_family = k & 2 ? AF_INET6 : AF_INET;
			p->discard = p->inner_family == AF_INET6 && !(f->flags & IPSECIF_F_INET6);
			p->src = p->dir == POLICY_OUT ? f->src : f->dst;
			p->dst = p->dir == POLICY_OUT ? f->dst : f->src;
		}
	}
	return n;
}

struct table_sa *table_sa_find(struct table *t, __u32 spi, int family,
			       const union ipsecif_addr *dst)
{
	size_t i;

	for (i = 0; i < t->n_sas; i++)
		if (t->sas[i].spi == spi && t->sas[i].family == family &&
		    addr_eq(&t->sas[i].dst, dst))
			return &t->sas[i];
	return NULL;
}

int table_sa_add(struct table *t, const struct table_sa *sa, char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->family != AF_INET && sa->family != AF_INET6)
		return errmsg(err, errlen, -EAFNOSUPPORT, "SA %u: IPv4 or IPv6 endpoints", sa->spi);
	if (sa->spi < 256)
		return errmsg(err, errlen, -EINVAL, "SA %u: SPIs 0 to 255 are reserved (RFC 4303)",
			    sa->spi);
	/* RFC 4301 §4.1: SPI and destination name the SA. */
	if (table_sa_find(t, sa->spi, sa->family, &sa->dst))
		return errmsg(err, errlen, -EEXIST, "SA %u to %s exists", sa->spi,
			    addr_str(sa->family, &sa->dst, a, sizeof(a)));
	if (t->n_sas == IPSECIF_MAX_SAS)
		return errmsg(err, errlen, -ENOSPC, "SA %u: at most %d SAs", sa->spi, IPSECIF_MAX_SAS);
	if (t->n_sas == t->cap_sas) {
		size_t cap = t->cap_sas ? 2 * t->cap_sas : 16;
		struct table_sa *p = realloc(t->sas, cap * sizeof(*p));

		if (!p)
			return errmsg(err, errlen, -ENOMEM, "out of memory");
		t->sas = p;
		t->cap_sas = cap;
	}
	t->sas[t->n_sas++] = *sa;
	/*
	 * RFC 4303 §3.4.3: anti-replay needs integrity.  Without an ICV any
	 * packet moves the window, and one forged with sequence number
	 * 0xffffffff would leave every genuine one behind it: no window.
	 */
	if (sa->enc == IPSECIF_ENC_AES_CBC && sa->auth == IPSECIF_AUTH_NONE)
		t->sas[t->n_sas - 1].replay = 0;
	return 0;
}

int table_sa_delete(struct table *t, __u32 spi, int family, const union ipsecif_addr *dst,
		    char *err, size_t errlen)
{
	struct table_sa *s = table_sa_find(t, spi, family, dst);
	char a[INET6_ADDRSTRLEN];

	if (!s)
		return errmsg(err, errlen, -ESRCH, "no SA %u to %s", spi,
			    addr_str(family, dst, a, sizeof(a)));
	*s = t->sas[--t->n_sas];
	return 0;
}

const struct table_iface *table_sa_iface(const struct table *t, const struct table_sa *sa,
					 bool *inbound)
{
	/* reqids are unique across interfaces: one to look at. */
	const struct table_iface *f = find_reqid(t, sa->reqid);

	if (!f || !f->tunnel || f->family != sa->family)
		return NULL;
	if (addr_eq(&sa->src, &f->src) && addr_eq(&sa->dst, &f->dst)) {
		*inbound = false;
		return f;
	}
	if (addr_eq(&sa->src, &f->dst) && addr_eq(&sa->dst, &f->src)) {
		*inbound = true;
		return f;
	}
	return NULL;
}
