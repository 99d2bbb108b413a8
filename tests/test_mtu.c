// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecN's MTU (daemon/mtu.c) against what the data path really emits:
 * for every suite, both outer families and NAT-T on and off, the largest
 * inner packet the computed MTU admits must seal to at most the underlay
 * MTU, for every inner size near the boundary.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include "mtu.h"
#include "test.h"

struct test_state T;

/* What bpf/esp_out.h builds for an inner packet of len bytes. */
static int esp_size(int len, enum ipsecif_enc enc, enum ipsecif_auth auth, int fam, bool natt)
{
	int text, icv, iv;

	if (enc == IPSECIF_ENC_AES_CBC) {
		text = (len + 2 + 15) & ~15;
		iv = 16;
		icv = auth == IPSECIF_AUTH_HMAC_SHA256_128 ? 16 : auth ? 12 : 0;
	} else {
		text = (len + 2 + 3) & ~3;
		iv = 8;
		icv = 16;
	}
	return (fam == AF_INET ? 20 : 40) + (natt ? 8 : 0) + 8 + iv + text + icv;
}

int main(void)
{
	static const struct {
		enum ipsecif_enc enc;
		enum ipsecif_auth auth;
	} suites[] = {
		{ IPSECIF_ENC_CHACHA20_POLY1305, IPSECIF_AUTH_NONE },
		{ IPSECIF_ENC_AES_GCM16, IPSECIF_AUTH_NONE },
		{ IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128 },
		{ IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA1_96 },
		{ IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_NONE },
	};
	static const int underlays[] = { 1500, 1492, 9000, 1400 };
	size_t i, u;
	int fam, natt;

	test_begin("inner MTU: nothing the MTU admits seals past the underlay MTU");
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		for (u = 0; u < sizeof(underlays) / sizeof(underlays[0]); u++)
			for (fam = AF_INET; fam <= AF_INET6; fam += AF_INET6 - AF_INET)
				for (natt = 0; natt < 2; natt++) {
					int m = ipsecif_inner_mtu(underlays[u], suites[i].enc,
								  suites[i].auth, fam, natt), len;

					CHECK(m >= IPSECIF_MTU_MIN, "mtu %d", m);
					for (len = m - 40; len <= m; len++)
						CHECK(esp_size(len, suites[i].enc, suites[i].auth, fam,
							       natt) <= underlays[u],
						      "suite %zu underlay %d fam %d natt %d len %d",
						      i, underlays[u], fam, natt, len);
				}
	test_end();

	test_begin("inner MTU: 1500-byte IPv4 underlay gives the expected figures");
	CHECK(ipsecif_inner_mtu(1500, IPSECIF_ENC_CHACHA20_POLY1305, 0, AF_INET, false) == 1443,
	      "chacha %d", ipsecif_inner_mtu(1500, IPSECIF_ENC_CHACHA20_POLY1305, 0, AF_INET, false));
	CHECK(ipsecif_inner_mtu(1500, IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, AF_INET6,
				true) == 1395, "cbc v6 natt %d",
	      ipsecif_inner_mtu(1500, IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, AF_INET6,
				true));
	test_end();

	test_begin("inner MTU: bad input is refused");
	CHECK(ipsecif_inner_mtu(1500, (enum ipsecif_enc)9, 0, AF_INET, false) == -EINVAL, "enc");
	CHECK(ipsecif_inner_mtu(1500, IPSECIF_ENC_AES_GCM16, 0, 99, false) == -EINVAL, "family");
	CHECK(ipsecif_inner_mtu(1300, IPSECIF_ENC_AES_GCM16, 0, AF_INET6, true) == -ERANGE,
	      "1300 underlay leaves less than 1280");
	CHECK(ipsecif_inner_mtu(65535, IPSECIF_ENC_AES_GCM16, 0, AF_INET, false) == IPSECIF_MTU_MAX,
	      "capped at %d", IPSECIF_MTU_MAX);
	test_end();
	return test_summary();
}
