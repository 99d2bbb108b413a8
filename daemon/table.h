/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent's model of interfaces, their security policies and the SAs:
 * what ipsecifctl changes and the BPF maps mirror.  Pure bookkeeping, no
 * system calls, so that every rule can be unit-tested:
 *
 * - reqids are unique across interfaces; one is assigned when none is
 *   given (FreeBSD if_ipsec(4));
 * - setting a tunnel creates the interface's four policies (out/in x
 *   inner IPv4/IPv6, NetBSD ipsecif(4)), refused when another interface
 *   has the same endpoints, since its policies would be duplicated;
 * - an SA is active when an interface has its reqid and its endpoints
 *   match the tunnel (its source is the far end for inbound SAs).
 */
#ifndef IPSECIF_TABLE_H
#define IPSECIF_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/types.h>
#include "ipsecif.h"

#define TABLE_MAX_IFACES	IPSECIF_MAX_IFACES
#define TABLE_REQID_MAX		16383	/* FreeBSD's manual reqid range */
#define SEQ_FP_LEN		16	/* seqstore.c's key fingerprints */
/* The name index's slots: open addressing, at most half full. */
#define TABLE_NAME_SLOTS	(2 * TABLE_MAX_IFACES)
_Static_assert((TABLE_NAME_SLOTS & (TABLE_NAME_SLOTS - 1)) == 0, "a power of two");
_Static_assert(TABLE_MAX_IFACES < 0xffff, "positions fit the indexes' __u16");

struct table_iface {
	char name[IFNAMSIZ];
	__u32 reqid;
	__u32 flags;			/* IPSECIF_F_*; link2 on by default */
	bool tunnel;			/* endpoints set */
	int family;			/* of the endpoints */
	union ipsecif_addr src, dst;
	bool mtu_user;			/* "mtu N" given: no automatic MTU */
};

enum policy_dir { POLICY_OUT, POLICY_IN };

/* One of the four policies an interface implies (ipsecif(4)). */
struct table_policy {
	const struct table_iface *iface;
	enum policy_dir dir;
	int inner_family;		/* AF_INET or AF_INET6 */
	bool discard;			/* inner IPv6 with link2 off */
	/* selectors: src -> dst, the tunnel endpoints swapped for "in" */
	union ipsecif_addr src, dst;
};

struct table_sa {
	__u32 spi;			/* host order */
	int family;
	union ipsecif_addr src, dst;
	__u32 reqid;
	/* What the data path needs besides (the agent fills these). */
	__u32 id;			/* key, replay and counter slot */
	__u32 flags;			/* IPSECIF_SA_F_* */
	__u32 replay;			/* window, bits; table_sa_add makes it 0
				 * for encryption-only SAs (RFC 4303 §3.4.3) */
	__u16 sport, dport;		/* NAT-T ports, host order */
	__u64 soft_bytes, hard_bytes;
	__u64 soft_time, hard_time;	/* seconds after added; 0: none (RFC 4301 §4.4.2.1) */
	__u64 added;			/* CLOCK_MONOTONIC ns: survives agent restarts */
	__u32 expired;			/* IPSECIF_SA_EXP_* the agent has seen */
	__u32 enc, auth;		/* enum ipsecif_enc, ipsecif_auth: for the MTU */
	__u64 soft_packets, hard_packets;
	bool by_api;			/* added by a key manager (CTL_REQ_SA), not setkey */
	__u64 last_packets;		/* the counter when last looked at, */
	__u64 last_used;		/* and when it was seen to move (ns; 0: never) */
	__u64 not_before;		/* outbound: carries nothing before (ns) while
					 * an older SA of the reqid can */
	/*
	 * A manual key's sequence numbers (seqstore.c): it seals after
	 * seq_start, up to seq_limit (reserved on disk); 0, 0 for a key
	 * manager's SA.
	 */
	__u64 seq_start, seq_limit;
	__u8 seq_fp[SEQ_FP_LEN];	/* the key's name in the store (keyed hash) */
};

struct table {
	struct table_iface *ifaces;
	size_t n_ifaces, cap_ifaces;
	/*
	 * The interfaces by name and by reqid, each a position in ifaces
	 * plus 1 (0: none), kept by the functions below: lookups in
	 * constant time with thousands of interfaces.  A copy of the
	 * struct carries them along with its copy of ifaces.
	 */
	__u16 by_name[TABLE_NAME_SLOTS];
	__u16 by_reqid[TABLE_REQID_MAX + 1];
	struct table_sa *sas;
	size_t n_sas, cap_sas;
};

void table_init(struct table *t);
void table_free(struct table *t);

/*
 * Each returns 0 or -errno with a message naming the problem in err, and
 * changes nothing on error.
 */
int table_create(struct table *t, const char *name, __u32 reqid, char *err, size_t errlen);
int table_destroy(struct table *t, const char *name, char *err, size_t errlen);
int table_set_reqid(struct table *t, const char *name, __u32 reqid, char *err, size_t errlen);
int table_set_tunnel(struct table *t, const char *name, int family,
		     const union ipsecif_addr *src, const union ipsecif_addr *dst, char *err,
		     size_t errlen);
int table_delete_tunnel(struct table *t, const char *name, char *err, size_t errlen);
int table_set_flags(struct table *t, const char *name, __u32 set, __u32 clear, char *err,
		    size_t errlen);

/* A name the kernel takes for a device (IFNAMSIZ, no space, '/' or ':'). */
int table_check_name(const char *name, char *err, size_t errlen);

struct table_iface *table_find(struct table *t, const char *name);
struct table_iface *table_find_reqid(struct table *t, __u32 reqid);
/* The indexes made again from ifaces, after it changed in a way the functions here did not. */
void table_reindex(struct table *t);

/* The policies of all interfaces, four per tunnel: fills up to max, returns the count. */
size_t table_policies(const struct table *t, struct table_policy *out, size_t max);

int table_sa_add(struct table *t, const struct table_sa *sa, char *err, size_t errlen);
/* The SA that spi and dst name (RFC 4301 §4.1), or NULL. */
struct table_sa *table_sa_find(struct table *t, __u32 spi, int family,
			       const union ipsecif_addr *dst);
int table_sa_delete(struct table *t, __u32 spi, int family, const union ipsecif_addr *dst,
		    char *err, size_t errlen);

/*
 * The interface an SA serves, or NULL while it is inactive; *inbound says
 * which way (the SA's destination is the near end: in).
 */
const struct table_iface *table_sa_iface(const struct table *t, const struct table_sa *sa,
					 bool *inbound);

#endif /* IPSECIF_TABLE_H */
