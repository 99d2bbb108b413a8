// SPDX-License-Identifier: GPL-2.0-only
/* ifconfig-style interface commands (ifcmd.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "errmsg.h"
#include "ifcmd.h"
#include "ipsecif_engine.h"
#include "keys.h"
#include "mtu.h"
#include "table.h"

struct args {
	int argc, i;
	char *const *argv;
	char *err;
	size_t errlen;
};

static int bad(struct args *a, const char *tok, const char *why)
{
	return errmsg(a->err, a->errlen, -EINVAL, "'%s': %s", tok, why);
}

/* The value after argv[i - 1], or an error naming what lacks it. */
static const char *value(struct args *a, const char *what)
{
	if (a->i >= a->argc) {
		bad(a, a->argv[a->i - 1], what);
		return NULL;
	}
	return a->argv[a->i++];
}

static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || *end || *v < min || *v > max ? -1 : 0;
}

/* An address of family fam (0: either); sets *fam. */
static int parse_ip(const char *s, int *fam, union ipsecif_addr *a)
{
	memset(a, 0, sizeof(*a));
	if ((!*fam || *fam == AF_INET) && inet_pton(AF_INET, s, a) == 1) {
		*fam = AF_INET;
		return 0;
	}
	if ((!*fam || *fam == AF_INET6) && inet_pton(AF_INET6, s, a) == 1) {
		*fam = AF_INET6;
		return 0;
	}
	return -1;
}

/*
 * A tunnel's end is a unicast address: not the unspecified one (FreeBSD's
 * if_ipsec refuses it with EADDRNOTAVAIL), nor a multicast one or IPv4's
 * limited broadcast, which the SA pair of a point-to-point tunnel cannot
 * have as an end.
 */
static bool unicast(int fam, const union ipsecif_addr *x)
{
	const struct in6_addr *x6 = (const struct in6_addr *)x->v6;
	__u32 v4 = ntohl(x->v4);

	if (fam == AF_INET)
		return v4 != INADDR_ANY && !IN_MULTICAST(v4) && v4 != INADDR_BROADCAST;
	return !IN6_IS_ADDR_UNSPECIFIED(x6) && !IN6_IS_ADDR_MULTICAST(x6);
}

static int parse_tunnel(struct args *a, struct ifcmd *c, int fam)
{
	const char *src = value(a, "tunnel needs a source and a destination address");
	const char *dst = src ? value(a, "tunnel needs a destination address too") : NULL;
	const char *what = fam == AF_INET ? "not an IPv4 address" :
			   fam == AF_INET6 ? "not an IPv6 address" : "not an IPv4 or IPv6 address";

	if (!dst)
		return -EINVAL;
	if (c->tunnel_set || c->tunnel_delete)
		return bad(a, src, "the tunnel is given twice");
	if (parse_ip(src, &fam, &c->tunnel_src))
		return bad(a, src, what);
	if (parse_ip(dst, &fam, &c->tunnel_dst))
		return bad(a, dst, "not an address of the source's family");
	if (!unicast(fam, &c->tunnel_src))
		return bad(a, src, "a tunnel's end is a unicast address (not unspecified, "
			   "multicast or broadcast)");
	if (!unicast(fam, &c->tunnel_dst))
		return bad(a, dst, "a tunnel's end is a unicast address (not unspecified, "
			   "multicast or broadcast)");
	if (!memcmp(&c->tunnel_src, &c->tunnel_dst, sizeof(c->tunnel_src)))
		return bad(a, dst, "the tunnel's ends are the same address");
	c->tunnel_family = fam;
	c->tunnel_set = true;
	return 0;
}

/* inet|inet6 ADDR[/PLEN] [PEER] */
static int parse_inner(struct args *a, struct ifcmd *c, int fam)
{
	const char *tok = value(a, fam == AF_INET ? "inet needs an address" :
					 "inet6 needs an address");
	struct ifcmd_addr *x;
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long plen = fam == AF_INET ? 32 : 128;
	int k;

	if (!tok)
		return -EINVAL;
	if (c->n_addrs == IFCMD_MAX_ADDRS)
		return bad(a, tok, "too many addresses in one command");
	x = &c->addrs[c->n_addrs];
	memset(x, 0, sizeof(*x));
	if (strlen(tok) >= sizeof(buf))
		return bad(a, tok, fam == AF_INET ? "not an IPv4 address" : "not an IPv6 address");
	strcpy(buf, tok);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	x->family = fam;
	if (parse_ip(buf, &x->family, &x->addr))
		return bad(a, tok, fam == AF_INET ? "not an IPv4 address" : "not an IPv6 address");
	if (slash && parse_num(slash + 1, 1, fam == AF_INET ? 32 : 128, &plen))
		return bad(a, tok, fam == AF_INET ? "a prefix length is 1 to 32" :
			   "a prefix length is 1 to 128");
	x->plen = plen;
	for (k = 0; k < c->n_addrs; k++)
		if (c->addrs[k].family == x->family &&
		    !memcmp(&c->addrs[k].addr, &x->addr, sizeof(x->addr)))
			return bad(a, tok, "the address is given twice");
	/* A peer follows when the next word is an address of the family. */
	if (a->i < a->argc) {
		int f = fam;

		if (!parse_ip(a->argv[a->i], &f, &x->peer)) {
			x->has_peer = true;
			a->i++;
		}
	}
	c->n_addrs++;
	return 0;
}

static const struct {
	const char *name;
	__u32 flag;
} flag_words[] = {
	{ "link0", IPSECIF_F_NATT }, { "nat-t", IPSECIF_F_NATT },
	{ "link1", IPSECIF_F_ECN }, { "ecn", IPSECIF_F_ECN },
	{ "link2", IPSECIF_F_INET6 }, { "ipv6", IPSECIF_F_INET6 },
	{ "xdpfwd", IPSECIF_F_XDP_FWD },
};

static int parse_flag(struct args *a, struct ifcmd *c, const char *tok)
{
	bool neg = tok[0] == '-';
	size_t i;

	for (i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++) {
		if (strcmp(tok + neg, flag_words[i].name))
			continue;
		if ((neg ? c->flags_set : c->flags_clear) & flag_words[i].flag)
			return bad(a, tok, "contradicts an earlier flag in the command");
		if (neg)
			c->flags_clear |= flag_words[i].flag;
		else
			c->flags_set |= flag_words[i].flag;
		return 0;
	}
	return 1;	/* not a flag */
}

static int check_name(struct args *a, const char *name)
{
	if (name[0] == '-')
		return bad(a, name, "unknown option");
	return table_check_name(name, a->err, a->errlen);
}

/* lan add|del DEV: a LAN-facing device for xdp_lan (no interface named "lan" then). */
static int parse_lan(struct args *a, struct ifcmd *c)
{
	const char *op = value(a, "lan takes add DEV or del DEV"), *dev;
	int ret;

	if (!op)
		return -EINVAL;
	if (strcmp(op, "add") && strcmp(op, "del"))
		return bad(a, op, "lan takes add DEV or del DEV");
	dev = value(a, "lan add and lan del need a device");
	if (!dev)
		return -EINVAL;
	if (a->i < a->argc)
		return bad(a, a->argv[a->i], "lan add and lan del take one device");
	ret = check_name(a, dev);
	if (ret)
		return ret;
	c->lan = op[0] == 'a' ? IFCMD_LAN_ADD : IFCMD_LAN_DEL;
	strcpy(c->lan_dev, dev);
	return 0;
}

/* stats [-o openmetrics]: the one format there is, named or not. */
static int parse_stats(struct args *a, struct ifcmd *c)
{
	const char *fmt;

	if (a->i < a->argc) {
		if (strcmp(a->argv[a->i++], "-o"))
			return bad(a, a->argv[a->i - 1], "stats takes -o openmetrics");
		fmt = value(a, "-o needs a format: openmetrics");
		if (!fmt)
			return -EINVAL;
		if (strcmp(fmt, "openmetrics"))
			return bad(a, fmt, "the format is openmetrics");
		if (a->i < a->argc)
			return bad(a, a->argv[a->i], "stats takes -o openmetrics only");
	}
	c->stats = c->show = true;
	return 0;
}

/* cpus A,B,...: each a CPU number, at most IFCMD_MAX_CPUS of them. */
static int parse_cpus(struct args *a, struct ifcmd *c, const char *list)
{
	char buf[256], *tok, *save;
	unsigned long v;

	if (strlen(list) >= sizeof(buf))
		return bad(a, list, "cpus takes a list like 0,1,2");
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_num(tok, 0, 4095, &v))
			return bad(a, list, "cpus takes CPU numbers separated by commas, like 0,1,2");
		if (c->eng_n_cpus == IFCMD_MAX_CPUS)
			return bad(a, list, "cpus takes at most 64 CPUs");
		c->eng_cpus[c->eng_n_cpus++] = v;
	}
	if (!c->eng_n_cpus)
		return bad(a, list, "cpus takes a list like 0,1,2");
	return 0;
}

/* engine [on [workers N] [cpus LIST] | off | min SUITE BYTES] */
static int parse_engine(struct args *a, struct ifcmd *c)
{
	const char *op, *v;
	unsigned long n;
	int e;

	c->engine = IFCMD_ENGINE_SHOW;
	c->show = true;
	if (a->i == a->argc)
		return 0;
	c->show = false;
	op = a->argv[a->i++];
	if (!strcmp(op, "off")) {
		c->engine = IFCMD_ENGINE_OFF;
	} else if (!strcmp(op, "on")) {
		c->engine = IFCMD_ENGINE_ON;
		while (a->i < a->argc) {
			const char *tok = a->argv[a->i++];
			bool cpus = !strcmp(tok, "cpus");

			if (!cpus && strcmp(tok, "workers"))
				return bad(a, tok, "engine on takes workers N and cpus LIST");
			v = value(a, cpus ? "cpus needs a list like 0,1" :
					    "workers needs a number, 1 to 64");
			if (!v)
				return -EINVAL;
			if (cpus) {
				if (parse_cpus(a, c, v))
					return -EINVAL;
			} else {
				if (parse_num(v, 1, IFCMD_MAX_CPUS, &n))
					return bad(a, v, "workers is a number, 1 to 64");
				c->eng_workers = n;
			}
		}
		return 0;
	} else if (!strcmp(op, "min")) {
		c->engine = IFCMD_ENGINE_MIN;
		v = value(a, "engine min needs a suite: aes-cbc, aes-gcm-16, chacha20-poly1305");
		if (!v)
			return -EINVAL;
		for (e = 1; e < IPSECIF_ENC_MAX && strcmp(v, ipsecif_enc_name(e)); e++)
			;
		if (e == IPSECIF_ENC_MAX)
			return bad(a, v, "the suites are aes-cbc, aes-gcm-16, chacha20-poly1305");
		c->eng_suite = e;
		v = value(a, "engine min SUITE needs a text length in bytes (0: never)");
		if (!v)
			return -EINVAL;
		if (parse_num(v, 0, IPSECIF_ENG_MAX_FRAME, &n))
			return bad(a, v, "the text length is 0 (never) to 3414 bytes");
		c->eng_min = n;
	} else {
		return bad(a, op, "engine takes on, off or min");
	}
	if (a->i < a->argc)
		return bad(a, a->argv[a->i], "nothing comes after this engine command");
	return 0;
}

int ifcmd_parse(int argc, char *const *argv, struct ifcmd *c, char *err, size_t errlen)
{
	struct args a = { .argc = argc, .argv = argv, .err = err, .errlen = errlen };
	unsigned long v;
	int ret;

	memset(c, 0, sizeof(*c));
	if (err && errlen)
		err[0] = 0;
	if (argc == 0) {
		c->show = true;
		return 0;
	}
	if (!strcmp(argv[0], "lan")) {
		a.i = 1;
		return parse_lan(&a, c);
	}
	if (!strcmp(argv[0], "stats")) {
		a.i = 1;
		return parse_stats(&a, c);
	}
	if (!strcmp(argv[0], "engine")) {
		a.i = 1;
		return parse_engine(&a, c);
	}
	ret = check_name(&a, argv[0]);
	if (ret)
		return ret;
	strcpy(c->name, argv[0]);
	a.i = 1;
	if (argc == 1) {
		c->show = true;
		return 0;
	}
	while (a.i < argc) {
		const char *tok = argv[a.i++], *val;

		if (!strcmp(tok, "create")) {
			if (a.i != 2)
				return bad(&a, tok, "create comes right after the name");
			c->create = true;
		} else if (!strcmp(tok, "destroy")) {
			if (argc != 2)
				return bad(&a, tok, "destroy stands alone");
			c->destroy = true;
		} else if (!strcmp(tok, "reqid")) {
			val = value(&a, "reqid needs a number");
			if (!val)
				return -EINVAL;
			if (c->reqid_set)
				return bad(&a, val, "the reqid is given twice");
			if (parse_num(val, 1, TABLE_REQID_MAX, &v))
				return bad(&a, val, "a reqid is 1 to 16383");
			c->reqid = v;
			c->reqid_set = true;
		} else if (!strcmp(tok, "tunnel")) {
			ret = parse_tunnel(&a, c, 0);
			if (ret)
				return ret;
		} else if (!strcmp(tok, "inet") || !strcmp(tok, "inet6")) {
			int fam = tok[4] ? AF_INET6 : AF_INET;

			if (a.i < argc && !strcmp(argv[a.i], "tunnel")) {
				a.i++;
				ret = parse_tunnel(&a, c, fam);
			} else {
				ret = parse_inner(&a, c, fam);
			}
			if (ret)
				return ret;
		} else if (!strcmp(tok, "-tunnel") || !strcmp(tok, "deletetunnel")) {
			if (c->tunnel_set)
				return bad(&a, tok, "contradicts the tunnel given in the command");
			c->tunnel_delete = true;
		} else if (!strcmp(tok, "mtu")) {
			val = value(&a, "mtu needs a number");
			if (!val)
				return -EINVAL;
			if (parse_num(val, IPSECIF_MTU_MIN, IPSECIF_MTU_MAX, &v))
				return bad(&a, val, "the MTU is 1280 to 8192");
			c->mtu = v;
			c->mtu_set = true;
		} else if (!strcmp(tok, "up") || !strcmp(tok, "down")) {
			if (tok[0] == 'u' ? c->down : c->up)
				return bad(&a, tok, "both up and down");
			if (tok[0] == 'u')
				c->up = true;
			else
				c->down = true;
		} else {
			ret = parse_flag(&a, c, tok);
			if (ret < 0)
				return ret;
			if (ret > 0)
				return bad(&a, tok, "unknown word");
		}
	}
	return 0;
}
