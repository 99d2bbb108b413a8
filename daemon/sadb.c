// SPDX-License-Identifier: GPL-2.0-only
/*
 * The SA database.  The table (daemon/table.h) says which SAs exist; this
 * file makes the maps say the same, and carries each SA through its
 * lifecycle (agentd.h): an active inbound SA is in sa_in under (SPI,
 * destination), the outbound SA that carries a reqid's traffic is in
 * sa_out[reqid], and each SA's slots (key, sa_ctr, sa_stats, replay),
 * array entries at IPSECIF_SA_SLOT of an SA id never reused in a run,
 * outlive it as a grave.  A new SA's id is one whose slot is free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "attach.h"
#include "ctl.h"
#include "engine.h"
#include "errmsg.h"
#include "events.h"
#include "iface.h"
#include "sadb.h"
#include "seqstore.h"
#include "state.h"

static const int end_max[SA_STATES] = {
	[SA_LARVAL] = MAX_SPI_HOLDS, [SA_LINGERING] = MAX_LINGER, [SA_GRAVE] = MAX_GRAVES,
};

enum sa_state sa_state(const struct table_sa *t, __u64 now)
{
	if (t->not_before > now)
		return SA_HELD;
	return t->expired & IPSECIF_SA_EXP_SOFT ? SA_DYING : SA_ACTIVE;
}

/* A larval, lingering or grave SA recorded; -ENOSPC when its state is full. */
static int end_add(struct agent *a, struct sa_end e)
{
	if (a->n_in_state[e.state] == end_max[e.state])
		return -ENOSPC;
	a->ends[a->n_ends++] = e;
	a->n_in_state[e.state]++;
	return 0;
}

/* What names an end: the SPI a larval one holds, the reqid a lingering one. */
static __u32 end_key(const struct sa_end *e)
{
	return e->state == SA_LARVAL ? e->spi : e->state == SA_LINGERING ? e->reqid : e->id;
}

static void slots_free(struct agent *a, __u32 id);
static void end_over(struct agent *a, const struct sa_end *e, bool unmap);

/*
 * The ends of state that key names (0: those whose time is up at now)
 * are over.  unmap: a lingering SA leaves sa_out unless replaced there.
 */
static void ends_finish(struct agent *a, enum sa_state state, __u32 key, __u64 now, bool unmap)
{
	int k;

	for (k = a->n_ends; k-- > 0;) {
		struct sa_end e = a->ends[k];

		if (e.state != state || (key ? end_key(&e) != key : e.until > now))
			continue;
		/* Out first: what its end adds (a grave) goes to the end of the list. */
		a->ends[k] = a->ends[--a->n_ends];
		a->n_in_state[state]--;
		end_over(a, &e, unmap);
	}
}

/* The programs and maps that install and remove keys. */
static struct ipsecif_keyring keyring(const struct agent *a)
{
	struct ipsecif_keyring kr;

	ipsecif_keyring_init(&kr, a->skel->obj);
	return kr;
}

int sa_ctr_read(const struct agent *a, __u32 id, struct ipsecif_sa_ctr *c)
{
	__u32 slot = IPSECIF_SA_SLOT(id);

	if (bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.sa_ctr), &slot, c))
		return -errno;
	return c->id == id && id ? 0 : -ENOENT;
}

/* SA id's counters at its slot, zeroed (a new SA's, or a grave's gone). */
static int stats_clear(const struct agent *a, __u32 id)
{
	size_t n = libbpf_num_possible_cpus();
	struct ipsecif_stats *zero = calloc(n, sizeof(*zero));
	__u32 slot = IPSECIF_SA_SLOT(id);
	int ret = 0;

	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.sa_stats), &slot, zero, BPF_ANY))
		ret = -errno;
	free(zero);
	return ret;
}

/* An SA's slots, each if still its: replay state, counters, key. */
static void slots_remove(struct agent *a, __u32 id)
{
	struct ipsecif_keyring kr = keyring(a);
	int rp_fd = bpf_map__fd(a->skel->maps.replay);
	__u32 slot = IPSECIF_SA_SLOT(id);
	struct ipsecif_sa_ctr ctr;
	struct ipsecif_replay r;

	if (!bpf_map_lookup_elem(rp_fd, &slot, &r) && r.id == id) {
		memset(&r, 0, sizeof(r));
		bpf_map_update_elem(rp_fd, &slot, &r, BPF_ANY);
	}
	if (!sa_ctr_read(a, id, &ctr)) {
		stats_clear(a, id);
		memset(&ctr, 0, sizeof(ctr));
		bpf_map_update_elem(bpf_map__fd(a->skel->maps.sa_ctr), &slot, &ctr, BPF_ANY);
	}
	engine_key_remove(a, id);
	ipsecif_key_remove(&kr, id);
}

/* An SA out of the maps becomes a grave: its slots go GRAVE_NS later. */
static void slots_free(struct agent *a, __u32 id)
{
	if (end_add(a, (struct sa_end){ .state = SA_GRAVE, .id = id,
					.until = mono_ns() + GRAVE_NS }))
		slots_remove(a, id);	/* a burst of deletes: now, not never */
}

static void end_over(struct agent *a, const struct sa_end *e, bool unmap)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa cur;

	switch (e->state) {
	case SA_LINGERING:
		if (unmap && !bpf_map_lookup_elem(out_fd, &e->reqid, &cur) && cur.id == e->id)
			bpf_map_delete_elem(out_fd, &e->reqid);
		slots_free(a, e->id);
		break;
	case SA_GRAVE:
		slots_remove(a, e->id);
		break;
	default:	/* larval: the SPI is free again */
		break;
	}
}

/* What the data path reads of a table SA (its counters are in sa_ctr). */
static void sa_value(const struct table_sa *t, struct ipsecif_sa *v)
{
	*v = (struct ipsecif_sa){ .id = t->id, .spi = htonl(t->spi), .reqid = t->reqid,
				  .flags = t->flags, .family = t->family,
				  .sport = htons(t->sport), .dport = htons(t->dport),
				  .src = t->src, .dst = t->dst, .soft_bytes = t->soft_bytes,
				  .hard_bytes = t->hard_bytes, .soft_packets = t->soft_packets,
				  .hard_packets = t->hard_packets,
				  .hard_ns = t->hard_time ? t->added + t->hard_time * 1000000000ULL : 0,
				  .seq_limit = t->seq_limit,
				  .seq_mark = t->seq_limit ? seqstore_mark(t->seq_start, t->seq_limit) :
						0 };
}

static void sa_key(const struct table_sa *t, struct ipsecif_sa_key *k)
{
	*k = (struct ipsecif_sa_key){ .spi = htonl(t->spi), .family = t->family, .dst = t->dst };
}

/*
 * The outbound SA that carries a reqid's traffic, or NULL: the newest
 * active one, except one still held back (not_before) while an older
 * one can carry on.
 */
static const struct table_sa *out_for(const struct agent *a, __u32 reqid)
{
	const struct table_sa *best = NULL, *held = NULL;
	__u64 now = mono_ns();
	size_t i;
	bool in;

	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *o = &a->t.sas[i];

		if (o->reqid != reqid || !table_sa_iface(&a->t, o, &in) || in)
			continue;
		if (sa_state(o, now) == SA_HELD) {
			if (!held || o->id > held->id)
				held = o;
		} else if (!best || o->id > best->id) {
			best = o;
		}
	}
	return best ? best : held;
}

/*
 * Put t into sa_out[reqid] (one map update: the switch is atomic).  The
 * SA it displaces keeps its sequence number in sa_ctr, should it come
 * back (its newer one deleted): never a number twice.  A lingering SA of
 * the reqid is replaced: a grave now.
 */
static void sa_out_switch(struct agent *a, const struct table_sa *t)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa v, cur;

	if (!bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == t->id)
		return;
	sa_value(t, &v);
	bpf_map_update_elem(out_fd, &t->reqid, &v, BPF_ANY);
	ends_finish(a, SA_LINGERING, t->reqid, 0, false);
}

static bool touched(const struct agent *a, __u32 reqid)
{
	return reqid <= TABLE_REQID_MAX && a->touched[reqid / 64] & (1ULL << (reqid % 64));
}

/*
 * A sync names a reqid: 0 for all, SADB_TOUCHED for the reqids
 * sadb_touch() named.  An SA serves only the interface with its reqid,
 * so a change to one reqid's SAs or interface needs no more.
 */
#define SADB_TOUCHED	(~0U)

/* Whether a sync of reqid covers an SA of reqid r. */
static bool syncs(const struct agent *a, __u32 reqid, __u32 r)
{
	return !reqid || r == reqid || (reqid == SADB_TOUCHED && touched(a, r));
}

/* A manually keyed SA (setkey, not a key manager), whose numbers the store keeps. */
static bool sa_manual(const struct table_sa *t)
{
	return !t->by_api;
}

/*
 * Manual SAs of the reqid synced that are about to seal for the first
 * time get their sequence numbers from the store, all of them in one
 * durable write, before any is in sa_out (the reqid's SAs alone, with
 * thousands of tunnels): an SA whose numbers could not be written stays
 * out (its traffic is dropped as no_sa), never seals unreserved.  Its
 * counter starts where the reservation does; nothing sealed with it before.
 */
static void sa_reserve(struct agent *a, __u32 reqid)
{
	int ctr_fd = bpf_map__fd(a->skel->maps.sa_ctr);
	size_t i, n = 0, *took = NULL;
	__u32 slot;
	char err[256];
	bool in, ok;

	for (i = 0; i < a->t.n_sas; i++) {
		struct table_sa *t = &a->t.sas[i];

		if (!syncs(a, reqid, t->reqid) || !sa_manual(t) || t->seq_limit ||
		    !table_sa_iface(&a->t, t, &in) || in ||
		    out_for(a, t->reqid) != t)
			continue;
		if (!took)
			took = calloc(a->t.n_sas, sizeof(*took));
		if (!took || seqstore_take(a, t->seq_fp, &t->seq_start, &t->seq_limit))
			break;
		state_sa_changed(a, t);
		took[n++] = i;
	}
	ok = !seqstore_sync(a, err, sizeof(err));
	if (!ok)
		logmsg(LOG_ERR, "the sequence-number store: %s: new manual SAs seal nothing", err);
	while (n--) {
		struct table_sa *t = &a->t.sas[took[n]];
		struct ipsecif_sa_ctr ctr = {};

		if (!ok) {
			t->seq_start = t->seq_limit = 0;	/* another try at the next sync */
			continue;
		}
		if (sa_ctr_read(a, t->id, &ctr))
			ctr = (struct ipsecif_sa_ctr){ .id = t->id };
		ctr.seq = t->seq_start;
		slot = IPSECIF_SA_SLOT(t->id);
		bpf_map_update_elem(ctr_fd, &slot, &ctr, BPF_ANY);
		a->dirty = true;
	}
	free(took);
}

/*
 * An active SA in sa_in/sa_out with replay state and counters, an
 * inactive one (no interface has its reqid and endpoints) out of them.
 */
static void sync_one(struct agent *a, const struct table_sa *t)
{
	int in_fd = bpf_map__fd(a->skel->maps.sa_in), rp_fd = bpf_map__fd(a->skel->maps.replay);
	const struct ipsecif_sa_ctr ctr0 = { .id = t->id };
	__u32 slot = IPSECIF_SA_SLOT(t->id);
	struct ipsecif_sa_ctr ctr;
	struct ipsecif_sa v, cur;
	struct ipsecif_sa_key k;
	bool inbound;
	const struct table_iface *f = table_sa_iface(&a->t, t, &inbound);

	sa_value(t, &v);
	sa_key(t, &k);
	if (!f) {
		sadb_unmap(a, t);
		return;
	}
	/* Created once; the data path alone writes it (struct ipsecif_sa_ctr). */
	if (sa_ctr_read(a, t->id, &ctr))
		bpf_map_update_elem(bpf_map__fd(a->skel->maps.sa_ctr), &slot, &ctr0, BPF_ANY);
	if (inbound) {
		struct ipsecif_replay r;

		if (bpf_map_lookup_elem(rp_fd, &slot, &r) || r.id != t->id) {
			r = (struct ipsecif_replay){ .window = t->replay, .id = t->id };
			bpf_map_update_elem(rp_fd, &slot, &r, BPF_ANY);
		}
		if (bpf_map_lookup_elem(in_fd, &k, &cur) || cur.id != t->id)
			bpf_map_update_elem(in_fd, &k, &v, BPF_ANY);
	} else if (out_for(a, t->reqid) == t && (!sa_manual(t) || t->seq_limit)) {
		sa_out_switch(a, t);
	}
	attach_in(a, f);
}

/* The SAs a sync of reqid covers, synced. */
static void sync_some(struct agent *a, __u32 reqid)
{
	size_t i;

	sa_reserve(a, reqid);
	for (i = 0; i < a->t.n_sas; i++)
		if (syncs(a, reqid, a->t.sas[i].reqid))
			sync_one(a, &a->t.sas[i]);
}

void sadb_sync(struct agent *a)
{
	sync_some(a, 0);
}

void sadb_sync_reqid(struct agent *a, __u32 reqid)
{
	if (reqid)
		sync_some(a, reqid);
}

void sadb_touch(struct agent *a, __u32 reqid)
{
	a->n_touched++;
	if (reqid <= TABLE_REQID_MAX)	/* else no interface can have it: never in the maps */
		a->touched[reqid / 64] |= 1ULL << (reqid % 64);
}

void sadb_changed(struct agent *a)
{
	size_t n = sizeof(a->touched) * 8, r;

	if (!a->n_touched) {
		sadb_sync(a);
		mtu_refresh_all(a);
		return;
	}
	sync_some(a, SADB_TOUCHED);
	for (r = bits_next(a->touched, 0, n); r < n; r = bits_next(a->touched, r + 1, n)) {
		const struct table_iface *f = table_find_reqid(&a->t, r);

		if (f && f->tunnel && !f->mtu_user)
			mtu_refresh(a, f, 0);	/* the outbound suite decides */
	}
	memset(a->touched, 0, sizeof(a->touched));
	a->n_touched = 0;
}

void sadb_unmap(struct agent *a, const struct table_sa *t)
{
	int in_fd = bpf_map__fd(a->skel->maps.sa_in), out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa_key k;
	struct ipsecif_sa cur;

	sa_key(t, &k);
	if (!bpf_map_lookup_elem(in_fd, &k, &cur) && cur.id == t->id)
		bpf_map_delete_elem(in_fd, &k);
	if (!bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == t->id)
		bpf_map_delete_elem(out_fd, &t->reqid);
}

/* A map entry's addressing from the table's, its counters kept. */
static void sa_readdress(struct ipsecif_sa *cur, const struct table_sa *n)
{
	cur->family = n->family;
	cur->src = n->src;
	cur->dst = n->dst;
	cur->sport = htons(n->sport);
	cur->dport = htons(n->dport);
	cur->flags = n->flags;
}

void sadb_readdress(struct agent *a, const struct table_sa *t, const struct table_sa *n)
{
	int in_fd = bpf_map__fd(a->skel->maps.sa_in), out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa_key old_k, k;
	struct ipsecif_sa cur;

	sa_key(t, &old_k);
	sa_key(n, &k);
	if (!bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == t->id) {
		sa_readdress(&cur, n);
		bpf_map_update_elem(out_fd, &t->reqid, &cur, BPF_EXIST);
	}
	if (!bpf_map_lookup_elem(in_fd, &old_k, &cur) && cur.id == t->id) {
		sa_readdress(&cur, n);
		bpf_map_update_elem(in_fd, &k, &cur, BPF_ANY);
		if (memcmp(&old_k, &k, sizeof(k)))
			bpf_map_delete_elem(in_fd, &old_k);
	}
}

/* The id whose slot is slot of keys (ctr: of sa_ctr), 0 if free, into *id: 0 or -errno. */
static int slot_id(const struct agent *a, __u32 slot, bool ctr, __u32 *id)
{
	struct ipsecif_sa_ctr c;
	struct ipsecif_key k;

	if (bpf_map_lookup_elem(bpf_map__fd(ctr ? a->skel->maps.sa_ctr : a->skel->maps.keys),
				&slot, ctr ? (void *)&c : (void *)&k))
		return -errno;
	*id = ctr ? c.id : k.id;
	if (!ctr)
		explicit_bzero(&k, sizeof(k));	/* sealed, but key material all the same */
	return 0;
}

/* Whether no SA holds id's slot: its key (every SA has one) and counters free. */
static bool slot_free(const struct agent *a, __u32 id)
{
	__u32 slot = IPSECIF_SA_SLOT(id), key_id, ctr_id;

	return !slot_id(a, slot, false, &key_id) && !key_id &&
	       !slot_id(a, slot, true, &ctr_id) && !ctr_id;
}

/*
 * The next id, never one handed out before in this run (nor 0), whose
 * slot is free: with fewer than IPSECIF_MAX_SAS SAs since the start,
 * the next one; after, the first free slot past it.
 */
static int sa_id_new(struct agent *a, __u32 *id)
{
	int n;

	for (n = 0; n <= IPSECIF_MAX_SAS; n++) {
		__u32 c = ++a->next_sa_id;

		if (c && slot_free(a, c)) {
			*id = c;
			return 0;
		}
	}
	return -ENOSPC;
}

int sadb_install(struct agent *a, struct table_sa *t, const struct ipsecif_key_params *p,
		 char *err, size_t errlen)
{
	struct ipsecif_keyring kr = keyring(a);
	int ret;

	ret = sa_id_new(a, &t->id);
	if (ret)
		return errmsg(err, errlen, ret, "the SA maps are full (%d slots, graves included)",
			      IPSECIF_MAX_SAS);
	ret = stats_clear(a, t->id);
	if (!ret)
		ret = ipsecif_key_install(&kr, t->id, p, err, errlen);
	if (!ret)
		ret = table_sa_add(&a->t, t, err, errlen);
	if (!ret)
		state_sa_changed(a, &a->t.sas[a->t.n_sas - 1]);
	if (ret) {
		ipsecif_key_remove(&kr, t->id);
		return ret;
	}
	/* For the engine's workers too, when it runs; if not, BPF ciphers it alone. */
	engine_key_add(a, t->id, p);
	return 0;
}

void sadb_forget(struct agent *a, size_t i, bool linger)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct table_sa t = a->t.sas[i];
	const struct table_sa *next;
	struct ipsecif_sa cur;

	table_sa_delete(&a->t, t.spi, t.family, &t.dst, NULL, 0);
	if (i < a->t.n_sas)
		state_sa_changed(a, &a->t.sas[i]);	/* the last SA, moved into i */
	/*
	 * Out of the maps first, then the key.  A deleted outbound SA gives
	 * sa_out[reqid] to the newest one left in the same map update, so
	 * that no packet finds none between; a manual one that never sealed
	 * gets its numbers from the store first, or stays out (sa_reserve).
	 * Nothing else of the reqid's other SAs changes: no sync of them all,
	 * which made deleting a reqid's N SAs N² map calls.
	 */
	sa_reserve(a, t.reqid);
	next = out_for(a, t.reqid);
	if (next && (!sa_manual(next) || next->seq_limit))
		sa_out_switch(a, next);
	else if (linger && !bpf_map_lookup_elem(out_fd, &t.reqid, &cur) && cur.id == t.id &&
		 !end_add(a, (struct sa_end){ .state = SA_LINGERING, .reqid = t.reqid, .id = t.id,
					      .until = mono_ns() + LINGER_NS }))
		return;
	sadb_unmap(a, &t);
	slots_free(a, t.id);
}

ssize_t sadb_by_id(const struct agent *a, __u32 id)
{
	size_t i;

	for (i = 0; i < a->t.n_sas; i++)
		if (a->t.sas[i].id == id)
			return i;
	return -1;
}

static const char *sa_name(const struct table_sa *s, char *buf, size_t len)
{
	char dst[INET6_ADDRSTRLEN];

	inet_ntop(s->family, &s->dst, dst, sizeof(dst));
	snprintf(buf, len, "SA %u to %s (reqid %u)", s->spi, dst, s->reqid);
	return buf;
}

/*
 * Soft marks the SA dying and asks the key manager for a replacement;
 * hard removes it, and the key manager hears so.
 */
void sadb_expire(struct agent *a, size_t i, __u32 type, __u64 value, const char *why)
{
	struct table_sa *s = &a->t.sas[i];
	struct ctl_event ev = { .type = type, .reqid = s->reqid, .spi = s->spi,
				.family = s->family, .dst = s->dst, .value = value };
	char name[128];

	sa_name(s, name, sizeof(name));
	if (type == IPSECIF_EV_HARD_EXPIRE) {
		logmsg(LOG_NOTICE, "%s: hard lifetime reached (%s %llu): removed", name, why,
		       (unsigned long long)value);
		sadb_forget(a, i, false);
	} else {
		logmsg(LOG_NOTICE, "%s: soft lifetime reached (%s %llu): dying", name, why,
		       (unsigned long long)value);
		s->expired |= IPSECIF_SA_EXP_SOFT;
		state_sa_changed(a, s);
	}
	a->dirty = true;
	events_publish(a, &ev);
}

/* Is spi an SA's, or held for a key manager (until > now)? */
static bool spi_taken(const struct agent *a, __u32 spi, __u64 now)
{
	size_t i;
	int k;

	for (i = 0; i < a->t.n_sas; i++)
		if (a->t.sas[i].spi == spi)
			return true;
	for (k = 0; k < a->n_ends; k++)
		if (a->ends[k].state == SA_LARVAL && a->ends[k].spi == spi &&
		    a->ends[k].until > now)
			return true;
	return false;
}

bool sadb_spi_held(const struct agent *a, __u32 spi)
{
	int k;

	for (k = 0; k < a->n_ends; k++)
		if (a->ends[k].state == SA_LARVAL && a->ends[k].spi == spi)
			return true;
	return false;
}

/* spi's hold ends, and with it those whose time is up (a larval SA ends lazily). */
void sadb_spi_release(struct agent *a, __u32 spi)
{
	__u64 now = mono_ns();

	ends_finish(a, SA_LARVAL, spi, now, false);
	ends_finish(a, SA_LARVAL, 0, now, false);
}

/*
 * A random SPI no SA of this agent uses and none handed out holds
 * (random: RFC 4303 §2.1 leaves the choice local, and guessable SPIs help
 * no one), held until added or CTL_SA_SPI_HOLD_S passed.
 */
int sadb_getspi(struct agent *a, __u32 *spi, char *err, size_t errlen)
{
	__u64 now = mono_ns();
	int tries;

	ends_finish(a, SA_LARVAL, 0, now, false);
	if (a->n_in_state[SA_LARVAL] == MAX_SPI_HOLDS)
		return errmsg(err, errlen, -EBUSY, "%d SPIs handed out and not used",
			      MAX_SPI_HOLDS);
	for (tries = 0; tries < 64; tries++) {
		if (getrandom(spi, sizeof(*spi), 0) != sizeof(*spi))
			return errmsg(err, errlen, -EIO, "no random numbers: %s", strerror(errno));
		if (*spi < 256 || spi_taken(a, *spi, now))
			continue;
		return end_add(a, (struct sa_end){ .state = SA_LARVAL, .spi = *spi,
				       .until = now + CTL_SA_SPI_HOLD_S * 1000000000ULL });
	}
	return errmsg(err, errlen, -EAGAIN, "no free SPI found");
}

/*
 * Held-back outbound SAs take over: those whose time has come, or (reqid
 * not 0) all of reqid's, once the key manager knows the peer has their
 * inbound twins.
 */
static void holds_end(struct agent *a, __u32 reqid)
{
	__u64 now = mono_ns();
	size_t i;

	for (i = 0; i < a->t.n_sas; i++) {
		struct table_sa *s = &a->t.sas[i];

		if (s->not_before && (reqid ? s->reqid == reqid : s->not_before <= now)) {
			s->not_before = 0;
			state_sa_changed(a, s);
			sadb_sync_reqid(a, s->reqid);
			a->dirty = true;
		}
	}
}

void sadb_release(struct agent *a, __u32 reqid)
{
	holds_end(a, reqid);
}

/* Lifetimes by time: the data path counts bytes, the agent the seconds. */
static void lifetimes_tick(struct agent *a)
{
	__u64 now = mono_ns();
	size_t i;

	for (i = a->t.n_sas; i-- > 0;) {
		struct table_sa *s = &a->t.sas[i];
		__u64 age = now - s->added;

		if (s->hard_time && age >= s->hard_time * 1000000000ULL)
			sadb_expire(a, i, IPSECIF_EV_HARD_EXPIRE, s->hard_time, "seconds");
		else if (s->soft_time && age >= s->soft_time * 1000000000ULL &&
			 !(s->expired & IPSECIF_SA_EXP_SOFT))
			sadb_expire(a, i, IPSECIF_EV_SOFT_EXPIRE, s->soft_time, "seconds");
	}
}

void sadb_tick(struct agent *a)
{
	__u64 now = mono_ns();

	/*
	 * Before the deadline the poll slept towards, no SA's time has
	 * come: what changes SAs between that look and this one (the data
	 * path's events) only marks or removes them.  Two walks of every SA
	 * fewer on each wake-up, which thousands of SAs make the cost of a
	 * command otherwise.
	 */
	if (now >= a->sa_due) {
		lifetimes_tick(a);			/* active -> dying, -> grave */
		holds_end(a, 0);			/* held -> active */
	}
	now = mono_ns();
	ends_finish(a, SA_LINGERING, 0, now, true);	/* lingering -> grave */
	ends_finish(a, SA_GRAVE, 0, now, false);	/* grave -> gone */
}

/* SA s's next time after now (~0: none): its hold's end, its lifetimes. */
static __u64 sa_next(const struct table_sa *s, __u64 now, __u64 next)
{
	__u64 soft = s->added + s->soft_time * 1000000000ULL;
	__u64 hard = s->added + s->hard_time * 1000000000ULL;

	if (s->not_before > now && s->not_before < next)
		next = s->not_before;
	if (s->soft_time && !(s->expired & IPSECIF_SA_EXP_SOFT) && soft < next)
		next = soft;
	if (s->hard_time && hard < next)
		next = hard;
	return next;
}

#define SAS_LOOK_NS	1000000000ULL	/* a whole look at least this often */

/*
 * The SAs' own next time (~0: none), looked for again only once it has
 * come, or a second after the last look: a wake-up of the poll loop does
 * not walk thousands of SAs.  The SAs that change meanwhile are folded
 * in by sadb_next_changed(), which can only make it sooner; the second
 * bounds what a change that went unsaid could cost.
 */
static __u64 sas_next(struct agent *a, __u64 now)
{
	__u64 next = ~0ULL;
	size_t i;

	if (a->sas_next_known && now < a->sas_next && now - a->sas_looked < SAS_LOOK_NS)
		return a->sas_next;
	for (i = 0; i < a->t.n_sas; i++)
		next = sa_next(&a->t.sas[i], now, next);
	a->sas_next = next;
	a->sas_looked = now;
	a->sas_next_known = true;
	return next;
}

void sadb_next_changed(struct agent *a)
{
	size_t n = a->t.n_sas, i;
	__u64 now = mono_ns();

	for (i = bits_next(a->sa_changed, 0, n); a->sas_next_known && i < n;
	     i = bits_next(a->sa_changed, i + 1, n))
		a->sas_next = sa_next(&a->t.sas[i], now, a->sas_next);
}

__u64 sadb_deadline(struct agent *a, __u64 next)
{
	__u64 now = mono_ns(), sas = sas_next(a, now);
	int k;

	for (k = 0; k < a->n_ends; k++)
		if (a->ends[k].state != SA_LARVAL && a->ends[k].until < next)
			next = a->ends[k].until;
	if (sas < next)
		next = sas;
	a->sa_due = next;	/* sadb_tick walks the SAs once it has come */
	return next;
}

#define SLOT_BATCH	1024	/* slots a batch lookup */

/*
 * The id of every slot of keys (ctr: of sa_ctr) into ids[IPSECIF_MAX_SAS],
 * 0 where free, by batch lookup: 16 calls where one a slot took 16,384.
 * 0 or -errno.
 */
static int slot_ids(const struct agent *a, bool ctr, __u32 *ids)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int fd = bpf_map__fd(ctr ? a->skel->maps.sa_ctr : a->skel->maps.keys);
	size_t size = ctr ? sizeof(struct ipsecif_sa_ctr) : sizeof(struct ipsecif_key);
	size_t off = ctr ? offsetof(struct ipsecif_sa_ctr, id) : offsetof(struct ipsecif_key, id);
	__u32 keys[SLOT_BATCH], token = 0, count, i;
	char *vals = calloc(SLOT_BATCH, size);
	bool first = true;
	int ret;

	if (!vals)
		return -ENOMEM;
	do {
		count = SLOT_BATCH;
		ret = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, vals, &count,
					   &opts);
		if (ret && ret != -ENOENT)
			break;
		for (i = 0; i < count; i++)
			if (keys[i] < IPSECIF_MAX_SAS)
				memcpy(&ids[keys[i]], vals + i * size + off, sizeof(*ids));
		first = false;
	} while (!ret);
	explicit_bzero(vals, SLOT_BATCH * size);	/* sealed keys: key material all the same */
	free(vals);
	return ret == -ENOENT ? 0 : ret;
}

/*
 * Slots of keys (ctr: of sa_ctr) held by SAs the adopted tables do not
 * know: those the agent before had deleted and not yet freed (graves)
 * when it died.
 */
static void reap_slots(struct agent *a, bool ctr)
{
	__u32 slot, id, *ids = calloc(IPSECIF_MAX_SAS, sizeof(*ids));
	__u32 *gone = calloc(IPSECIF_MAX_SAS, sizeof(*gone));
	int n = 0;

	if (!ids || !gone)
		goto out;
	if (slot_ids(a, ctr, ids))	/* no batch lookup: a slot at a time */
		for (slot = 0; slot < IPSECIF_MAX_SAS; slot++)
			if (slot_id(a, slot, ctr, &ids[slot]))
				ids[slot] = 0;
	for (slot = 0; slot < IPSECIF_MAX_SAS; slot++) {
		id = ids[slot];
		if (!id)
			continue;
		if (sadb_by_id(a, id) < 0)
			gone[n++] = id;
		/* An id still in the maps is never handed out again, whatever the state file said. */
		if (id > a->next_sa_id)
			a->next_sa_id = id;
	}
	while (n)
		slots_free(a, gone[--n]);
out:
	free(gone);
	free(ids);
}

/*
 * An outbound SA in sa_out that the adopted tables do not know is one
 * that lingered when the agent before died (a stop ends them): out, with
 * its slots, so that no deleted SA carries traffic.
 */
void sadb_reap(struct agent *a)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa cur;
	size_t i;

	for (i = 0; i < a->t.n_ifaces; i++) {
		__u32 reqid = a->t.ifaces[i].reqid;

		if (bpf_map_lookup_elem(out_fd, &reqid, &cur) || sadb_by_id(a, cur.id) >= 0)
			continue;
		logmsg(LOG_NOTICE, "reqid %u: outbound SA %u is no longer known: removed", reqid,
		       ntohl(cur.spi));
		bpf_map_delete_elem(out_fd, &reqid);
		slots_free(a, cur.id);
	}
	reap_slots(a, false);
	reap_slots(a, true);
}

void sadb_close(struct agent *a)
{
	int k;

	/* A lingering SA is deleted already: no agent after this one knows it. */
	for (k = 0; k < a->n_ends; k++)
		if (a->ends[k].state == SA_LINGERING)
			a->ends[k].until = 0;
	ends_finish(a, SA_LINGERING, 0, mono_ns(), true);
	if (a->n_in_state[SA_GRAVE])
		nanosleep(&(struct timespec){ .tv_nsec = GRAVE_NS }, NULL);
	ends_finish(a, SA_GRAVE, 0, ~0ULL, false);
}
