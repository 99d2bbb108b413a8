/* SPDX-License-Identifier: GPL-2.0-only */
/* Running the crypto_test program on one text, shared by tests and benchmark. */
#ifndef IPSECIF_CTEST_H
#define IPSECIF_CTEST_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "ipsecif_crypto.h"
#include "keys.h"

/* The suites the tests and the benchmark run, keys given random or fixed. */
struct ctest_suite {
	const char *name;
	enum ipsecif_enc enc;
	enum ipsecif_auth auth;
	size_t key_len;		/* without the salt */
	size_t aklen;		/* HMAC key */
};

static const struct ctest_suite ctest_suites[] = {
	{ "chacha20-poly1305", IPSECIF_ENC_CHACHA20_POLY1305, IPSECIF_AUTH_NONE, 32, 0 },
	{ "aes-gcm-128", IPSECIF_ENC_AES_GCM16, IPSECIF_AUTH_NONE, 16, 0 },
	{ "aes-gcm-256", IPSECIF_ENC_AES_GCM16, IPSECIF_AUTH_NONE, 32, 0 },
	{ "aes-cbc-128+hmac-sha2-256", IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, 16, 32 },
	{ "aes-cbc-128+hmac-sha1", IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA1_96, 16, 20 },
	{ "aes-cbc-256+hmac-sha1", IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA1_96, 32, 20 },
	{ "aes-cbc-192 (no auth)", IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_NONE, 24, 0 },
};

#define CTEST_NSUITES (sizeof(ctest_suites) / sizeof(ctest_suites[0]))

/* Key parameters for suite s from key (36 bytes) and akey (32 bytes). */
static inline struct ipsecif_key_params ctest_params(const struct ctest_suite *s, const __u8 *key,
						     const __u8 *akey)
{
	struct ipsecif_key_params p = {
		.enc = s->enc,
		.auth = s->auth,
		.enc_key = key,
		.enc_key_len = s->key_len + (s->enc == IPSECIF_ENC_AES_CBC ? 0 : IPSECIF_SALT_LEN),
		.auth_key = s->aklen ? akey : NULL,
		.auth_key_len = s->aklen,
		.allow_no_auth = true,
	};

	return p;
}

/*
 * Run op on text: len bytes, and for open the ICV after them (up to 16
 * bytes are read past len).  The output (text, then ICV or digest) goes to
 * out, its length to *outlen.  Returns the program's status (0 or -errno)
 * or -errno of the run.  For timing, repeat > 1 with
 * IPSECIF_CTEST_F_NOSTORE, and *ns gets the mean run time.
 */
static inline int ctest_run_rep(int fd, __u32 op, __u32 key_id, const __u8 *aad, size_t aad_len,
				const __u8 *iv, __u32 flags, __u32 seq_hi, const __u8 *text,
				size_t len, __u8 *out, size_t *outlen, int repeat, __u32 *ns)
{
	size_t room = sizeof(struct ipsecif_ctest) + len + 32;
	size_t in = len + (op == IPSECIF_CTEST_OPEN ? IPSECIF_MAX_ICV_LEN : 0);
	__u8 *pkt = calloc(1, room), *res = calloc(1, room);
	struct ipsecif_ctest *t = (struct ipsecif_ctest *)pkt;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = pkt,
		    .data_size_in = room,
		    .data_out = res,
		    .data_size_out = room,
		    .repeat = repeat);
	int ret;

	if (outlen)
		*outlen = 0;
	if (!pkt || !res) {
		ret = -ENOMEM;
		goto out;
	}
	t->op = op;
	t->key_id = key_id;
	t->len = len;
	t->aad_len = aad_len;
	t->flags = flags;
	t->seq_hi = seq_hi;
	if (aad_len)
		memcpy(t->aad, aad, aad_len);
	if (iv)
		memcpy(t->iv, iv, sizeof(t->iv));
	if (in)
		memcpy(pkt + sizeof(*t), text, in);

	if (bpf_prog_test_run_opts(fd, &opts)) {
		ret = -errno;
		goto out;
	}
	if (ns)
		*ns = opts.duration;
	t = (struct ipsecif_ctest *)res;
	ret = t->status;
	if (!ret && out) {
		memcpy(out, res + sizeof(*t), t->out_len);
		*outlen = t->out_len;
	}
out:
	free(pkt);
	free(res);
	return ret;
}

static inline int ctest_run(int fd, __u32 op, __u32 key_id, const __u8 *aad, size_t aad_len,
			    const __u8 *iv, __u32 flags, __u32 seq_hi, const __u8 *text, size_t len,
			    __u8 *out, size_t *outlen)
{
	return ctest_run_rep(fd, op, key_id, aad, aad_len, iv, flags, seq_hi, text, len, out,
			     outlen, 1, NULL);
}

#endif /* IPSECIF_CTEST_H */
