// SPDX-License-Identifier: GPL-2.0-only
/*
 * The engine's cipher (daemon/engcipher.c) against BPF's, byte for byte:
 *  - every suite, texts of 1, 63, 64, 1400 and 3000 bytes (CBC: whole
 *    blocks), with and without ESN: what engcipher seals is what BPF's
 *    crypto_test seals, and opens there; what BPF seals, engcipher opens;
 *  - the CBC IV is AES-ECB_K(be64(seq) | "secif iv") (bpf/esp_out.h);
 *  - a flipped ICV bit comes back BAD_ICV with the text as it came;
 *  - a slot holding another id is NO_KEY; a rewritten entry rebuilds its
 *    contexts, and the sweep frees those of entries changed or emptied;
 *  - trailers the frame cannot hold are BAD_FRAME, the frame ending at a
 *    page no one may read, so a read past it would crash the test.
 *
 * Usage: test_engcipher [--bench]: with --bench, ns per SEAL frame in
 * engcipher and in BPF's crypto_test, for ChaCha20-Poly1305 and AES-GCM-128
 * at 64 and 1400 bytes, instead of the tests.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <openssl/evp.h>
#include "ipsecif.skel.h"
#include "ipsecif_engine.h"
#include "engcipher.h"
#include "keys.h"
#include "test.h"
#include "ctest.h"

struct test_state T;

static struct ipsecif *skel;
static struct ipsecif_keyring kr;
static int ctest_fd;
static struct ipsecif_eng_key *table;
static struct engcipher *ec;
static __u32 next_id = 100;

#define FRAME_ROOM	4096
#define ETH_LEN		14

static void rnd(__u8 *p, size_t n)
{
	while (n--)
		*p++ = random();
}

static bool is_aead(const struct ctest_suite *s)
{
	return s->enc != IPSECIF_ENC_AES_CBC;
}

static size_t suite_icv(const struct ctest_suite *s)
{
	if (is_aead(s))
		return 16;
	return s->auth == IPSECIF_AUTH_HMAC_SHA1_96 ? 12 : s->auth ? 16 : 0;
}

static size_t suite_iv(const struct ctest_suite *s)
{
	return is_aead(s) ? IPSECIF_AEAD_IV_LEN : IPSECIF_CBC_IV_LEN;
}

/* A key as the agent would write it: lock odd, the fields, lock even. */
static void table_write(__u32 id, const struct ctest_suite *s, const __u8 *key, const __u8 *akey,
			size_t icv_len)
{
	struct ipsecif_eng_key *e = &table[id % IPSECIF_ENG_KEY_SLOTS];
	__u32 lock = e->lock;

	__atomic_store_n(&e->lock, lock + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memset((__u8 *)e + sizeof(e->lock), 0, sizeof(*e) - sizeof(e->lock));
	e->id = id;
	if (s) {
		e->enc = s->enc;
		e->auth = s->auth;
		e->icv_len = icv_len;
		e->enc_key_len = s->key_len;
		e->auth_key_len = s->aklen;
		memcpy(e->enc_key, key, s->key_len);
		if (is_aead(s))
			memcpy(e->salt, key + s->key_len, IPSECIF_SALT_LEN);
		memcpy(e->auth_key, akey, s->aklen);
	}
	__atomic_store_n(&e->lock, lock + 2, __ATOMIC_RELEASE);
}

struct fspec {
	const struct ctest_suite *s;
	__u32 id;
	__u32 spi;
	__u64 seq;
	bool esn;
	__u16 esp_off;
	size_t text_len;
	__u8 op;
};

/* The ESP header and the AAD (RFC 4303 §2.2.1, RFC 4106 §5). */
static size_t esp_aad(const struct fspec *p, __u8 *hdr, __u8 *aad)
{
	__u32 spi = htobe32(p->spi), lo = htobe32((__u32)p->seq), hi = htobe32(p->seq >> 32);

	memcpy(hdr, &spi, 4);
	memcpy(hdr + 4, &lo, 4);
	memcpy(aad, &spi, 4);
	if (!p->esn) {
		memcpy(aad + 4, &lo, 4);
		return 8;
	}
	memcpy(aad + 4, &hi, 4);
	memcpy(aad + 8, &lo, 4);
	return 12;
}

/*
 * A frame as BPF builds it: Ethernet header, ESP header, IV, text, ICV
 * (or room for it), the trailer.  Its length.
 */
static size_t frame_build(__u8 *f, const struct fspec *p, const __u8 *iv, const __u8 *text,
			  const __u8 *icv)
{
	struct ipsecif_eng_trailer t = {};
	size_t ivlen = suite_iv(p->s), icvlen = suite_icv(p->s);
	__u8 *esp = f + p->esp_off;
	__u8 hdr[8];

	memset(f, 0xee, p->esp_off);
	t.aad_len = esp_aad(p, hdr, t.aad);
	memcpy(esp, hdr, 8);
	if (iv)
		memcpy(esp + 8, iv, ivlen);
	else
		memset(esp + 8, 0, ivlen);
	memcpy(esp + 8 + ivlen, text, p->text_len);
	if (icv)
		memcpy(esp + 8 + ivlen + p->text_len, icv, icvlen);
	else
		memset(esp + 8 + ivlen + p->text_len, 0, icvlen);
	t.key_id = p->id;
	t.seq = p->seq;
	t.esp_off = p->esp_off;
	t.text_len = p->text_len;
	t.op = p->op;
	t.enc = p->s->enc;
	t.icv_len = icvlen;
	t.reqid = 7;
	t.magic = IPSECIF_ENG_MAGIC;
	memcpy(esp + 8 + ivlen + p->text_len + icvlen, &t, sizeof(t));
	return p->esp_off + 8 + ivlen + p->text_len + icvlen + sizeof(t);
}

static __u8 frame_op(const __u8 *f, size_t len)
{
	return f[len - sizeof(struct ipsecif_eng_trailer) + offsetof(struct ipsecif_eng_trailer, op)];
}

/* BPF's crypto_test on the frame's text: seal (or open) with its AAD and IV. */
static int bpf_run(const struct fspec *p, __u32 op, const __u8 *iv, const __u8 *in, __u8 *out,
		   size_t *outlen)
{
	__u8 hdr[8], aad[12];
	size_t aad_len = esp_aad(p, hdr, aad);
	__u32 flags = p->esn ? IPSECIF_CTEST_F_ESN : 0;
	__u8 civ[16] = {};

	memcpy(civ, iv, suite_iv(p->s));
	/* CBC: the first 8 bytes play the ESP header the HMAC covers. */
	if (!is_aead(p->s))
		return ctest_run(ctest_fd, op, p->id, hdr, 8, civ, flags, p->seq >> 32, in,
				 p->text_len, out, outlen);
	return ctest_run(ctest_fd, op, p->id, aad, aad_len, civ, flags, p->seq >> 32, in,
			 p->text_len, out, outlen);
}

/* AES-ECB_K(be64(seq) | "secif iv") with OpenSSL, as bpf/esp_out.h cbc_iv. */
static void cbc_iv_ref(const struct ctest_suite *s, const __u8 *key, __u64 seq, __u8 *iv)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	__u64 be = htobe64(seq);
	__u8 blk[16];
	int n;

	memcpy(blk, &be, 8);
	memcpy(blk + 8, "secif iv", 8);
	EVP_EncryptInit_ex(c, s->key_len == 16 ? EVP_aes_128_ecb() :
			   s->key_len == 24 ? EVP_aes_192_ecb() : EVP_aes_256_ecb(),
			   NULL, key, NULL);
	EVP_CIPHER_CTX_set_padding(c, 0);
	EVP_EncryptUpdate(c, iv, &n, blk, 16);
	EVP_CIPHER_CTX_free(c);
}

static void one_len(const struct ctest_suite *s, __u32 id, const __u8 *key, size_t len, bool esn,
		    int *bad)
{
	static __u8 f[FRAME_ROOM], text[FRAME_ROOM], out[FRAME_ROOM + 64], sealed[FRAME_ROOM];
	size_t ivlen = suite_iv(s), icv = suite_icv(s), flen, outlen;
	struct fspec p = {
		.s = s, .id = id, .spi = random(), .esn = esn, .esp_off = ETH_LEN,
		.text_len = len, .op = IPSECIF_ENG_SEAL,
	};
	__u8 iv[16], ref_iv[16], *esp = f + ETH_LEN, *ftext = esp + 8 + ivlen;
	int ret;

#define BAD(...) do { if (!(*bad)++) CHECK(0, __VA_ARGS__); return; } while (0)
	p.seq = esn ? ((__u64)random() << 32 | random()) : (__u32)random();
	rnd(text, len);
	rnd(iv, sizeof(iv));

	/* engcipher seals; BPF seals the same to the byte, and opens it. */
	flen = frame_build(f, &p, is_aead(s) ? iv : NULL, text, NULL);
	ret = engcipher_frame(ec, f, flen);
	if (ret || frame_op(f, flen) != IPSECIF_ENG_SEALED)
		BAD("%s len %zu: seal %d, op %u", s->name, len, ret, frame_op(f, flen));
	if (!is_aead(s)) {
		cbc_iv_ref(s, key, p.seq, ref_iv);
		if (memcmp(esp + 8, ref_iv, 16))
			BAD("%s len %zu: the CBC IV is not AES-ECB_K(seq | \"secif iv\")", s->name, len);
	}
	ret = bpf_run(&p, IPSECIF_CTEST_SEAL, esp + 8, text, out, &outlen);
	if (ret || outlen != len + icv)
		BAD("%s len %zu: BPF seal %d", s->name, len, ret);
	if (memcmp(out, ftext, len + icv))
		BAD("%s len %zu esn %d: engcipher and BPF differ", s->name, len, esn);
	ret = bpf_run(&p, IPSECIF_CTEST_OPEN, esp + 8, ftext, out, &outlen);
	if (ret || memcmp(out, text, len))
		BAD("%s len %zu: BPF does not open engcipher's (%d)", s->name, len, ret);

	/* BPF seals; engcipher opens it to the text. */
	rnd(text, len);
	ret = bpf_run(&p, IPSECIF_CTEST_SEAL, iv, text, sealed, &outlen);
	if (ret)
		BAD("%s len %zu: BPF seal %d", s->name, len, ret);
	p.op = IPSECIF_ENG_OPEN;
	flen = frame_build(f, &p, iv, sealed, sealed + len);
	ret = engcipher_frame(ec, f, flen);
	if (ret || frame_op(f, flen) != IPSECIF_ENG_OPENED || memcmp(ftext, text, len))
		BAD("%s len %zu esn %d: engcipher does not open BPF's (%d, op %u)", s->name, len,
		    esn, ret, frame_op(f, flen));
	if (!icv)
		return;

	/* A flipped ICV bit: BAD_ICV, and the text as it came. */
	flen = frame_build(f, &p, iv, sealed, sealed + len);
	ftext[len + random() % icv] ^= 1 << (random() % 8);
	ret = engcipher_frame(ec, f, flen);
	if (ret || frame_op(f, flen) != IPSECIF_ENG_BAD_ICV)
		BAD("%s len %zu: flipped ICV bit gave %d, op %u", s->name, len, ret,
		    frame_op(f, flen));
	if (memcmp(ftext, sealed, len))
		BAD("%s len %zu: BAD_ICV changed the text", s->name, len);
#undef BAD
}

static __u32 install(const struct ctest_suite *s, __u8 *key, __u8 *akey)
{
	struct ipsecif_key_params p;
	__u32 id = next_id++;
	char err[256];

	rnd(key, 36);
	rnd(akey, 32);
	p = ctest_params(s, key, akey);
	if (ipsecif_key_install(&kr, id, &p, err, sizeof(err))) {
		printf("  install %s: %s\n", s->name, err);
		return 0;
	}
	table_write(id, s, key, akey, suite_icv(s));
	return id;
}

static void test_suites(void)
{
	static const size_t lens[] = { 1, 63, 64, 1400, 3000 };
	size_t i, j;

	for (i = 0; i < CTEST_NSUITES; i++) {
		const struct ctest_suite *s = &ctest_suites[i];
		__u8 key[36], akey[32];
		char name[128];
		int bad = 0;
		__u32 id;

		snprintf(name, sizeof(name), "%s: engcipher = BPF, both ways, flipped ICV refused",
			 s->name);
		test_begin(name);
		id = install(s, key, akey);
		CHECK(id, "install failed");
		for (j = 0; id && j < sizeof(lens) / sizeof(lens[0]); j++) {
			size_t len = is_aead(s) ? lens[j] : (lens[j] + 15) & ~15UL;

			one_len(s, id, key, len, false, &bad);
			one_len(s, id, key, len, true, &bad);
		}
		CHECK(!bad, "%d bad cases", bad);
		ipsecif_key_remove(&kr, id);
		table_write(id, NULL, NULL, NULL, 0);
		test_end();
	}
}

/* GCM's ICV of 8 or 12 bytes (RFC 4106 §8.1) is the tag's prefix. */
static void test_gcm_short_icv(void)
{
	const struct ctest_suite *s = &ctest_suites[1];	/* aes-gcm-128 */
	static __u8 f16[FRAME_ROOM], f12[FRAME_ROOM], text[256];
	struct fspec p = { .s = s, .spi = 0x1234, .seq = 77, .esp_off = ETH_LEN,
			   .text_len = 200, .op = IPSECIF_ENG_SEAL };
	struct ipsecif_eng_trailer t;
	__u8 key[36], akey[32], iv[8];
	size_t n16, n12;

	test_begin("aes-gcm with a 12-byte ICV: the 16-byte tag's first 12 bytes");
	rnd(key, sizeof(key));
	rnd(akey, sizeof(akey));
	rnd(text, sizeof(text));
	rnd(iv, sizeof(iv));
	p.id = next_id++;
	table_write(p.id, s, key, akey, 16);
	n16 = frame_build(f16, &p, iv, text, NULL);
	CHECK(!engcipher_frame(ec, f16, n16) && frame_op(f16, n16) == IPSECIF_ENG_SEALED,
	      "16-byte seal");
	table_write(p.id, s, key, akey, 12);
	n12 = frame_build(f12, &p, iv, text, NULL);
	/* frame_build gives 16 bytes of ICV: take 4 off, trailer and all. */
	memcpy(&t, f12 + n12 - sizeof(t), sizeof(t));
	t.icv_len = 12;
	memcpy(f12 + n12 - sizeof(t) - 4, &t, sizeof(t));
	n12 -= 4;
	CHECK(!engcipher_frame(ec, f12, n12) && frame_op(f12, n12) == IPSECIF_ENG_SEALED,
	      "12-byte seal");
	CHECK(!memcmp(f12, f16, ETH_LEN + 16 + 200 + 12), "not the prefix");
	t.op = IPSECIF_ENG_OPEN;
	memcpy(f12 + n12 - sizeof(t), &t, sizeof(t));
	CHECK(!engcipher_frame(ec, f12, n12) && frame_op(f12, n12) == IPSECIF_ENG_OPENED &&
	      !memcmp(f12 + ETH_LEN + 16, text, 200), "12-byte open");
	table_write(p.id, NULL, NULL, NULL, 0);
	test_end();
}

/* Seal 64 bytes of text with key id: the frame's op, the sealed bytes at out. */
static __u8 seal64(const struct ctest_suite *s, __u32 id, const __u8 *text, const __u8 *iv,
		   __u8 *out)
{
	static __u8 f[FRAME_ROOM];
	struct fspec p = { .s = s, .id = id, .spi = 0x4242, .seq = 1000, .esp_off = ETH_LEN,
			   .text_len = 64, .op = IPSECIF_ENG_SEAL };
	size_t flen = frame_build(f, &p, iv, text, NULL);

	if (engcipher_frame(ec, f, flen))
		return 0;
	memcpy(out, f + ETH_LEN + 8 + 8, 64 + 16);
	return frame_op(f, flen);
}

static void test_keys(void)
{
	const struct ctest_suite *s = &ctest_suites[0];	/* chacha20-poly1305 */
	__u8 key[36], akey[32], key2[36], text[64], iv[8], a[80], b[80], ref[80];
	size_t outlen;
	__u32 id, id2, freed;
	struct fspec p = { .s = s, .spi = 0x4242, .seq = 1000, .text_len = 64 };

	rnd(text, sizeof(text));
	rnd(iv, sizeof(iv));

	test_begin("a slot holding another id, or none: NO_KEY");
	id = next_id++;
	CHECK(seal64(s, id, text, iv, a) == IPSECIF_ENG_NO_KEY, "empty slot");
	rnd(key, sizeof(key));
	table_write(id, s, key, akey, 16);
	CHECK(seal64(s, id + IPSECIF_ENG_KEY_SLOTS, text, iv, a) == IPSECIF_ENG_NO_KEY,
	      "id + slots in id's slot");
	CHECK(seal64(s, 0, text, iv, a) == IPSECIF_ENG_NO_KEY, "id 0");
	CHECK(seal64(s, id, text, iv, a) == IPSECIF_ENG_SEALED, "the right id");
	table_write(id, NULL, NULL, NULL, 0);
	test_end();

	test_begin("an entry rewritten (lock moved, new key): contexts rebuilt, new key used");
	id = install(s, key, akey);
	id2 = install(s, key2, akey);
	CHECK(id && id2, "install");
	CHECK(seal64(s, id, text, iv, a) == IPSECIF_ENG_SEALED, "first seal");
	p.id = id;
	CHECK(!bpf_run(&p, IPSECIF_CTEST_SEAL, iv, text, ref, &outlen) && !memcmp(a, ref, 80),
	      "first key: not BPF's");
	/* Slot id now holds key2 (BPF has it as id2). */
	table_write(id, s, key2, akey, 16);
	CHECK(seal64(s, id, text, iv, b) == IPSECIF_ENG_SEALED, "second seal");
	p.id = id2;
	CHECK(!bpf_run(&p, IPSECIF_CTEST_SEAL, iv, text, ref, &outlen) && !memcmp(b, ref, 80),
	      "after the rewrite the old key still seals");
	CHECK(memcmp(a, b, 80), "same output from two keys");
	test_end();

	test_begin("the sweep frees contexts of entries changed or emptied, and no others");
	engcipher_sweep(ec);	/* what the cases before left */
	CHECK(engcipher_live(ec) == 1, "%d live contexts, want 1", engcipher_live(ec));
	CHECK(engcipher_sweep(ec) == 0, "swept an unchanged entry");
	table_write(id, NULL, NULL, NULL, 0);
	freed = engcipher_sweep(ec);
	CHECK(freed == 1, "swept %u, want 1", freed);
	CHECK(engcipher_live(ec) == 0, "%d contexts live", engcipher_live(ec));
	CHECK(seal64(s, id, text, iv, a) == IPSECIF_ENG_NO_KEY, "the emptied slot still seals");
	table_write(id, s, key, akey, 16);
	CHECK(seal64(s, id, text, iv, a) == IPSECIF_ENG_SEALED, "rewritten");
	table_write(id, s, key, akey, 16);	/* the same key again: the lock moved */
	CHECK(engcipher_sweep(ec) == 1, "a moved lock not swept");
	table_write(id, NULL, NULL, NULL, 0);
	ipsecif_key_remove(&kr, id);
	ipsecif_key_remove(&kr, id2);
	test_end();
}

/* A frame that ends where an unreadable page begins. */
static __u8 *guarded_end(__u8 *pages, size_t len)
{
	return pages + 2 * 4096 - len;
}

static void test_bad_frames(void)
{
	const struct ctest_suite *ss[] = { &ctest_suites[0], &ctest_suites[3], &ctest_suites[6] };
	static const struct {
		const char *what;
		int suite;	/* 0: chacha, 1: cbc + hmac-sha2-256, 2: cbc alone */
		size_t off;	/* field's offset in the trailer */
		size_t size;
		__u32 value;
	} cases[] = {
#define TOFF(f) offsetof(struct ipsecif_eng_trailer, f), sizeof(((struct ipsecif_eng_trailer *)0)->f)
		{ "bad magic", 0, TOFF(magic), 0x676e6568 },
		{ "esp_off past the frame", 0, TOFF(esp_off), 0xfff0 },
		{ "esp_off a byte too far", 0, TOFF(esp_off), ETH_LEN + 1 },
		{ "text_len past the frame", 0, TOFF(text_len), 0xffff },
		{ "text_len a byte too long", 0, TOFF(text_len), 101 },
		{ "icv_len 17", 0, TOFF(icv_len), 17 },
		{ "icv_len past the frame", 2, TOFF(icv_len), 16 },
		{ "aad_len 9", 0, TOFF(aad_len), 9 },
		{ "aad_len 255", 0, TOFF(aad_len), 255 },
		{ "op 9", 0, TOFF(op), 9 },
		{ "op SEALED (a frame already done)", 0, TOFF(op), IPSECIF_ENG_SEALED },
		{ "enc unknown", 0, TOFF(enc), 9 },
		{ "enc not the key's", 0, TOFF(enc), IPSECIF_ENC_AES_GCM16 },
		{ "icv_len not the key's", 0, TOFF(icv_len), 12 },
		{ "CBC text not whole blocks", 1, TOFF(text_len), 95 },
#undef TOFF
	};
	__u8 *pages, *f, key[36], akey[32], text[FRAME_ROOM] = {};
	struct ipsecif_eng_trailer t;
	char name[160];
	size_t i, flen;
	__u32 ids[3];

	pages = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	test_begin("bad frames: a guard page after the frame");
	CHECK(pages != MAP_FAILED && !mprotect(pages + 2 * 4096, 4096, PROT_NONE), "mmap");
	test_end();
	if (pages == MAP_FAILED)
		return;
	rnd(key, sizeof(key));
	rnd(akey, sizeof(akey));
	for (i = 0; i < 3; i++) {
		ids[i] = next_id++;
		table_write(ids[i], ss[i], key, akey, suite_icv(ss[i]));
	}

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ctest_suite *s = ss[cases[i].suite];
		struct fspec p = { .s = s, .id = ids[cases[i].suite], .spi = 1, .seq = 2,
				   .esp_off = ETH_LEN, .text_len = cases[i].suite ? 96 : 100,
				   .op = IPSECIF_ENG_SEAL };
		__u8 probe[FRAME_ROOM];
		__u32 v = cases[i].value;

		snprintf(name, sizeof(name), "bad frame: %s -> BAD_FRAME", cases[i].what);
		test_begin(name);
		flen = frame_build(probe, &p, NULL, text, NULL);
		f = guarded_end(pages, flen);
		memcpy(f, probe, flen);
		memcpy(&t, f + flen - sizeof(t), sizeof(t));
		if (cases[i].size == 1)
			((__u8 *)&t)[cases[i].off] = v;
		else if (cases[i].size == 2)
			memcpy((__u8 *)&t + cases[i].off, &(__u16){ v }, 2);
		else
			memcpy((__u8 *)&t + cases[i].off, &v, 4);
		memcpy(f + flen - sizeof(t), &t, sizeof(t));
		memcpy(probe, f, flen - sizeof(t));
		CHECK(!engcipher_frame(ec, f, flen), "returned an error");
		CHECK(frame_op(f, flen) == IPSECIF_ENG_BAD_FRAME, "op %u", frame_op(f, flen));
		CHECK(!memcmp(probe, f, flen - sizeof(t)), "the frame changed");
		test_end();
	}

	test_begin("bad frame: shorter than a trailer -> -EINVAL, nothing written");
	f = guarded_end(pages, sizeof(t) - 1);
	memset(f, 0x5a, sizeof(t) - 1);
	CHECK(engcipher_frame(ec, f, sizeof(t) - 1) == -EINVAL, "not -EINVAL");
	CHECK(f[0] == 0x5a && f[sizeof(t) - 2] == 0x5a, "written");
	CHECK(engcipher_frame(ec, f, 0) == -EINVAL, "empty frame");
	test_end();

	test_begin("a good frame ending at the guard page seals (nothing read past it)");
	{
		struct fspec p = { .s = ss[1], .id = ids[1], .spi = 1, .seq = 2, .esp_off = 0,
				   .text_len = 1504, .op = IPSECIF_ENG_SEAL, .esn = true };
		__u8 probe[FRAME_ROOM];

		flen = frame_build(probe, &p, NULL, text, NULL);
		f = guarded_end(pages, flen);
		memcpy(f, probe, flen);
		CHECK(!engcipher_frame(ec, f, flen) && frame_op(f, flen) == IPSECIF_ENG_SEALED,
		      "op %u", frame_op(f, flen));
	}
	test_end();
	for (i = 0; i < 3; i++)
		table_write(ids[i], NULL, NULL, NULL, 0);
	munmap(pages, 3 * 4096);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The same frame sealed over and over (its IV and text change nothing in the cost). */
static void bench(void)
{
	static const size_t lens[] = { 64, 1400 };
	static __u8 f[FRAME_ROOM], text[FRAME_ROOM];
	size_t i, j;

	printf("%-20s %6s %12s %12s %10s\n", "suite", "text", "engcipher ns", "frames/s", "BPF ns");
	for (i = 0; i < 2; i++) {
		const struct ctest_suite *s = &ctest_suites[i];
		__u8 key[36], akey[32], iv[16] = {};
		__u32 id = install(s, key, akey);

		for (j = 0; id && j < 2; j++) {
			struct fspec p = { .s = s, .id = id, .spi = 1, .seq = 1, .esp_off = ETH_LEN,
					   .text_len = lens[j], .op = IPSECIF_ENG_SEAL };
			size_t flen = frame_build(f, &p, iv, text, NULL);
			const size_t op = flen - sizeof(struct ipsecif_eng_trailer) +
					  offsetof(struct ipsecif_eng_trailer, op);
			int n = 200000, k;
			__u32 bpf_ns = 0;
			double t0, t1;

			t0 = now_s();
			for (k = 0; k < n; k++) {
				f[op] = IPSECIF_ENG_SEAL;
				engcipher_frame(ec, f, flen);
			}
			t1 = now_s();
			ctest_run_rep(ctest_fd, IPSECIF_CTEST_SEAL, id, f, 8, iv,
				      IPSECIF_CTEST_F_NOSTORE, 0, text, lens[j], NULL, NULL, 20000,
				      &bpf_ns);
			printf("%-20s %6zu %12.0f %12.0f %10u\n", s->name, lens[j],
			       (t1 - t0) * 1e9 / n, n / (t1 - t0), bpf_ns);
		}
		ipsecif_key_remove(&kr, id);
		table_write(id, NULL, NULL, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	bool do_bench = argc > 1 && !strcmp(argv[1], "--bench");

	if (argc > 1 && !do_bench) {
		fprintf(stderr, "usage: %s [--bench]\n", argv[0]);
		return 2;
	}
	srandom(time(NULL));

	test_begin("load BPF object and make the key table");
	skel = ipsecif__open_and_load();
	CHECK(skel, "ipsecif__open_and_load: %s", strerror(errno));
	table = calloc(IPSECIF_ENG_KEY_SLOTS, sizeof(*table));
	CHECK(table, "calloc");
	CHECK(!skel || !ipsecif_keyring_init(&kr, skel->obj), "keyring");
	CHECK(table && !engcipher_new(&ec, table), "engcipher_new");
	test_end();
	if (!skel || !ec)
		return test_summary();
	ctest_fd = bpf_program__fd(skel->progs.crypto_test);
	if (do_bench) {
		bench();
		engcipher_free(ec);
		ipsecif__destroy(skel);
		return 0;
	}

	test_suites();
	test_gcm_short_icv();
	test_keys();
	test_bad_frames();

	engcipher_free(ec);
	free(table);
	ipsecif__destroy(skel);
	return test_summary();
}
