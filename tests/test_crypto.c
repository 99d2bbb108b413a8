// SPDX-License-Identifier: GPL-2.0-only
/*
 * Crypto tests, run in the kernel through BPF_PROG_TEST_RUN:
 *  - known-answer vectors from the RFCs and the GCM spec (tests/vectors.txt)
 *  - randomised cross-check against OpenSSL's libcrypto, both directions,
 *    every length 0..300 and random lengths up to the maximum, and a
 *    flipped bit anywhere must be rejected
 *  - bad input to the key-install API, which must install nothing
 *  - 100,000 install/remove cycles must not leak kernel memory
 *
 * Usage: test_crypto [--quick] [--vectors FILE]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "ipsecif.h"
#include "ipsecif.skel.h"
#include "keys.h"
#include "test.h"
#include "ctest.h"
#include "hex.h"

struct test_state T;

static struct ipsecif *skel;
static struct ipsecif_keyring kr;
static int ctest_fd;
static __u32 next_id = 1;

/* ---- known-answer vectors ---------------------------------------------- */

struct vector {
	char name[64], kind[16], source[64];
	__u8 key[256], salt[4], iv[16], aad[64], pt[512], ct[512], tag[64];
	size_t key_len, salt_len, iv_len, aad_len, pt_len, ct_len, tag_len;
	int trunc;
};

static int vector_field(struct vector *v, const char *k, const char *val)
{
#define HEXF(f)								\
	if (!strcmp(k, #f)) {						\
		int n = unhex(val, v->f, sizeof(v->f));			\
		v->f##_len = n < 0 ? 0 : n;				\
		return n < 0 ? -1 : 0;					\
	}
	HEXF(key); HEXF(salt); HEXF(iv); HEXF(aad); HEXF(pt); HEXF(ct); HEXF(tag);
#undef HEXF
	if (!strcmp(k, "name"))
		snprintf(v->name, sizeof(v->name), "%s", val);
	else if (!strcmp(k, "kind"))
		snprintf(v->kind, sizeof(v->kind), "%s", val);
	else if (!strcmp(k, "source"))
		snprintf(v->source, sizeof(v->source), "%s", val);
	else if (!strcmp(k, "trunc"))
		v->trunc = atoi(val);
	return 0;
}

/* Reads the next blank-line separated block; 1 when one was read. */
static int vector_next(FILE *f, struct vector *v)
{
	char line[4096];
	int got = 0;

	memset(v, 0, sizeof(*v));
	while (fgets(line, sizeof(line), f)) {
		char *eq, *k, *val, *end;

		line[strcspn(line, "\r\n")] = 0;
		if (!line[0]) {
			if (got)
				return 1;
			continue;
		}
		if (line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		k = line;
		val = eq + 1;
		for (end = eq - 1; end >= k && *end == ' '; end--)
			*end = 0;
		while (*val == ' ')
			val++;
		if (vector_field(v, k, val))
			printf("  vectors: bad value for %s in %s\n", k, v->name);
		got = 1;
	}
	return got;
}

static int install_raw(__u32 id, __u8 enc, __u8 auth, const __u8 *key, size_t klen,
		       const __u8 *salt, const __u8 *akey, size_t aklen)
{
	struct ipsecif_key_req req = { .id = id, .enc = enc, .auth = auth };
	char err[256];
	int ret;

	req.enc_key_len = klen;
	memcpy(req.enc_key, key, klen);
	if (salt)
		memcpy(req.salt, salt, 4);
	req.auth_key_len = aklen;
	if (aklen)
		memcpy(req.auth_key, akey, aklen);
	ret = ipsecif_key_load(&kr, &req, err, sizeof(err));
	if (ret)
		printf("  install: %s\n", err);
	return ret;
}

static void test_vector(const struct vector *v)
{
	static const __u8 dummy_aes[16];
	__u8 out[1024];
	size_t outlen;
	__u32 id = next_id++;
	int ret;

	test_begin(v->name);
	if (!strcmp(v->kind, "chapoly") || !strcmp(v->kind, "gcm")) {
		__u8 enc = v->kind[0] == 'c' ? IPSECIF_ENC_CHACHA20_POLY1305 : IPSECIF_ENC_AES_GCM16;
		__u8 sealed[1024];

		ret = install_raw(id, enc, IPSECIF_AUTH_NONE, v->key, v->key_len, v->salt, NULL, 0);
		CHECK(ret == 0, "install: %d", ret);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_SEAL, id, v->aad, v->aad_len, v->iv, 0, 0,
				v->pt, v->pt_len, out, &outlen);
		CHECK(ret == 0, "seal: %d", ret);
		CHECK(outlen == v->ct_len + 16, "seal length %zu", outlen);
		CHECK(!memcmp(out, v->ct, v->ct_len), "ciphertext differs");
		CHECK(!memcmp(out + v->ct_len, v->tag, 16), "tag differs");

		memcpy(sealed, v->ct, v->ct_len);
		memcpy(sealed + v->ct_len, v->tag, 16);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_OPEN, id, v->aad, v->aad_len, v->iv, 0, 0,
				sealed, v->ct_len, out, &outlen);
		CHECK(ret == 0, "open: %d", ret);
		CHECK(outlen == v->pt_len && !memcmp(out, v->pt, v->pt_len), "plaintext differs");
	} else if (!strncmp(v->kind, "hmac-", 5)) {
		__u8 auth = !strcmp(v->kind, "hmac-sha1") ? IPSECIF_AUTH_HMAC_SHA1_96 :
							    IPSECIF_AUTH_HMAC_SHA256_128;
		size_t n = v->trunc ? (size_t)v->trunc : v->tag_len;

		ret = install_raw(id, IPSECIF_ENC_AES_CBC, auth, dummy_aes, 16, NULL, v->key,
				  v->key_len);
		CHECK(ret == 0, "install: %d", ret);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_MAC, id, NULL, 0, NULL, 0, 0, v->pt,
				v->pt_len, out, &outlen);
		CHECK(ret == 0, "mac: %d", ret);
		CHECK(!memcmp(out + v->pt_len, v->tag, n), "digest differs");
	} else if (!strcmp(v->kind, "cbc")) {
		ret = install_raw(id, IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_NONE, v->key, v->key_len,
				  NULL, NULL, 0);
		CHECK(ret == 0, "install: %d", ret);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_SEAL, id, NULL, 0, v->iv, 0, 0, v->pt,
				v->pt_len, out, &outlen);
		CHECK(ret == 0 && outlen == v->ct_len && !memcmp(out, v->ct, v->ct_len),
		      "ciphertext differs (%d)", ret);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_OPEN, id, NULL, 0, v->iv, 0, 0, v->ct,
				v->ct_len, out, &outlen);
		CHECK(ret == 0 && outlen == v->pt_len && !memcmp(out, v->pt, v->pt_len),
		      "plaintext differs (%d)", ret);
	} else {
		CHECK(0, "unknown kind %s", v->kind);
	}
	ipsecif_key_remove(&kr, id);
	test_end();
}

static void test_vectors(const char *path)
{
	struct vector *v = malloc(sizeof(*v));
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f || !v) {
		test_begin("vectors file");
		CHECK(0, "%s: %s", path, strerror(errno));
		test_end();
		free(v);
		return;
	}
	while (vector_next(f, v)) {
		test_vector(v);
		n++;
	}
	fclose(f);
	free(v);
	test_begin("vectors file has vectors");
	CHECK(n >= 20, "only %d vectors in %s", n, path);
	test_end();
}

/* ---- cross-check with OpenSSL ------------------------------------------- */

static void rnd(__u8 *p, size_t n)
{
	while (n--)
		*p++ = random();
}

static const EVP_CIPHER *ossl_cipher(const struct ctest_suite *s)
{
	switch (s->enc) {
	case IPSECIF_ENC_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	case IPSECIF_ENC_AES_GCM16:
		return s->key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	default:
		return s->key_len == 16 ? EVP_aes_128_cbc() :
		       s->key_len == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
	}
}

/* OpenSSL's ESP transform: AEAD with AAD, or CBC then HMAC (RFC 4303 §2). */
static int ossl_seal(const struct ctest_suite *s, const __u8 *key, const __u8 *salt, const __u8 *akey,
		     const __u8 *aad, size_t aad_len, const __u8 *iv, bool esn, __u32 seq_hi,
		     const __u8 *pt, size_t len, __u8 *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	__u8 nonce[12];
	int n, ok;

	if (s->enc != IPSECIF_ENC_AES_CBC) {
		memcpy(nonce, salt, 4);
		memcpy(nonce + 4, iv, 8);
		ok = EVP_EncryptInit_ex(c, ossl_cipher(s), NULL, key, nonce) &&
		     EVP_EncryptUpdate(c, NULL, &n, aad, aad_len) &&
		     EVP_EncryptUpdate(c, out, &n, pt, len) &&
		     EVP_EncryptFinal_ex(c, out + len, &n) &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + len);
	} else {
		ok = EVP_EncryptInit_ex(c, ossl_cipher(s), NULL, key, iv) &&
		     EVP_CIPHER_CTX_set_padding(c, 0) &&
		     EVP_EncryptUpdate(c, out, &n, pt, len) &&
		     EVP_EncryptFinal_ex(c, out + len, &n);
		if (ok && s->auth) {
			__u8 *msg = malloc(24 + len + 4), md[32];
			unsigned int mdlen;
			__u32 hi = htobe32(seq_hi);

			memcpy(msg, aad, 8);
			memcpy(msg + 8, iv, 16);
			memcpy(msg + 24, out, len);
			memcpy(msg + 24 + len, &hi, 4);
			HMAC(s->auth == IPSECIF_AUTH_HMAC_SHA1_96 ? EVP_sha1() : EVP_sha256(),
			     akey, s->aklen, msg, 24 + len + (esn ? 4 : 0), md, &mdlen);
			memcpy(out + len, md, s->auth == IPSECIF_AUTH_HMAC_SHA1_96 ? 12 : 16);
			free(msg);
		}
	}
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static size_t suite_icv(const struct ctest_suite *s)
{
	if (s->enc != IPSECIF_ENC_AES_CBC)
		return 16;
	return s->auth == IPSECIF_AUTH_HMAC_SHA1_96 ? 12 : s->auth ? 16 : 0;
}

static int n_sealed, n_opened, n_rejected;

static void crosscheck_one(const struct ctest_suite *s, __u32 id, const __u8 *key, const __u8 *salt,
			   const __u8 *akey, size_t len, int *bad)
{
	static __u8 pt[IPSECIF_MAX_TEXT], bpf_ct[IPSECIF_MAX_TEXT + 32];
	static __u8 ossl_ct[IPSECIF_MAX_TEXT + 32], out[IPSECIF_MAX_TEXT + 32];
	__u8 aad[12], iv[16];
	bool aead = s->enc != IPSECIF_ENC_AES_CBC, esn = random() & 1;
	size_t icv = suite_icv(s), aad_len = aead ? (esn ? 12 : 8) : 8, outlen;
	__u32 seq_hi = random(), flags = esn ? IPSECIF_CTEST_F_ESN : 0;
	int ret;

	rnd(pt, len);
	rnd(aad, sizeof(aad));
	rnd(iv, sizeof(iv));

	/* BPF seals; it must be byte for byte what OpenSSL makes. */
	ret = ctest_run(ctest_fd, IPSECIF_CTEST_SEAL, id, aad, aad_len, iv, flags, seq_hi, pt, len,
			bpf_ct, &outlen);
	if (ret || outlen != len + icv) {
		if (!(*bad)++)
			CHECK(0, "%s len %zu: seal %d, out %zu", s->name, len, ret, outlen);
		return;
	}
	ossl_seal(s, key, salt, akey, aad, aad_len, iv, esn, seq_hi, pt, len, ossl_ct);
	if (memcmp(bpf_ct, ossl_ct, len + icv)) {
		if (!(*bad)++)
			CHECK(0, "%s len %zu esn %d: BPF and OpenSSL output differ", s->name, len, esn);
		return;
	}

	n_sealed++;

	/* OpenSSL's output opens in BPF. */
	ret = ctest_run(ctest_fd, IPSECIF_CTEST_OPEN, id, aad, aad_len, iv, flags, seq_hi, ossl_ct,
			len, out, &outlen);
	if (ret || outlen != len || memcmp(out, pt, len)) {
		if (!(*bad)++)
			CHECK(0, "%s len %zu: open %d", s->name, len, ret);
		return;
	}
	n_opened++;
	if (!icv)
		return;

	/* One flipped bit anywhere the ICV covers: AAD, IV, ciphertext or ICV. */
	{
		size_t ivlen = aead ? 8 : 16, region = aad_len + ivlen + len + icv;
		size_t bit = random() % (region * 8), byte = bit / 8;
		__u8 faad[12], fiv[16];

		memcpy(faad, aad, sizeof(faad));
		memcpy(fiv, iv, sizeof(fiv));
		memcpy(out, ossl_ct, len + icv);
		if (byte < aad_len)
			faad[byte] ^= 1 << (bit % 8);
		else if (byte < aad_len + ivlen)
			fiv[byte - aad_len] ^= 1 << (bit % 8);
		else
			out[byte - aad_len - ivlen] ^= 1 << (bit % 8);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_OPEN, id, faad, aad_len, fiv, flags, seq_hi,
				out, len, out, &outlen);
		if (ret == -EBADMSG)
			n_rejected++;
		else if (!(*bad)++)
			CHECK(0, "%s len %zu: flipped bit %zu accepted (%d)", s->name, len, bit, ret);
	}
	/*
	 * With ESN the high half is authenticated although never sent
	 * (RFC 4303 §2.2.1).  For HMAC it is appended by the transform; for
	 * the AEADs it is part of the AAD, which the bit flips above cover.
	 */
	if (esn && !aead) {
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_OPEN, id, aad, aad_len, iv, flags,
				seq_hi ^ 0x80, ossl_ct, len, out, &outlen);
		if (ret != -EBADMSG && !(*bad)++)
			CHECK(0, "%s len %zu: wrong ESN high half accepted (%d)", s->name, len, ret);
	}
}

static void test_crosscheck(bool quick)
{
	size_t i, len;

	for (i = 0; i < CTEST_NSUITES; i++) {
		const struct ctest_suite *s = &ctest_suites[i];
		struct ipsecif_key_params p;
		__u8 key[36], akey[32];
		size_t step = s->enc == IPSECIF_ENC_AES_CBC ? 16 : 1;
		__u32 id = next_id++;
		char err[256], name[128];
		int bad = 0, r, nrand = quick ? 5 : 40;

		snprintf(name, sizeof(name), "OpenSSL cross-check: %s", s->name);
		test_begin(name);
		n_sealed = n_opened = n_rejected = 0;
		rnd(key, sizeof(key));
		rnd(akey, sizeof(akey));
		p = ctest_params(s, key, akey);
		r = ipsecif_key_install(&kr, id, &p, err, sizeof(err));
		CHECK(r == 0, "install: %s", err);
		if (!r) {
			for (len = 0; len <= 300; len += step)
				crosscheck_one(s, id, key, key + s->key_len, akey, len, &bad);
			for (r = 0; r < nrand; r++) {
				len = 301 + random() % (IPSECIF_MAX_TEXT - 300);
				crosscheck_one(s, id, key, key + s->key_len, akey, len & ~(step - 1), &bad);
			}
			crosscheck_one(s, id, key, key + s->key_len, akey, IPSECIF_MAX_TEXT, &bad);
		}
		CHECK(!bad, "%d bad cases", bad);
		printf("  %d sealed in BPF = OpenSSL, %d from OpenSSL opened, %d bit flips rejected\n",
		       n_sealed, n_opened, n_rejected);
		ipsecif_key_remove(&kr, id);
		test_end();
	}
}

/*
 * The opened keys' cache (bpf/wrap.h) follows the key map: a slot removed
 * and installed again with another key seals with the new key, and the
 * removal clears the cache slot the first key's packets filled.
 */
static void test_cache_follows_key(void)
{
	size_t i;

	for (i = 0; i < CTEST_NSUITES; i++) {
		const struct ctest_suite *s = &ctest_suites[i];
		__u32 id = next_id++, slot = id & (IPSECIF_KEY_CACHE_SLOTS - 1);
		struct ipsecif_key_cache c;
		struct ipsecif_key_params p;
		__u8 key[36], akey[32];
		char err[256], name[128];
		int bad = 0, round, r;

		snprintf(name, sizeof(name), "key cache: %s, a slot reinstalled seals with its new key",
			 s->name);
		test_begin(name);
		for (round = 0; round < 2 && !bad; round++) {
			rnd(key, sizeof(key));
			rnd(akey, sizeof(akey));
			p = ctest_params(s, key, akey);
			r = ipsecif_key_install(&kr, id, &p, err, sizeof(err));
			CHECK(r == 0, "install: %s", err);
			if (r)
				break;
			crosscheck_one(s, id, key, key + s->key_len, akey, 64, &bad);
			/* Encryption-only CBC has nothing besides its AES context. */
			CHECK(!bpf_map_lookup_elem(kr.cache_fd, &slot, &c) &&
			      c.id == (s->enc == IPSECIF_ENC_AES_CBC && !s->auth ? 0 : id),
			      "round %d: the key's packets left no cache entry", round);
			ipsecif_key_remove(&kr, id);
			CHECK(!bpf_map_lookup_elem(kr.cache_fd, &slot, &c) && c.id == 0,
			      "round %d: removing the key left its cache entry", round);
		}
		CHECK(!bad, "%d bad cases", bad);
		test_end();
	}
}

/* ---- bad input ------------------------------------------------------------ */

/* Key id in its slot (the keys map is an array: a slot is free when its id is 0). */
static bool key_present(__u32 id)
{
	__u32 slot = IPSECIF_SA_SLOT(id);
	struct ipsecif_key v;

	return bpf_map_lookup_elem(kr.keys_fd, &slot, &v) == 0 && v.id == id;
}

static void test_bad_input(void)
{
	static const __u8 k36[36], k32[32], k20[20], k64[64];
	static const struct {
		const char *what;
		struct ipsecif_key_params p;
		const char *msg;	/* expected in the error */
	} cases[] = {
		{ "chacha20 key without salt",
		  { IPSECIF_ENC_CHACHA20_POLY1305, 0, k32, 32, NULL, 0, false }, "36 bytes" },
		{ "chacha20 key too long",
		  { IPSECIF_ENC_CHACHA20_POLY1305, 0, k64, 40, NULL, 0, false }, "got 40" },
		{ "gcm key without salt",
		  { IPSECIF_ENC_AES_GCM16, 0, k32, 16, NULL, 0, false }, "20, 28 or 36" },
		{ "gcm key of 35 bytes",
		  { IPSECIF_ENC_AES_GCM16, 0, k36, 35, NULL, 0, false }, "got 35" },
		{ "cbc key of 20 bytes",
		  { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, k20, 20, k32, 32, false },
		  "16, 24 or 32" },
		{ "unknown encryption",
		  { (enum ipsecif_enc)9, 0, k32, 32, NULL, 0, false }, "unknown encryption" },
		{ "no encryption",
		  { IPSECIF_ENC_NONE, 0, NULL, 0, NULL, 0, false }, "unknown encryption" },
		{ "unknown authentication",
		  { IPSECIF_ENC_AES_CBC, (enum ipsecif_auth)7, k32, 16, k32, 32, false },
		  "unknown authentication" },
		{ "cbc without authentication",
		  { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_NONE, k32, 16, NULL, 0, false },
		  "requires an authentication algorithm" },
		{ "authentication key missing",
		  { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, k32, 16, NULL, 0, false },
		  "requires an authentication key" },
		{ "hmac-sha2-256 key of 20 bytes",
		  { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, k32, 16, k20, 20, false },
		  "must be 32 bytes" },
		{ "hmac-sha1 key of 32 bytes",
		  { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA1_96, k32, 16, k32, 32, false },
		  "must be 20 bytes" },
		{ "AEAD with authentication",
		  { IPSECIF_ENC_AES_GCM16, IPSECIF_AUTH_HMAC_SHA1_96, k36, 36, k20, 20, false },
		  "AEAD" },
		{ "authentication key without algorithm",
		  { IPSECIF_ENC_CHACHA20_POLY1305, IPSECIF_AUTH_NONE, k36, 36, k20, 20, false },
		  "without an authentication algorithm" },
	};
	struct ipsecif_key_req req;
	char err[256], name[160];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		__u32 id = next_id++;

		snprintf(name, sizeof(name), "bad key: %s", cases[i].what);
		test_begin(name);
		err[0] = 0;
		ret = ipsecif_key_install(&kr, id, &cases[i].p, err, sizeof(err));
		CHECK(ret == -EINVAL, "returned %d", ret);
		CHECK(strstr(err, cases[i].msg), "message \"%s\" lacks \"%s\"", err, cases[i].msg);
		CHECK(!key_present(id), "a key was installed");
		test_end();
	}

	/* The BPF side checks again: a raw request it must refuse. */
	test_begin("bad key: raw request with unknown transform refused in BPF");
	memset(&req, 0, sizeof(req));
	req.id = next_id++;
	req.enc = 77;
	req.enc_key_len = 16;
	ret = ipsecif_key_load(&kr, &req, err, sizeof(err));
	CHECK(ret == -EINVAL, "returned %d", ret);
	CHECK(!key_present(req.id), "a key was installed");
	test_end();

	test_begin("bad key: raw request with 300-byte HMAC key refused in BPF");
	memset(&req, 0, sizeof(req));
	req.id = next_id++;
	req.enc = IPSECIF_ENC_AES_CBC;
	req.auth = IPSECIF_AUTH_HMAC_SHA256_128;
	req.enc_key_len = 16;
	req.auth_key_len = 300;
	ret = ipsecif_key_load(&kr, &req, err, sizeof(err));
	CHECK(ret == -EINVAL, "returned %d", ret);
	CHECK(!key_present(req.id), "a key was installed");
	test_end();

	test_begin("bad key: slot already in use");
	{
		struct ipsecif_key_params p = { IPSECIF_ENC_CHACHA20_POLY1305, 0, k36, 36, NULL, 0,
						false };
		__u32 id = next_id++;

		ret = ipsecif_key_install(&kr, id, &p, err, sizeof(err));
		CHECK(ret == 0, "first install: %s", err);
		ret = ipsecif_key_install(&kr, id, &p, err, sizeof(err));
		CHECK(ret == -EEXIST, "second install returned %d", ret);
		CHECK(key_present(id), "the first key is gone");
		ipsecif_key_remove(&kr, id);
		CHECK(!key_present(id), "remove left the key");
		CHECK(ipsecif_key_remove(&kr, id) == -ENOENT, "second remove did not say ENOENT");
	}
	test_end();

	test_begin("encryption-only CBC is marked insecure");
	{
		struct ipsecif_key_params p = { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_NONE, k32, 16, NULL,
						0, true };
		struct ipsecif_key v;
		__u32 id = next_id++, slot = IPSECIF_SA_SLOT(id);

		CHECK(ipsecif_key_insecure(&p), "not reported insecure");
		ret = ipsecif_key_install(&kr, id, &p, err, sizeof(err));
		CHECK(ret == 0, "install: %s", err);
		CHECK(!bpf_map_lookup_elem(kr.keys_fd, &slot, &v) && v.id == id &&
		      (v.flags & IPSECIF_KEY_F_NO_AUTH) && v.icv_len == 0,
		      "key map entry lacks the no-auth flag");
		ipsecif_key_remove(&kr, id);
	}
	test_end();

	test_begin("open refuses a text the suite cannot take");
	{
		struct ipsecif_key_params p = { IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA1_96, k32, 16,
						k20, 20, false };
		__u8 buf[64] = {}, out[64];
		size_t outlen;
		__u32 id = next_id++;

		ret = ipsecif_key_install(&kr, id, &p, err, sizeof(err));
		CHECK(ret == 0, "install: %s", err);
		/* CBC needs whole blocks (RFC 3602 §2.4). */
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_SEAL, id, buf, 8, buf, 0, 0, buf, 17, out,
				&outlen);
		CHECK(ret == -EINVAL, "17-byte CBC text: %d", ret);
		ret = ctest_run(ctest_fd, IPSECIF_CTEST_SEAL, id + 1000, buf, 8, buf, 0, 0, buf, 16,
				out, &outlen);
		CHECK(ret == -ENOENT, "missing key: %d", ret);
		ipsecif_key_remove(&kr, id);
	}
	test_end();
}

/* ---- no leaks -------------------------------------------------------------- */

static long meminfo_kb(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)) && line[strlen(field)] == ':')
			v = atol(line + strlen(field) + 1);
	fclose(f);
	return v;
}

static long kernel_kb(void)
{
	return meminfo_kb("Slab") + meminfo_kb("Percpu") + meminfo_kb("VmallocUsed");
}

static void test_leaks(void)
{
	static const __u8 key[36] = { 1, 2, 3 }, akey[32] = { 4, 5, 6 };
	const struct ipsecif_key_params ps[] = {
		{ IPSECIF_ENC_AES_GCM16, 0, key, 20, NULL, 0, false },
		{ IPSECIF_ENC_AES_CBC, IPSECIF_AUTH_HMAC_SHA256_128, key, 32, akey, 32, false },
		{ IPSECIF_ENC_CHACHA20_POLY1305, 0, key, 36, NULL, 0, false },
	};
	const int cycles = 100000;
	char err[256];
	long before, after = 0, grown;
	int i, failures = 0, tries;
	__u32 id = next_id++;

	test_begin("100000 key install/remove cycles leak nothing");
	/* Warm the slab caches first, so that their growth is not counted. */
	for (i = 0; i < cycles / 10; i++)
		if (ipsecif_key_install(&kr, id, &ps[i % 3], err, sizeof(err)) ||
		    ipsecif_key_remove(&kr, id))
			failures++;
	usleep(200 * 1000);
	before = kernel_kb();
	for (i = 0; i < cycles; i++) {
		if (ipsecif_key_install(&kr, id, &ps[i % 3], err, sizeof(err)) ||
		    ipsecif_key_remove(&kr, id))
			failures++;
	}
	CHECK(failures == 0, "%d cycles failed (%s)", failures, err);
	/* Contexts are freed after an RCU grace period: give them time. */
	for (tries = 0; tries < 50; tries++) {
		after = kernel_kb();
		if (after - before < 1024)
			break;
		usleep(100 * 1000);
	}
	grown = after - before;
	printf("  kernel memory (Slab+Percpu+Vmalloc) grew %ld kB over %d cycles\n", grown, cycles);
	/* One leaked context with its cipher is over 500 bytes: 100000 of them, 50 MB. */
	CHECK(grown < 8192, "kernel memory grew by %ld kB", grown);
	test_end();
}

int main(int argc, char **argv)
{
	const char *vectors = "tests/vectors.txt";
	bool quick = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--vectors") && i + 1 < argc)
			vectors = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--quick] [--vectors FILE]\n", argv[0]);
			return 2;
		}
	}
	srandom(time(NULL));

	test_begin("load BPF object (verifier accepts every program)");
	skel = ipsecif__open_and_load();
	CHECK(skel, "ipsecif__open_and_load: %s", strerror(errno));
	test_end();
	if (!skel)
		return test_summary();
	test_begin("the object has what a keyring needs");
	CHECK(ipsecif_keyring_init(&kr, skel->obj) == 0, "a key program or map is missing");
	test_end();
	ctest_fd = bpf_program__fd(skel->progs.crypto_test);

	test_vectors(vectors);
	test_crosscheck(quick);
	test_cache_follows_key();
	test_bad_input();
	if (!quick)
		test_leaks();

	ipsecif__destroy(skel);
	return test_summary();
}
