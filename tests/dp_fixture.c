// SPDX-License-Identifier: GPL-2.0-only
/*
 * Data-path fixture: loads the BPF object and takes commands on standard
 * input, one per line, answering one line each, so that the Python tests
 * can build SAs and interfaces and run packets through the programs with
 * BPF_PROG_TEST_RUN.  A minimal loader for the tests, not the agent.
 *
 *   key ID ENC AUTH ENCKEY [AUTHKEY]        hex keys; ENC/AUTH as numbers
 *   iface REQID FLAGS FAMILY SRC DST IFINDEX PEER_IFINDEX MTU MAC PEERMAC
 *   sa in|out ID SPI REQID FLAGS FAMILY SRC DST SPORT DPORT WINDOW [TOP]
 *                                           TOP: replay top (in), last seq sent (out)
 *   run PROG HEXPACKET [IFINDEX]            -> ret RETVAL HEXOUT
 *   stats sa|if|global KEY                  -> stats PACKETS BYTES FAST DROP...
 *   ctr ID                                  -> ctr SEQ BYTES PACKETS EXPIRED (sa_ctr)
 *   life in|out KEY SOFT_BYTES HARD_BYTES SOFT_PACKETS HARD_PACKETS
 *                                           KEY: reqid (out) or SPI FAMILY DST (in)
 *   events                                  -> events N [TYPE REQID SA_ID SPI VALUE]...
 *   attach xdp|tc|lan IFNAME                xdp_esp_in on the underlay (native XDP),
 *                                           tc_esp_out on the ingress of ipsecN's peer,
 *                                           xdp_lan on a LAN device
 *   pin DIR                                 pin every map under DIR (a bpffs)
 *   unpin DIR
 *   ifindex IFINDEX REQID                   ipsecN's own ifindex, for the XDP paths' routes
 *   engine IFINDEX WIFINDEX UP MIN_CBC MIN_GCM MIN_CHACHA   eng_conf (bpf/engine.h)
 *   engkey ID [del]                         eng_keys: the workers hold key ID (or not)
 *   engstats                                -> engstats SENT_IN SENT_OUT BACK_IN BACK_OUT
 *                                              FALLBACK_IN FALLBACK_OUT BAD_IN BAD_OUT
 *   quit
 *
 * Errors answer "err MESSAGE".
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "ipsecif.h"
#include "ipsecif_engine.h"
#include "keys.h"
#include "hex.h"

static struct ipsecif *skel;
static struct ipsecif_keyring kr;
static struct ring_buffer *rb;
static char evbuf[4096];
static int nev;

static int addr(int family, const char *s, union ipsecif_addr *a)
{
	memset(a, 0, sizeof(*a));
	return inet_pton(family, s, a) == 1 ? 0 : -1;
}

static int mac(const char *s, __u8 *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4],
		      &m[5]) == 6 ? 0 : -1;
}

/* A zeroed per-CPU stats entry, so the data path can count into it. */
static int stats_create(struct bpf_map *m, __u32 key)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ipsecif_stats *z = calloc(ncpu, sizeof(*z));
	int ret = bpf_map_update_elem(bpf_map__fd(m), &key, z, BPF_ANY);

	free(z);
	return ret;
}

static void cmd_key(char **av, int ac)
{
	__u8 ek[64], ak[64];
	struct ipsecif_key_params p = { .allow_no_auth = true };
	char err[256];
	int n;

	if (ac < 5) {
		puts("err usage: key ID ENC AUTH ENCKEY [AUTHKEY]");
		return;
	}
	p.enc = atoi(av[2]);
	p.auth = atoi(av[3]);
	n = unhex(av[4], ek, sizeof(ek));
	if (n < 0) {
		puts("err bad encryption key hex");
		return;
	}
	p.enc_key = ek;
	p.enc_key_len = n;
	if (ac > 5) {
		n = unhex(av[5], ak, sizeof(ak));
		if (n < 0) {
			puts("err bad authentication key hex");
			return;
		}
		p.auth_key = ak;
		p.auth_key_len = n;
	}
	if (ipsecif_key_install(&kr, strtoul(av[1], NULL, 0), &p, err, sizeof(err)))
		printf("err %s\n", err);
	else
		puts("ok");
}

static void cmd_iface(char **av, int ac)
{
	struct ipsecif_iface f = {};
	__u32 reqid;
	int fam;

	if (ac != 11) {
		puts("err usage: iface REQID FLAGS FAMILY SRC DST IFINDEX PEER_IFINDEX MTU MAC PEERMAC");
		return;
	}
	reqid = strtoul(av[1], NULL, 0);
	f.reqid = reqid;
	f.flags = strtoul(av[2], NULL, 0);
	fam = atoi(av[3]) == 6 ? AF_INET6 : AF_INET;
	f.family = fam;
	f.ifindex = strtoul(av[6], NULL, 0);
	f.peer_ifindex = strtoul(av[7], NULL, 0);
	f.mtu = strtoul(av[8], NULL, 0);
	if (addr(fam, av[4], &f.src) || addr(fam, av[5], &f.dst) || mac(av[9], f.mac) ||
	    mac(av[10], f.peer_mac)) {
		puts("err bad address");
		return;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.ifaces), &reqid, &f, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.if_reqid), &f.peer_ifindex, &reqid,
				BPF_ANY) ||
	    stats_create(skel->maps.if_stats, reqid)) {
		printf("err %s\n", strerror(errno));
		return;
	}
	puts("ok");
}

static void cmd_sa(char **av, int ac)
{
	struct ipsecif_sa sa = {};
	struct ipsecif_sa_ctr c = {};
	__u32 slot;
	int fam, in;

	if (ac != 12 && ac != 13) {
		puts("err usage: sa in|out ID SPI REQID FLAGS FAMILY SRC DST SPORT DPORT WINDOW [TOP]");
		return;
	}
	in = !strcmp(av[1], "in");
	sa.id = strtoul(av[2], NULL, 0);
	slot = IPSECIF_SA_SLOT(sa.id);
	c.id = sa.id;
	sa.spi = htonl(strtoul(av[3], NULL, 0));
	sa.reqid = strtoul(av[4], NULL, 0);
	sa.flags = strtoul(av[5], NULL, 0);
	fam = atoi(av[6]) == 6 ? AF_INET6 : AF_INET;
	sa.family = fam;
	sa.sport = htons(atoi(av[9]));
	sa.dport = htons(atoi(av[10]));
	if (addr(fam, av[7], &sa.src) || addr(fam, av[8], &sa.dst)) {
		puts("err bad address");
		return;
	}
	if (in) {
		struct ipsecif_sa_key k = { .spi = sa.spi, .family = fam, .dst = sa.dst };
		struct ipsecif_replay r = { .window = strtoul(av[11], NULL, 0), .id = sa.id };

		/* TOP: as if that sequence number had been received (ESN tests). */
		if (ac == 13)
			r.top = strtoull(av[12], NULL, 0);

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.sa_in), &k, &sa, BPF_ANY) ||
		    bpf_map_update_elem(bpf_map__fd(skel->maps.replay), &slot, &r, BPF_ANY)) {
			printf("err %s\n", strerror(errno));
			return;
		}
	} else if ((c.seq = ac == 13 ? strtoull(av[12], NULL, 0) : 0),
		   bpf_map_update_elem(bpf_map__fd(skel->maps.sa_out), &sa.reqid, &sa, BPF_ANY)) {
		printf("err %s\n", strerror(errno));
		return;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.sa_ctr), &slot, &c, BPF_ANY) ||
	    stats_create(skel->maps.sa_stats, slot)) {
		printf("err %s\n", strerror(errno));
		return;
	}
	puts("ok");
}

static void cmd_run(char **av, int ac)
{
	static __u8 in[16384], out[16384];
	struct bpf_program *prog;
	int n, i;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	struct __sk_buff skbctx = {};

	if (ac != 3 && ac != 4) {
		puts("err usage: run PROG HEX [IFINDEX]");
		return;
	}
	prog = bpf_object__find_program_by_name(skel->obj, av[1]);
	n = unhex(av[2], in, sizeof(in));
	if (!prog || n < 0) {
		puts("err no such program, or bad hex");
		return;
	}
	opts.data_in = in;
	opts.data_size_in = n;
	opts.data_out = out;
	opts.data_size_out = sizeof(out);
	if (ac == 4) {
		/* TC programs: the device the packet is on (must exist here). */
		skbctx.ifindex = strtoul(av[3], NULL, 0);
		opts.ctx_in = &skbctx;
		opts.ctx_size_in = sizeof(skbctx);
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)) {
		printf("err test run: %s\n", strerror(errno));
		return;
	}
	printf("ret %u ", opts.retval);
	for (i = 0; i < (int)opts.data_size_out; i++)
		printf("%02x", out[i]);
	putchar('\n');
}

static void cmd_engine(char **av, int ac)
{
	struct ipsecif_eng_conf c = {};
	__u32 zero = 0;

	if (ac != 7) {
		puts("err usage: engine IFINDEX WIFINDEX UP MIN_CBC MIN_GCM MIN_CHACHA");
		return;
	}
	c.n = 1;
	c.ifindex[0] = strtoul(av[1], NULL, 0);
	(void)av[2];	/* the fallback sends back through the device it runs on */
	c.up = strtoul(av[3], NULL, 0);
	c.min_text[IPSECIF_ENC_AES_CBC] = strtoul(av[4], NULL, 0);
	c.min_text[IPSECIF_ENC_AES_GCM16] = strtoul(av[5], NULL, 0);
	c.min_text[IPSECIF_ENC_CHACHA20_POLY1305] = strtoul(av[6], NULL, 0);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.eng_conf), &zero, &c, BPF_ANY))
		printf("err %s\n", strerror(errno));
	else
		puts("ok");
}

static void cmd_engkey(char **av, int ac)
{
	struct ipsecif_eng_keyslot ks = {};
	__u32 id, slot;

	if (ac != 2 && ac != 3) {
		puts("err usage: engkey ID [del]");
		return;
	}
	id = strtoul(av[1], NULL, 0);
	slot = id & (IPSECIF_ENG_KEY_SLOTS - 1);
	ks.id = ac == 3 ? 0 : id;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.eng_keys), &slot, &ks, BPF_ANY))
		printf("err %s\n", strerror(errno));
	else
		puts("ok");
}

static void cmd_engstats(void)
{
	int ncpu = libbpf_num_possible_cpus(), c, d;
	struct ipsecif_eng_counters *v = calloc(ncpu, sizeof(*v)), sum = {};
	__u32 zero = 0;

	if (!v || bpf_map_lookup_elem(bpf_map__fd(skel->maps.eng_stats), &zero, v)) {
		printf("err %s\n", strerror(errno));
		free(v);
		return;
	}
	for (c = 0; c < ncpu; c++)
		for (d = 0; d < 2; d++) {
			sum.sent[d] += v[c].sent[d];
			sum.back[d] += v[c].back[d];
			sum.fallback[d] += v[c].fallback[d];
			sum.bad[d] += v[c].bad[d];
		}
	printf("engstats %llu %llu %llu %llu %llu %llu %llu %llu\n",
	       (unsigned long long)sum.sent[0], (unsigned long long)sum.sent[1],
	       (unsigned long long)sum.back[0], (unsigned long long)sum.back[1],
	       (unsigned long long)sum.fallback[0], (unsigned long long)sum.fallback[1],
	       (unsigned long long)sum.bad[0], (unsigned long long)sum.bad[1]);
	free(v);
}

static void cmd_stats(char **av, int ac)
{
	int ncpu = libbpf_num_possible_cpus(), c, i;
	struct ipsecif_stats *v = calloc(ncpu, sizeof(*v)), sum = {};
	struct bpf_map *m;
	__u32 key;

	if (ac != 3) {
		puts("err usage: stats sa|if|global KEY");
		goto out;
	}
	m = !strcmp(av[1], "sa") ? skel->maps.sa_stats :
	    !strcmp(av[1], "if") ? skel->maps.if_stats : skel->maps.global_stats;
	key = strtoul(av[2], NULL, 0);
	if (m == skel->maps.sa_stats)
		key = IPSECIF_SA_SLOT(key);	/* an array by SA slot */
	if (bpf_map_lookup_elem(bpf_map__fd(m), &key, v)) {
		printf("err %s\n", strerror(errno));
		goto out;
	}
	for (c = 0; c < ncpu; c++) {
		sum.packets += v[c].packets;
		sum.bytes += v[c].bytes;
		sum.fast += v[c].fast;
		for (i = 0; i < IPSECIF_DROP_MAX; i++)
			sum.drops[i] += v[c].drops[i];
	}
	printf("stats %llu %llu %llu", (unsigned long long)sum.packets,
	       (unsigned long long)sum.bytes, (unsigned long long)sum.fast);
	sum.engine = 0;
	for (c = 0; c < ncpu; c++)
		sum.engine += v[c].engine;
	for (i = 0; i < IPSECIF_DROP_MAX; i++)
		printf(" %llu", (unsigned long long)sum.drops[i]);
	printf(" %llu\n", (unsigned long long)sum.engine);
out:
	free(v);
}

static void cmd_ctr(char **av, int ac)
{
	struct ipsecif_sa_ctr c;
	__u32 id, slot;

	if (ac != 2) {
		puts("err usage: ctr ID");
		return;
	}
	id = strtoul(av[1], NULL, 0);
	slot = IPSECIF_SA_SLOT(id);
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.sa_ctr), &slot, &c)) {
		printf("err %s\n", strerror(errno));
		return;
	}
	if (c.id != id) {
		puts("err no such SA's counters");
		return;
	}
	printf("ctr %llu %llu %llu %u\n", (unsigned long long)c.seq, (unsigned long long)c.bytes,
	       (unsigned long long)c.packets, c.expired);
}

static void cmd_pin(char **av, int ac, bool pin)
{
	int err;

	if (ac != 2) {
		puts("err usage: pin|unpin DIR");
		return;
	}
	err = pin ? bpf_object__pin_maps(skel->obj, av[1]) : bpf_object__unpin_maps(skel->obj, av[1]);
	if (err)
		printf("err %s: %s\n", av[1], strerror(-err));
	else
		puts("ok");
}

static void cmd_ifindex(char **av, int ac)
{
	__u32 ifindex, reqid;

	if (ac != 3) {
		puts("err usage: ifindex IFINDEX REQID");
		return;
	}
	ifindex = strtoul(av[1], NULL, 0);
	reqid = strtoul(av[2], NULL, 0);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.if_reqid), &ifindex, &reqid, BPF_ANY))
		printf("err %s\n", strerror(errno));
	else
		puts("ok");
}

static void cmd_attach(char **av, int ac)
{
	unsigned int ifindex;
	int err;

	if (ac != 3 || !(ifindex = if_nametoindex(av[2]))) {
		puts("err usage: attach xdp|tc IFNAME (an existing device)");
		return;
	}
	if (!strcmp(av[1], "xdp") || !strcmp(av[1], "lan")) {
		struct bpf_program *p = !strcmp(av[1], "xdp") ? skel->progs.xdp_esp_in :
								 skel->progs.xdp_lan;

		err = bpf_xdp_attach(ifindex, bpf_program__fd(p), XDP_FLAGS_DRV_MODE, NULL);
	} else {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(skel->progs.tc_esp_out));

		err = bpf_tc_hook_create(&hook);
		if (!err || err == -EEXIST)
			err = bpf_tc_attach(&hook, &opts);
	}
	if (err)
		printf("err attach %s %s: %s\n", av[1], av[2], strerror(-err));
	else
		puts("ok");
}

static void cmd_life(char **av, int ac)
{
	struct ipsecif_sa sa;
	struct ipsecif_sa_key k = {};
	int fd, in, n = 0, fam;
	void *key;
	__u32 reqid;

	if (ac < 7) {
		puts("err usage: life in SPI FAMILY DST | out REQID, then SOFT_B HARD_B SOFT_P HARD_P");
		return;
	}
	in = !strcmp(av[1], "in");
	if (in) {
		if (ac != 9) {
			puts("err usage: life in SPI FAMILY DST SOFT_B HARD_B SOFT_P HARD_P");
			return;
		}
		fam = atoi(av[3]) == 6 ? AF_INET6 : AF_INET;
		k.spi = htonl(strtoul(av[2], NULL, 0));
		k.family = fam;
		if (addr(fam, av[4], &k.dst)) {
			puts("err bad address");
			return;
		}
		key = &k;
		n = 5;
		fd = bpf_map__fd(skel->maps.sa_in);
	} else {
		if (ac != 7) {
			puts("err usage: life out REQID SOFT_B HARD_B SOFT_P HARD_P");
			return;
		}
		reqid = strtoul(av[2], NULL, 0);
		key = &reqid;
		n = 3;
		fd = bpf_map__fd(skel->maps.sa_out);
	}
	if (bpf_map_lookup_elem(fd, key, &sa)) {
		printf("err %s\n", strerror(errno));
		return;
	}
	sa.soft_bytes = strtoull(av[n], NULL, 0);
	sa.hard_bytes = strtoull(av[n + 1], NULL, 0);
	sa.soft_packets = strtoull(av[n + 2], NULL, 0);
	sa.hard_packets = strtoull(av[n + 3], NULL, 0);
	if (bpf_map_update_elem(fd, key, &sa, BPF_EXIST))
		printf("err %s\n", strerror(errno));
	else
		puts("ok");
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct ipsecif_event *e = data;
	size_t used = strlen(evbuf);

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	nev++;
	snprintf(evbuf + used, sizeof(evbuf) - used, " %u %u %u %u %llu", e->type, e->reqid,
		 e->sa_id, ntohl(e->spi), (unsigned long long)e->value);
	return 0;
}

static void cmd_events(void)
{
	evbuf[0] = 0;
	nev = 0;
	ring_buffer__consume(rb);
	printf("events %d%s\n", nev, evbuf);
}

int main(void)
{
	static char line[40000];

	skel = ipsecif__open_and_load();
	if (!skel) {
		printf("err loading the BPF object: %s\n", strerror(errno));
		return 1;
	}
	ipsecif_keyring_init(&kr, skel->obj);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		printf("err ring buffer: %s\n", strerror(errno));
		return 1;
	}
	puts("ready");
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin)) {
		char *av[16];
		int ac = 0;
		char *tok = strtok(line, " \t\r\n");

		while (tok && ac < 16) {
			av[ac++] = tok;
			tok = strtok(NULL, " \t\r\n");
		}
		if (!ac)
			continue;
		if (!strcmp(av[0], "quit"))
			break;
		else if (!strcmp(av[0], "key"))
			cmd_key(av, ac);
		else if (!strcmp(av[0], "iface"))
			cmd_iface(av, ac);
		else if (!strcmp(av[0], "sa"))
			cmd_sa(av, ac);
		else if (!strcmp(av[0], "run"))
			cmd_run(av, ac);
		else if (!strcmp(av[0], "stats"))
			cmd_stats(av, ac);
		else if (!strcmp(av[0], "ctr"))
			cmd_ctr(av, ac);
		else if (!strcmp(av[0], "attach"))
			cmd_attach(av, ac);
		else if (!strcmp(av[0], "pin") || !strcmp(av[0], "unpin"))
			cmd_pin(av, ac, av[0][0] == 'p');
		else if (!strcmp(av[0], "ifindex"))
			cmd_ifindex(av, ac);
		else if (!strcmp(av[0], "life"))
			cmd_life(av, ac);
		else if (!strcmp(av[0], "events"))
			cmd_events();
		else if (!strcmp(av[0], "engine"))
			cmd_engine(av, ac);
		else if (!strcmp(av[0], "engkey"))
			cmd_engkey(av, ac);
		else if (!strcmp(av[0], "engstats"))
			cmd_engstats();
		else
			printf("err unknown command %s\n", av[0]);
		fflush(stdout);
	}
	ring_buffer__free(rb);
	ipsecif__destroy(skel);
	return 0;
}
