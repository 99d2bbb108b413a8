// SPDX-License-Identifier: GPL-2.0-only
/*
 * Control socket messages (daemon/ctl.c): what ipsecifctl builds decodes
 * to what it meant, and every malformed message is refused with a reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "ctl.h"
#include "test.h"

struct test_state T;

static unsigned char buf[CTL_MAX_PAYLOAD + 64];

static void test_roundtrip(void)
{
	char *argv[] = { "ipsec0", "create", "reqid", "100" };
	const char script[] = "add 192.168.0.3 192.168.0.5 esp 10000 -E rijndael-cbc \"x\";";
	struct ctl_req r;
	char err[256];
	ssize_t n;

	test_begin("ctl: requests decode to what was encoded");
	n = ctl_encode(CTL_REQ_IFCMD, CTL_F_JSON, 4, argv, NULL, 0, buf, sizeof(buf));
	CHECK(n > 0 && !ctl_decode(buf, n, &r, err, sizeof(err)), "ifcmd: %s", err);
	CHECK(r.type == CTL_REQ_IFCMD && r.flags == CTL_F_JSON && r.argc == 4 &&
	      !strcmp(r.argv[0], "ipsec0") && !strcmp(r.argv[3], "100"), "arguments");
	n = ctl_encode(CTL_REQ_IFCMD, 0, 0, NULL, NULL, 0, buf, sizeof(buf));
	CHECK(n == sizeof(struct ctl_hdr) && !ctl_decode(buf, n, &r, err, sizeof(err)) && r.argc == 0,
	      "no arguments: show all");
	n = ctl_encode(CTL_REQ_SETKEY, 0, 0, NULL, script, sizeof(script) - 1, buf, sizeof(buf));
	CHECK(n > 0 && !ctl_decode(buf, n, &r, err, sizeof(err)) && r.len == sizeof(script) - 1 &&
	      !memcmp(r.text, script, r.len), "setkey: %s", err);
	n = ctl_encode(CTL_REQ_STOP, CTL_F_FLUSH, 0, NULL, NULL, 0, buf, sizeof(buf));
	CHECK(n > 0 && !ctl_decode(buf, n, &r, err, sizeof(err)) && r.flags == CTL_F_FLUSH, "stop");
	CHECK(ctl_encode(CTL_REQ_IFCMD, 0, 4, argv, NULL, 0, buf, 20) == -ENOSPC, "small buffer");
	test_end();
}

static size_t make(__u32 magic, __u16 version, __u16 type, __u32 len, __u32 flags,
		   const void *payload, size_t plen)
{
	struct ctl_hdr h = { magic, version, type, len, flags };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, plen);
	return sizeof(h) + plen;
}

static void test_bad(void)
{
	static char big_arg[CTL_MAX_ARG + 2];
	static char many[CTL_MAX_ARGS * 2 + 2];
	struct ctl_req r;
	char err[256], name[128];
	int i;

	memset(big_arg, 'a', CTL_MAX_ARG + 1);
	for (i = 0; i < CTL_MAX_ARGS + 1; i++) {
		many[2 * i] = 'x';
		many[2 * i + 1] = 0;
	}
	/* Each case builds its message right before it is checked. */
	struct {
		const char *what;
		__u32 magic;
		__u16 version, type;
		__u32 len, flags;
		const char *payload;
		size_t plen, truncate;
		int ret;
		const char *why;
	} t[] = {
		{ "short header", CTL_MAGIC, 1, 1, 0, 0, "", 0, 7, -EINVAL, "shorter than its header" },
		{ "bad magic", 0xdeadbeef, 1, 1, 0, 0, "", 0, 0, -EINVAL, "not an ipsecif control" },
		{ "bad version", CTL_MAGIC, 2, 1, 0, 0, "", 0, 0, -EINVAL, "version 2" },
		{ "unknown type", CTL_MAGIC, 1, 99, 0, 0, "", 0, 0, -EINVAL, "unknown request type 99" },
		{ "a response as request", CTL_MAGIC, 1, CTL_RESP, 0, 0, "", 0, 0, -EINVAL, "unknown request type" },
		{ "unknown flag", CTL_MAGIC, 1, 1, 0, 0x80, "", 0, 0, -EINVAL, "unknown flags 0x80" },
		{ "over the limit", CTL_MAGIC, 1, 2, CTL_MAX_PAYLOAD + 1, 0, "", 0, 0, -EMSGSIZE, "over the" },
		{ "length says more", CTL_MAGIC, 1, 2, 10, 0, "abc", 3, 0, -EINVAL, "says 10 payload bytes, 3 came" },
		{ "length says less", CTL_MAGIC, 1, 2, 1, 0, "abc", 3, 0, -EINVAL, "says 1 payload bytes, 3 came" },
		{ "status with payload", CTL_MAGIC, 1, 3, 2, 0, "ab", 2, 0, -EINVAL, "takes no payload" },
		{ "argument not terminated", CTL_MAGIC, 1, 1, 9, 0, "ipsec0\0ab", 9, 0, -EINVAL, "argument 2 is not terminated" },
		{ "argument too long", CTL_MAGIC, 1, 1, CTL_MAX_ARG + 2, 0, big_arg, CTL_MAX_ARG + 2, 0, -EINVAL, "over 256 bytes" },
		{ "too many arguments", CTL_MAGIC, 1, 1, 2 * (CTL_MAX_ARGS + 1), 0, many, 2 * (CTL_MAX_ARGS + 1), 0, -E2BIG, "more than 64 arguments" },
	};

	for (i = 0; i < (int)(sizeof(t) / sizeof(t[0])); i++) {
		size_t n = make(t[i].magic, t[i].version, t[i].type, t[i].len, t[i].flags,
				t[i].payload, t[i].plen);
		int ret;

		if (t[i].truncate)
			n = t[i].truncate;
		snprintf(name, sizeof(name), "ctl bad message: %s", t[i].what);
		test_begin(name);
		err[0] = 0;
		ret = ctl_decode(buf, n, &r, err, sizeof(err));
		CHECK(ret == t[i].ret, "returned %d, want %d", ret, t[i].ret);
		CHECK(strstr(err, t[i].why), "reason \"%s\" not in \"%s\"", t[i].why, err);
		test_end();
	}
}

/* One field of a good SA request made bad (case i), or none (i == 0). */
static void sa_case(int i, struct ctl_sa *s)
{
	*s = (struct ctl_sa){ .op = CTL_SA_ADD, .spi = 0x1000, .reqid = 7, .family = AF_INET,
			      .replay = 64, .enc_key_len = 20 };
	switch (i) {
	case 1: s->op = 42; break;
	case 2: s->spi = 255; break;
	case 3: s->reqid = 0; break;
	case 4: s->family = 3; break;
	case 5: s->enc_key_len = CTL_SA_MAX_KEY + 1; break;
	case 6: s->flags = 0x10; break;
	case 7: s->replay = 1 << 20; break;
	case 8: s->op = CTL_SA_UPDATE; s->new_family = 0; break;
	case 9: s->op = CTL_SA_GETSPI; s->spi = 0; break;
	case 10: s->hard_time = IPSECIF_LIFETIME_MAX_S + 1; break;
	case 11: s->soft_time = ~0ULL; break;
	case 12: s->hard_time = IPSECIF_LIFETIME_MAX_S; s->soft_time = 1; break;
	}
	memset(s->enc_key, 0x5a, s->enc_key_len < CTL_SA_MAX_KEY ? s->enc_key_len : CTL_SA_MAX_KEY);
}

/* CTL_REQ_SA: fixed size, every field a key manager sends checked. */
static void test_sa(void)
{
	static const struct {
		const char *name;
		int ret;
		const char *why;
	} t[] = {
		{ "sa: a good add", 0, "" },
		{ "sa: unknown op", -EINVAL, "unknown SA operation 42" },
		{ "sa: reserved SPI", -EINVAL, "reserved" },
		{ "sa: no reqid", -EINVAL, "no reqid" },
		{ "sa: family", -EAFNOSUPPORT, "neither inet nor inet6" },
		{ "sa: long key", -EINVAL, "a key over" },
		{ "sa: flags", -EINVAL, "unknown flags" },
		{ "sa: replay window", -ERANGE, "replay window" },
		{ "sa: update family", -EAFNOSUPPORT, "new SA family" },
		{ "sa: getspi reads nothing else", 0, "" },
		/* Seconds times 10^9 must not wrap in the agent's ns (IPSECIF_LIFETIME_MAX_S). */
		{ "sa: hard lifetime over 2^32 s", -ERANGE, "the hard lifetime of 4294967297 s is over" },
		{ "sa: soft lifetime over 2^32 s", -ERANGE, "the soft lifetime of 18446744073709551615 s" },
		{ "sa: lifetimes up to 2^32 s", 0, "" },
	};
	static const __u8 zero[CTL_SA_MAX_KEY];
	struct ctl_sa sa;
	struct ctl_req r;
	char err[256];
	ssize_t n;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		test_begin(t[i].name);
		sa_case(i, &sa);
		n = ctl_encode_sa(&sa, buf, sizeof(buf));
		err[0] = 0;
		CHECK(n == (ssize_t)(sizeof(struct ctl_hdr) + sizeof(sa)), "encoded %zd bytes", n);
		CHECK(ctl_decode(buf, n, &r, err, sizeof(err)) == t[i].ret, "%s", err);
		CHECK(strstr(err, t[i].why), "reason \"%s\" not in \"%s\"", t[i].why, err);
		CHECK(t[i].ret || !memcmp(&r.sa, &sa, sizeof(sa)), "decoded as encoded");
		CHECK(!t[i].ret || !memcmp(r.sa.enc_key, zero, sizeof(zero)),
		      "a refused request's key is still in the decoded copy");
		if (!t[i].ret) {
			ctl_req_wipe(&r);
			CHECK(!memcmp(r.sa.enc_key, zero, sizeof(zero)) && !r.sa.enc_key_len,
			      "ctl_req_wipe left the key");
		}
		test_end();
	}
	test_begin("sa: wrong payload size");
	n = make(CTL_MAGIC, CTL_VERSION, CTL_REQ_SA, 10, 0, "0123456789", 10);
	CHECK(ctl_decode(buf, n, &r, err, sizeof(err)) == -EINVAL && strstr(err, "not 10"), "%s",
	      err);
	n = make(CTL_MAGIC, CTL_VERSION, CTL_REQ_EVENTS, 4, 0, "abcd", 4);
	CHECK(ctl_decode(buf, n, &r, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "takes no payload"), "events with a payload: %s", err);
	CHECK(ctl_encode_sa(&sa, buf, 20) == -ENOSPC, "small buffer");
	test_end();
}

int main(void)
{
	test_roundtrip();
	test_bad();
	test_sa();
	return test_summary();
}
