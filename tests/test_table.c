// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent's tables (daemon/table.c): reqid allocation, the four
 * policies of a tunnel and the rule against duplicating them, SA
 * identity and which interface an SA serves.  Every refusal must name
 * the problem and change nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "ipsecif_crypto.h"
#include "table.h"
#include "test.h"

struct test_state T;

static union ipsecif_addr A(const char *s)
{
	union ipsecif_addr a = {};

	inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, &a);
	return a;
}

/* A table's state as bytes, to show a refused call changed nothing. */
static size_t snapshot(const struct table *t, char *buf, size_t len)
{
	size_t n = t->n_ifaces * sizeof(*t->ifaces), m = t->n_sas * sizeof(*t->sas);

	if (n + m > len)
		return 0;
	memcpy(buf, t->ifaces, n);
	memcpy(buf + n, t->sas, m);
	return n + m;
}

static void test_reqids(void)
{
	struct table t;
	char err[256];

	test_begin("table: reqids unique, assigned smallest-free, changeable");
	table_init(&t);
	CHECK(!table_create(&t, "ipsec0", 100, err, sizeof(err)), "%s", err);
	CHECK(!table_create(&t, "ipsec1", 0, err, sizeof(err)), "%s", err);
	CHECK(table_find(&t, "ipsec1")->reqid == 1, "auto reqid %u", table_find(&t, "ipsec1")->reqid);
	CHECK(!table_create(&t, "ipsec2", 0, err, sizeof(err)) && table_find(&t, "ipsec2")->reqid == 2,
	      "second auto reqid");
	CHECK(table_create(&t, "ipsec3", 100, err, sizeof(err)) == -EEXIST &&
	      strstr(err, "ipsec0 has it"), "duplicate reqid: %s", err);
	CHECK(!table_find(&t, "ipsec3"), "refused interface exists");
	CHECK(table_create(&t, "ipsec0", 0, err, sizeof(err)) == -EEXIST, "duplicate name");
	CHECK(table_create(&t, "ipsec9", 16384, err, sizeof(err)) == -EINVAL && strstr(err, "1 to"),
	      "reqid range: %s", err);
	CHECK(table_create(&t, "a-very-long-interface-name", 0, err, sizeof(err)) == -EINVAL,
	      "long name");
	CHECK(table_create(&t, "bad/name", 0, err, sizeof(err)) == -EINVAL, "slash in name");
	CHECK(table_set_reqid(&t, "ipsec1", 100, err, sizeof(err)) == -EEXIST, "reqid taken");
	CHECK(!table_set_reqid(&t, "ipsec1", 200, err, sizeof(err)) &&
	      table_find_reqid(&t, 200) == table_find(&t, "ipsec1"), "reqid change");
	CHECK(!table_set_reqid(&t, "ipsec1", 200, err, sizeof(err)), "same reqid again is fine");
	CHECK(table_find(&t, "ipsec0")->flags == IPSECIF_F_INET6, "link2 on by default");
	CHECK(!table_destroy(&t, "ipsec0", err, sizeof(err)) && !table_find(&t, "ipsec0"), "destroy");
	CHECK(table_destroy(&t, "ipsec0", err, sizeof(err)) == -ENODEV && strstr(err, "no such"),
	      "destroy twice: %s", err);
	CHECK(!table_create(&t, "ipsec0", 0, err, sizeof(err)) && table_find(&t, "ipsec0")->reqid == 1,
	      "a freed reqid is reused, smallest first");
	table_free(&t);
	test_end();
}

static void test_policies(void)
{
	struct table t;
	struct table_policy p[16];
	union ipsecif_addr s1 = A("192.168.0.1"), d1 = A("192.168.0.2");
	char err[256], before[4096], after[4096];
	size_t n, nb;

	test_begin("table: a tunnel makes four policies; the same endpoints twice are refused");
	table_init(&t);
	table_create(&t, "ipsec0", 0, err, sizeof(err));
	table_create(&t, "ipsec1", 0, err, sizeof(err));
	CHECK(table_policies(&t, p, 16) == 0, "no tunnel, no policy");
	CHECK(!table_set_tunnel(&t, "ipsec0", AF_INET, &s1, &d1, err, sizeof(err)), "%s", err);
	n = table_policies(&t, p, 16);
	CHECK(n == 4, "%zu policies", n);
	if (n == 4) {
		/* spdadd src dst ipv4 -P out; spdadd dst src ipv4 -P in; the same for ipv6. */
		CHECK(p[0].dir == POLICY_OUT && p[0].inner_family == AF_INET &&
		      !memcmp(&p[0].src, &s1, sizeof(s1)) && !memcmp(&p[0].dst, &d1, sizeof(d1)), "out v4");
		CHECK(p[1].dir == POLICY_IN && !memcmp(&p[1].src, &d1, sizeof(d1)), "in v4");
		CHECK(p[2].inner_family == AF_INET6 && p[3].inner_family == AF_INET6 &&
		      !p[2].discard, "v6 pair");
	}
	nb = snapshot(&t, before, sizeof(before));
	CHECK(table_set_tunnel(&t, "ipsec1", AF_INET, &s1, &d1, err, sizeof(err)) == -EEXIST &&
	      strstr(err, "ipsec0 has these endpoints"), "duplicate refused: %s", err);
	CHECK(nb == snapshot(&t, after, sizeof(after)) && !memcmp(before, after, nb),
	      "the refusal changed the table");
	CHECK(!table_set_tunnel(&t, "ipsec1", AF_INET, &d1, &s1, err, sizeof(err)),
	      "the reverse pair is another tunnel: %s", err);
	CHECK(table_set_tunnel(&t, "ipsec1", AF_INET, &s1, &s1, err, sizeof(err)) == -EINVAL,
	      "source = destination");
	CHECK(table_set_tunnel(&t, "nope", AF_INET, &s1, &d1, err, sizeof(err)) == -ENODEV, "no iface");
	CHECK(!table_set_flags(&t, "ipsec0", 0, IPSECIF_F_INET6, err, sizeof(err)), "-link2");
	n = table_policies(&t, p, 16);
	CHECK(n == 8 && p[2].discard && p[3].discard && !p[0].discard,
	      "with link2 off the IPv6 policies discard");
	CHECK(table_set_flags(&t, "ipsec0", 0x100, 0, err, sizeof(err)) == -EINVAL, "unknown flag");
	CHECK(!table_delete_tunnel(&t, "ipsec0", err, sizeof(err)) && table_policies(&t, p, 16) == 4,
	      "deleting the tunnel removes its policies");
	table_destroy(&t, "ipsec1", err, sizeof(err));
	CHECK(table_policies(&t, p, 16) == 0, "destroying removes them");
	table_free(&t);
	test_end();
}

static void test_sas(void)
{
	struct table t;
	union ipsecif_addr a = A("192.168.0.3"), b = A("192.168.0.5");
	struct table_sa out = { .spi = 10000, .family = AF_INET, .src = a, .dst = b, .reqid = 100 };
	struct table_sa in = { .spi = 10001, .family = AF_INET, .src = b, .dst = a, .reqid = 100 };
	const struct table_iface *f;
	char err[256];
	bool inbound;

	test_begin("table: SAs by SPI and destination; active on the interface with their reqid");
	table_init(&t);
	CHECK(!table_sa_add(&t, &out, err, sizeof(err)) && !table_sa_add(&t, &in, err, sizeof(err)),
	      "%s", err);
	CHECK(table_sa_add(&t, &out, err, sizeof(err)) == -EEXIST && strstr(err, "10000"), "twice");
	{
		struct table_sa low = out;

		low.spi = 255;
		CHECK(table_sa_add(&t, &low, err, sizeof(err)) == -EINVAL && strstr(err, "reserved"),
		      "SPI 255");
	}
	CHECK(!table_sa_iface(&t, &out, &inbound), "no interface yet: inactive");
	/* The FreeBSD example: ipsec0 create reqid 100; tunnel 192.168.0.3 192.168.0.5 */
	table_create(&t, "ipsec0", 100, err, sizeof(err));
	CHECK(!table_sa_iface(&t, &out, &inbound), "no tunnel yet: inactive");
	table_set_tunnel(&t, "ipsec0", AF_INET, &a, &b, err, sizeof(err));
	f = table_sa_iface(&t, &out, &inbound);
	CHECK(f && !inbound && !strcmp(f->name, "ipsec0"), "outbound SA active");
	f = table_sa_iface(&t, &in, &inbound);
	CHECK(f && inbound, "inbound SA active");
	table_set_reqid(&t, "ipsec0", 200, err, sizeof(err));
	CHECK(!table_sa_iface(&t, &out, &inbound), "reqid changed: the old SAs stop matching");
	CHECK(!table_sa_delete(&t, 10000, AF_INET, &b, err, sizeof(err)), "delete");
	CHECK(table_sa_delete(&t, 10000, AF_INET, &b, err, sizeof(err)) == -ESRCH &&
	      strstr(err, "no SA 10000"), "delete twice: %s", err);
	CHECK(t.n_sas == 1, "%zu SAs left", t.n_sas);
	table_free(&t);
	test_end();
}

/* RFC 4303 §3.4.3: without integrity no anti-replay, whoever adds the SA. */
static void test_enc_only_no_window(void)
{
	struct table t;
	union ipsecif_addr a = A("192.168.0.3"), b = A("192.168.0.5");
	struct table_sa cbc = { .spi = 10000, .family = AF_INET, .src = a, .dst = b, .reqid = 100,
				.replay = 64, .enc = IPSECIF_ENC_AES_CBC };
	struct table_sa hmac = cbc, gcm = cbc;
	char err[256];

	hmac.spi = 10001;
	hmac.auth = IPSECIF_AUTH_HMAC_SHA256_128;
	gcm.spi = 10002;
	gcm.enc = IPSECIF_ENC_AES_GCM16;
	test_begin("table: an encryption-only SA gets no replay window, others keep theirs");
	table_init(&t);
	CHECK(!table_sa_add(&t, &cbc, err, sizeof(err)) && !table_sa_add(&t, &hmac, err, sizeof(err)) &&
	      !table_sa_add(&t, &gcm, err, sizeof(err)), "%s", err);
	CHECK(table_sa_find(&t, 10000, AF_INET, &b)->replay == 0, "aes-cbc alone: window %u",
	      table_sa_find(&t, 10000, AF_INET, &b)->replay);
	CHECK(table_sa_find(&t, 10001, AF_INET, &b)->replay == 64, "aes-cbc with HMAC");
	CHECK(table_sa_find(&t, 10002, AF_INET, &b)->replay == 64, "aes-gcm-16");
	table_free(&t);
	test_end();
}

/* What the indexes must say: a plain search. */
static const struct table_iface *slow_find(const struct table *t, const char *name, __u32 reqid)
{
	size_t i;

	for (i = 0; i < t->n_ifaces; i++)
		if (name ? !strcmp(t->ifaces[i].name, name) : t->ifaces[i].reqid == reqid)
			return &t->ifaces[i];
	return NULL;
}

static void test_indexes(void)
{
	static struct table t;
	char err[256], name[IFNAMSIZ];
	int n, bad = 0;
	__u32 r;

	test_begin("table: by name and by reqid at the limit, across destroys and reqid changes");
	table_init(&t);
	for (n = 0; n < TABLE_MAX_IFACES; n++) {
		snprintf(name, sizeof(name), "ipsec%d", n);
		if (table_create(&t, name, n % 2 ? 0 : 3 * n + 1, err, sizeof(err)))
			bad++;
	}
	CHECK(!bad && t.n_ifaces == TABLE_MAX_IFACES, "%d creates refused", bad);
	CHECK(table_create(&t, "one-more", 0, err, sizeof(err)) == -ENOSPC, "past the limit");
	for (n = 0; n < TABLE_MAX_IFACES; n += 3) {
		snprintf(name, sizeof(name), "ipsec%d", n);
		bad += !!table_destroy(&t, name, err, sizeof(err));
	}
	for (n = 1; n < TABLE_MAX_IFACES; n += 7) {
		snprintf(name, sizeof(name), "ipsec%d", n);
		if (table_find(&t, name))
			bad += !!table_set_reqid(&t, name, TABLE_REQID_MAX - n, err, sizeof(err));
	}
	CHECK(!bad, "%d destroys or reqid changes refused", bad);
	for (n = 0; n < TABLE_MAX_IFACES; n++) {
		snprintf(name, sizeof(name), "ipsec%d", n);
		bad += table_find(&t, name) != slow_find(&t, name, 0);
	}
	for (r = 0; r <= TABLE_REQID_MAX + 1; r++)
		bad += table_find_reqid(&t, r) != slow_find(&t, NULL, r);
	CHECK(!bad, "%d lookups differ from a plain search", bad);
	/* The smallest free reqid still: 1 went with ipsec0. */
	CHECK(!table_create(&t, "fresh", 0, err, sizeof(err)) && table_find(&t, "fresh")->reqid == 1,
	      "%s", err);
	table_free(&t);
	test_end();
}

int main(void)
{
	test_reqids();
	test_indexes();
	test_policies();
	test_sas();
	test_enc_only_no_window();
	return test_summary();
}
