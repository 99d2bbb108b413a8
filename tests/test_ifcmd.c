// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecifctl's ifconfig-style commands (daemon/ifcmd.c): the FreeBSD
 * if_ipsec(4) and NetBSD ipsecif(4) examples as the pages write them,
 * and a table of malformed commands, each refused naming its token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "ifcmd.h"
#include "ipsecif_crypto.h"
#include "test.h"

struct test_state T;

/* Split a command line at spaces (test input has no quoting). */
static int run(const char *line, struct ifcmd *c, char *err, size_t errlen)
{
	static char buf[512];
	char *argv[32], *tok;
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok(buf, " "); tok && argc < 32; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	return ifcmd_parse(argc, argv, c, err, errlen);
}

static bool ip_is(int fam, const union ipsecif_addr *a, const char *s)
{
	union ipsecif_addr b = {};

	inet_pton(fam, s, &b);
	return !memcmp(a, &b, sizeof(b));
}

static void test_examples(void)
{
	struct ifcmd c;
	char err[256];

	test_begin("ifcmd: the FreeBSD if_ipsec(4) example");
	CHECK(!run("ipsec0 create reqid 100", &c, err, sizeof(err)) && c.create && c.reqid_set &&
	      c.reqid == 100 && !strcmp(c.name, "ipsec0"), "create reqid 100: %s", err);
	CHECK(!run("ipsec0 inet tunnel 192.168.0.3 192.168.0.5", &c, err, sizeof(err)) &&
	      c.tunnel_set && c.tunnel_family == AF_INET &&
	      ip_is(AF_INET, &c.tunnel_src, "192.168.0.3") &&
	      ip_is(AF_INET, &c.tunnel_dst, "192.168.0.5"), "inet tunnel: %s", err);
	CHECK(!run("ipsec0 inet 172.16.0.3/16 172.16.0.5", &c, err, sizeof(err)) && c.n_addrs == 1 &&
	      c.addrs[0].plen == 16 && c.addrs[0].has_peer &&
	      ip_is(AF_INET, &c.addrs[0].peer, "172.16.0.5"), "inet address: %s", err);
	test_end();

	test_begin("ifcmd: the NetBSD ipsecif(4) example");
	CHECK(!run("ipsec0 create", &c, err, sizeof(err)) && c.create && !c.reqid_set, "create");
	CHECK(!run("ipsec0 tunnel 192.168.0.1 192.168.0.2", &c, err, sizeof(err)) && c.tunnel_set,
	      "tunnel: %s", err);
	CHECK(!run("ipsec0 inet 172.16.100.1/32 172.16.200.1", &c, err, sizeof(err)) &&
	      c.addrs[0].plen == 32 && ip_is(AF_INET, &c.addrs[0].addr, "172.16.100.1"), "inet");
	CHECK(!run("ipsec0 -link2", &c, err, sizeof(err)) && c.flags_clear == IPSECIF_F_INET6,
	      "-link2");
	test_end();

	test_begin("ifcmd: show, IPv6, flags and aliases, mtu, several settings at once");
	CHECK(!run("", &c, err, sizeof(err)) && c.show && !c.name[0], "bare: show all");
	CHECK(!run("ipsec0", &c, err, sizeof(err)) && c.show && !strcmp(c.name, "ipsec0"), "show one");
	CHECK(!run("ipsec0 inet6 tunnel 2001:db8::1 2001:db8::2", &c, err, sizeof(err)) &&
	      c.tunnel_family == AF_INET6, "inet6 tunnel: %s", err);
	CHECK(!run("ipsec0 inet6 fd00::1/64 fd00::2 inet 10.0.0.1", &c, err, sizeof(err)) &&
	      c.n_addrs == 2 && c.addrs[0].plen == 64 && c.addrs[0].has_peer &&
	      c.addrs[1].plen == 32 && !c.addrs[1].has_peer, "two addresses: %s", err);
	CHECK(!run("ipsec0 link0 ecn -ipv6 mtu 1400 up", &c, err, sizeof(err)) &&
	      c.flags_set == (IPSECIF_F_NATT | IPSECIF_F_ECN) && c.flags_clear == IPSECIF_F_INET6 &&
	      c.mtu_set && c.mtu == 1400 && c.up, "flags: %s", err);
	CHECK(!run("ipsec1 create reqid 7 tunnel 10.0.0.1 10.0.0.2 inet 172.16.1.1/32 172.16.2.1 -link2",
		   &c, err, sizeof(err)) && c.create && c.reqid == 7 && c.tunnel_set && c.n_addrs == 1,
	      "all at once: %s", err);
	CHECK(!run("ipsec0 deletetunnel", &c, err, sizeof(err)) && c.tunnel_delete, "deletetunnel");
	CHECK(!run("ipsec0 -tunnel", &c, err, sizeof(err)) && c.tunnel_delete, "-tunnel");
	CHECK(!run("ipsec0 destroy", &c, err, sizeof(err)) && c.destroy, "destroy");
	CHECK(!run("ipsec0 reqid 16383", &c, err, sizeof(err)) && c.reqid == 16383, "reqid change");
	test_end();

	test_begin("ifcmd: the XDP line-rate path (xdpfwd, lan add|del)");
	CHECK(!run("ipsec0 xdpfwd", &c, err, sizeof(err)) && c.flags_set == IPSECIF_F_XDP_FWD &&
	      !c.lan, "xdpfwd: %s", err);
	CHECK(!run("ipsec0 -xdpfwd link0", &c, err, sizeof(err)) &&
	      c.flags_clear == IPSECIF_F_XDP_FWD && c.flags_set == IPSECIF_F_NATT, "-xdpfwd: %s", err);
	CHECK(!run("lan add eth1", &c, err, sizeof(err)) && c.lan == IFCMD_LAN_ADD &&
	      !strcmp(c.lan_dev, "eth1") && !c.name[0] && !c.show, "lan add: %s", err);
	CHECK(!run("lan del eth1", &c, err, sizeof(err)) && c.lan == IFCMD_LAN_DEL &&
	      !strcmp(c.lan_dev, "eth1"), "lan del: %s", err);
	test_end();

	test_begin("ifcmd: stats [-o openmetrics]");
	CHECK(!run("stats", &c, err, sizeof(err)) && c.stats && c.show && !c.name[0], "stats: %s",
	      err);
	CHECK(!run("stats -o openmetrics", &c, err, sizeof(err)) && c.stats && !c.lan,
	      "stats -o openmetrics: %s", err);
	CHECK(!run("ipsec0", &c, err, sizeof(err)) && !c.stats, "a show is not stats");
	test_end();

	test_begin("ifcmd: engine [on [workers N] [cpus LIST] | off | min SUITE BYTES]");
	CHECK(!run("engine", &c, err, sizeof(err)) && c.engine == IFCMD_ENGINE_SHOW && c.show &&
	      !c.name[0], "engine: %s", err);
	CHECK(!run("engine on", &c, err, sizeof(err)) && c.engine == IFCMD_ENGINE_ON &&
	      !c.show && !c.eng_workers && !c.eng_n_cpus, "engine on: %s", err);
	CHECK(!run("engine on workers 3 cpus 0,2,5", &c, err, sizeof(err)) &&
	      c.eng_workers == 3 && c.eng_n_cpus == 3 && c.eng_cpus[0] == 0 &&
	      c.eng_cpus[1] == 2 && c.eng_cpus[2] == 5, "engine on workers cpus: %s", err);
	CHECK(!run("engine off", &c, err, sizeof(err)) && c.engine == IFCMD_ENGINE_OFF, "off");
	CHECK(!run("engine min chacha20-poly1305 300", &c, err, sizeof(err)) &&
	      c.engine == IFCMD_ENGINE_MIN && c.eng_suite == IPSECIF_ENC_CHACHA20_POLY1305 &&
	      c.eng_min == 300, "engine min: %s", err);
	CHECK(!run("engine min aes-gcm-16 0", &c, err, sizeof(err)) && c.eng_min == 0 &&
	      c.eng_suite == IPSECIF_ENC_AES_GCM16, "engine min 0: %s", err);
	test_end();
}

static const struct {
	const char *line, *token, *why;
} bad[] = {
	{ "ipsec0 bogus", "bogus", "unknown word" },
	{ "ipsec0 create reqid", "reqid", "reqid needs a number" },
	{ "ipsec0 create reqid 0", "0", "1 to 16383" },
	{ "ipsec0 create reqid 16384", "16384", "1 to 16383" },
	{ "ipsec0 create reqid -5", "-5", "1 to 16383" },
	{ "ipsec0 create reqid 10x", "10x", "1 to 16383" },
	{ "ipsec0 reqid 1 reqid 2", "2", "twice" },
	{ "ipsec0 mtu 1400 create", "create", "right after the name" },
	{ "ipsec0 destroy now", "destroy", "stands alone" },
	{ "ipsec0 tunnel", "tunnel", "source and a destination" },
	{ "ipsec0 tunnel 10.0.0.1", "10.0.0.1", "destination address too" },
	{ "ipsec0 tunnel 10.0.0.1 2001:db8::1", "2001:db8::1", "source's family" },
	{ "ipsec0 tunnel 10.0.0.300 10.0.0.2", "10.0.0.300", "not an IPv4 or IPv6 address" },
	{ "ipsec0 tunnel 10.0.0.1 10.0.0.1", "10.0.0.1", "same address" },
	{ "ipsec0 tunnel 0.0.0.0 10.0.0.2", "0.0.0.0", "a tunnel's end is a unicast address" },
	{ "ipsec0 inet 10.1.1.1/24 10.1.1.2 inet 10.1.1.1/32", "10.1.1.1/32", "given twice" },
	{ "ipsec0 inet6 2001:db8::1/64 inet6 2001:db8::1", "2001:db8::1", "given twice" },
	{ "ipsec0 tunnel 10.0.0.1 224.0.0.5", "224.0.0.5", "a tunnel's end is a unicast address" },
	{ "ipsec0 tunnel 10.0.0.1 255.255.255.255", "255.255.255.255", "unicast address" },
	{ "ipsec0 inet6 tunnel :: 2001:db8::2", "::", "a tunnel's end is a unicast address" },
	{ "ipsec0 tunnel 2001:db8::1 ff02::1", "ff02::1", "a tunnel's end is a unicast address" },
	{ "ipsec0 inet tunnel 2001:db8::1 2001:db8::2", "2001:db8::1", "not an IPv4 address" },
	{ "ipsec0 inet6 tunnel 10.0.0.1 10.0.0.2", "10.0.0.1", "not an IPv6 address" },
	{ "ipsec0 tunnel 10.0.0.1 10.0.0.2 tunnel 10.0.0.3 10.0.0.4", "10.0.0.3", "twice" },
	{ "ipsec0 tunnel 10.0.0.1 10.0.0.2 -tunnel", "-tunnel", "contradicts" },
	{ "ipsec0 inet", "inet", "inet needs an address" },
	{ "ipsec0 inet6", "inet6", "inet6 needs an address" },
	{ "ipsec0 inet 172.16.0.1/33", "172.16.0.1/33", "1 to 32" },
	{ "ipsec0 inet 172.16.0.1/0", "172.16.0.1/0", "1 to 32" },
	{ "ipsec0 inet 172.16.0.1/x", "172.16.0.1/x", "1 to 32" },
	{ "ipsec0 inet6 fd00::1/129", "fd00::1/129", "1 to 128" },
	{ "ipsec0 inet fd00::1/64", "fd00::1/64", "not an IPv4 address" },
	{ "ipsec0 inet6 172.16.0.1", "172.16.0.1", "not an IPv6 address" },
	{ "ipsec0 inet 172.16.0.1 fd00::2", "fd00::2", "unknown word" },
	{ "ipsec0 inet 1.1.1.1 inet 2.2.2.2 inet 3.3.3.3 inet 4.4.4.4 inet 5.5.5.5", "5.5.5.5", "too many" },
	{ "ipsec0 mtu", "mtu", "mtu needs a number" },
	{ "ipsec0 mtu 1279", "1279", "1280 to 8192" },
	{ "ipsec0 mtu 9000", "9000", "1280 to 8192" },
	{ "ipsec0 link0 -link0", "-link0", "contradicts" },
	{ "ipsec0 -ecn link1", "link1", "contradicts" },
	{ "ipsec0 link3", "link3", "unknown word" },
	{ "ipsec0 up down", "down", "both up and down" },
	{ "ipsec0:1 create", "ipsec0:1", "no spaces, '/' or ':'" },
	{ "ipsec/0 create", "ipsec/0", "no spaces" },
	{ "averyveryverylongname create", "averyveryverylongname", "1 to 15 characters" },
	{ "-j ipsec0", "-j", "unknown option" },
	{ "ipsec0 xdpfwd -xdpfwd", "-xdpfwd", "contradicts" },
	{ "lan", "lan", "lan takes add DEV or del DEV" },
	{ "lan attach eth1", "attach", "lan takes add DEV or del DEV" },
	{ "lan bogus", "bogus", "lan takes add DEV or del DEV" },
	{ "lan add", "add", "need a device" },
	{ "lan add eth1 eth2", "eth2", "one device" },
	{ "lan del eth:1", "eth:1", "no spaces, '/' or ':'" },
	{ "stats -o json", "json", "the format is openmetrics" },
	{ "stats -o", "-o", "-o needs a format" },
	{ "stats openmetrics", "openmetrics", "stats takes -o openmetrics" },
	{ "stats -o openmetrics ipsec0", "ipsec0", "-o openmetrics only" },
	{ "engine start", "start", "engine takes on, off or min" },
	{ "engine on workers", "workers", "workers needs a number" },
	{ "engine on workers 0", "0", "1 to 64" },
	{ "engine on workers 65", "65", "1 to 64" },
	{ "engine on threads 2", "threads", "takes workers N and cpus LIST" },
	{ "engine on workers 1 cpus 0 extra", "extra", "takes workers N and cpus LIST" },
	{ "engine on cpus", "cpus", "cpus needs a list" },
	{ "engine on cpus 0,x", "0,x", "CPU numbers separated by commas" },
	{ "engine on cpus ,", ",", "a list like 0,1,2" },
	{ "engine off now", "now", "nothing comes after" },
	{ "engine min", "min", "needs a suite" },
	{ "engine min des 100", "des", "the suites are" },
	{ "engine min aes-cbc", "aes-cbc", "needs a text length" },
	{ "engine min aes-cbc 4000", "4000", "0 (never) to 3414" },
	{ "engine min aes-cbc -1", "-1", "0 (never) to 3414" },
};

static void test_bad(void)
{
	struct ifcmd c;
	char err[256], name[128], q[160];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "ifcmd bad input %zu: %s", i + 1, bad[i].line);
		test_begin(name);
		snprintf(q, sizeof(q), "'%s'", bad[i].token);
		CHECK(run(bad[i].line, &c, err, sizeof(err)) == -EINVAL, "accepted");
		CHECK(strstr(err, q), "token %s not in \"%s\"", q, err);
		CHECK(strstr(err, bad[i].why), "reason \"%s\" not in \"%s\"", bad[i].why, err);
		test_end();
	}
}

int main(void)
{
	test_examples();
	test_bad();
	return test_summary();
}
