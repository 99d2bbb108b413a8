// SPDX-License-Identifier: GPL-2.0-only
/*
 * The engine's cipher (engcipher.h): ESP's transforms over one frame, in
 * place, with OpenSSL.  What BPF does in bpf/crypto.h and bpf/esp_out.h,
 * byte for byte:
 *   ChaCha20-Poly1305	RFC 7634: nonce = salt | IV, AAD = the trailer's
 *   AES-GCM		RFC 4106: likewise, ICV icv_len bytes (a prefix of the tag)
 *   AES-CBC		RFC 3602, IV = AES-ECB_K(be64(seq) | "secif iv") on seal,
 *			then HMAC-SHA-256-128 (RFC 4868) or HMAC-SHA1-96
 *			(RFC 2404) over ESP header | IV | ciphertext [| seq high],
 *			or no ICV at all
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "engcipher.h"

_Static_assert((IPSECIF_ENG_KEY_SLOTS & (IPSECIF_ENG_KEY_SLOTS - 1)) == 0,
	       "the slot is id % IPSECIF_ENG_KEY_SLOTS: a power of two");

#define ESP_HDR_LEN	8	/* SPI | sequence number (RFC 4303 §2) */
#define SEQLOCK_TRIES	1000	/* a writer never holds an entry that long */

/* The contexts made from one table entry, as it was when read. */
struct eng_slot {
	__u32 id;			/* 0: none */
	__u32 lock;			/* the entry's lock value then */
	__u8 enc;
	__u8 auth;
	__u8 icv_len;
	__u8 salt[IPSECIF_SALT_LEN];
	EVP_CIPHER_CTX *c[2];		/* [0] seals, [1] opens: key set, no IV */
	EVP_MAC_CTX *mac;		/* HMAC with the key set; reinitialised per packet */
};

struct engcipher {
	const struct ipsecif_eng_key *keys;
	EVP_MAC *hmac;
	int live;
	struct eng_slot slots[IPSECIF_ENG_KEY_SLOTS];
};

int engcipher_new(struct engcipher **ecp, const struct ipsecif_eng_key *keys)
{
	struct engcipher *ec;

	*ecp = NULL;
	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	ec->hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (!ec->hmac) {
		free(ec);
		return -ENOMEM;
	}
	ec->keys = keys;
	*ecp = ec;
	return 0;
}

/* EVP_CIPHER_CTX_free and EVP_MAC_CTX_free cleanse the key schedules. */
static void slot_free(struct engcipher *ec, struct eng_slot *s)
{
	if (!s->id && !s->c[0] && !s->c[1] && !s->mac)
		return;
	EVP_MAC_CTX_free(s->mac);
	EVP_CIPHER_CTX_free(s->c[1]);
	EVP_CIPHER_CTX_free(s->c[0]);
	if (s->id)
		ec->live--;
	OPENSSL_cleanse(s, sizeof(*s));
}

void engcipher_free(struct engcipher *ec)
{
	size_t i;

	if (!ec)
		return;
	for (i = 0; i < IPSECIF_ENG_KEY_SLOTS; i++)
		slot_free(ec, &ec->slots[i]);
	EVP_MAC_free(ec->hmac);
	free(ec);
}

int engcipher_live(const struct engcipher *ec)
{
	return ec->live;
}

static __u32 lock_load(const struct ipsecif_eng_key *e)
{
	return __atomic_load_n(&e->lock, __ATOMIC_ACQUIRE);
}

/*
 * A consistent copy of entry e: read while its lock is even and the same
 * before and after.  -EAGAIN if a writer held it throughout.
 */
static int entry_read(const struct ipsecif_eng_key *e, struct ipsecif_eng_key *out)
{
	__u32 before;
	int i;

	for (i = 0; i < SEQLOCK_TRIES; i++) {
		before = lock_load(e);
		if (!(before & 1)) {
			memcpy(out, (const void *)e, sizeof(*out));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&e->lock, __ATOMIC_RELAXED) == before) {
				out->lock = before;
				return 0;
			}
		}
		__builtin_ia32_pause();
	}
	return -EAGAIN;
}

/* The cipher for a table entry, or NULL for one this engine cannot use. */
static const EVP_CIPHER *entry_cipher(const struct ipsecif_eng_key *k)
{
	switch (k->enc) {
	case IPSECIF_ENC_CHACHA20_POLY1305:
		if (k->auth || k->enc_key_len != 32 || k->icv_len != IPSECIF_AEAD_ICV_LEN)
			return NULL;
		return EVP_chacha20_poly1305();
	case IPSECIF_ENC_AES_GCM16:
		/* RFC 4106 §8.1: ICVs of 8, 12 or 16 bytes */
		if (k->auth || (k->icv_len != 8 && k->icv_len != 12 && k->icv_len != 16))
			return NULL;
		return k->enc_key_len == 16 ? EVP_aes_128_gcm() :
		       k->enc_key_len == 24 ? EVP_aes_192_gcm() :
		       k->enc_key_len == 32 ? EVP_aes_256_gcm() : NULL;
	case IPSECIF_ENC_AES_CBC:
		switch (k->auth) {
		case IPSECIF_AUTH_NONE:
			if (k->icv_len != 0)
				return NULL;
			break;
		case IPSECIF_AUTH_HMAC_SHA256_128:
			if (k->icv_len != 16)
				return NULL;
			break;
		case IPSECIF_AUTH_HMAC_SHA1_96:
			if (k->icv_len != 12)
				return NULL;
			break;
		default:
			return NULL;
		}
		if (k->auth && (!k->auth_key_len || k->auth_key_len > sizeof(k->auth_key)))
			return NULL;
		return k->enc_key_len == 16 ? EVP_aes_128_cbc() :
		       k->enc_key_len == 24 ? EVP_aes_192_cbc() :
		       k->enc_key_len == 32 ? EVP_aes_256_cbc() : NULL;
	}
	return NULL;
}

/* Make s's contexts from k (a local copy of the entry).  0 or -errno. */
static int slot_build(struct engcipher *ec, struct eng_slot *s, const struct ipsecif_eng_key *k)
{
	const EVP_CIPHER *cipher = entry_cipher(k);
	OSSL_PARAM params[2];
	int dir, err = -ENOMEM;

	if (!cipher)
		return -ENOKEY;
	for (dir = 0; dir < 2; dir++) {
		s->c[dir] = EVP_CIPHER_CTX_new();
		if (!s->c[dir])
			goto fail;
		err = -EIO;
		if (!EVP_CipherInit_ex(s->c[dir], cipher, NULL, k->enc_key, NULL, dir == 0))
			goto fail;
		/* ESP pads the text itself (RFC 4303 §2.4). */
		if (k->enc == IPSECIF_ENC_AES_CBC && !EVP_CIPHER_CTX_set_padding(s->c[dir], 0))
			goto fail;
		err = -ENOMEM;
	}
	if (k->auth) {
		s->mac = EVP_MAC_CTX_new(ec->hmac);
		if (!s->mac)
			goto fail;
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
			k->auth == IPSECIF_AUTH_HMAC_SHA1_96 ? (char *)"SHA1" : (char *)"SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		err = -EIO;
		if (!EVP_MAC_init(s->mac, k->auth_key, k->auth_key_len, params))
			goto fail;
	}
	s->id = k->id;
	s->lock = k->lock;
	s->enc = k->enc;
	s->auth = k->auth;
	s->icv_len = k->icv_len;
	memcpy(s->salt, k->salt, sizeof(s->salt));
	ec->live++;
	return 0;
fail:
	slot_free(ec, s);
	return err;
}

/*
 * The contexts for key id: the slot's if made from the entry as it is
 * now, else made anew.  NULL with *err: -ENOKEY (no such key, or one the
 * engine cannot use), -EAGAIN (held by a writer), -ENOMEM, -EIO.
 */
static struct eng_slot *slot_get(struct engcipher *ec, __u32 id, int *err)
{
	__u32 i = id & (IPSECIF_ENG_KEY_SLOTS - 1);
	const struct ipsecif_eng_key *e = &ec->keys[i];
	struct eng_slot *s = &ec->slots[i];
	struct ipsecif_eng_key k;

	if (s->id && s->id == id && s->lock == lock_load(e))
		return s;
	*err = -ENOKEY;
	if (!id)
		return NULL;
	slot_free(ec, s);
	*err = entry_read(e, &k);
	if (!*err && k.id != id)
		*err = -ENOKEY;
	if (!*err)
		*err = slot_build(ec, s, &k);
	OPENSSL_cleanse(&k, sizeof(k));
	return *err ? NULL : s;
}

int engcipher_sweep(struct engcipher *ec)
{
	int n = 0;
	size_t i;

	for (i = 0; i < IPSECIF_ENG_KEY_SLOTS; i++) {
		struct eng_slot *s = &ec->slots[i];
		const struct ipsecif_eng_key *e = &ec->keys[i];

		if (!s->id)
			continue;
		if (lock_load(e) == s->lock && __atomic_load_n(&e->id, __ATOMIC_RELAXED) == s->id)
			continue;
		slot_free(ec, s);
		n++;
	}
	return n;
}

/* Where the parts of the ESP packet are, once the trailer checked out. */
struct esp_view {
	__u8 *hdr;		/* SPI | sequence number */
	__u8 *iv;
	__u8 *text;
	__u8 *icv;
	size_t text_len;
	size_t icv_len;
};

/*
 * AEAD over the text, in place.  Open decrypts as it goes and OpenSSL
 * checks the tag at the end; if it fails, a second pass of the same
 * keystream (both are stream ciphers) gives the text back as it came.
 */
static int aead_crypt(struct eng_slot *s, const struct ipsecif_eng_trailer *t,
		      const struct esp_view *v, bool open)
{
	EVP_CIPHER_CTX *c = s->c[open];
	__u8 nonce[IPSECIF_SALT_LEN + IPSECIF_AEAD_IV_LEN], fin[16];
	int n, ok;

	/* RFC 4106 §4, RFC 7634 §2: nonce = salt | IV */
	memcpy(nonce, s->salt, IPSECIF_SALT_LEN);
	memcpy(nonce + IPSECIF_SALT_LEN, v->iv, IPSECIF_AEAD_IV_LEN);
	if (!EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, -1) ||
	    !EVP_CipherUpdate(c, NULL, &n, t->aad, t->aad_len))
		return -EIO;
	if (open && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, v->icv_len, v->icv))
		return -EIO;
	if (v->text_len && !EVP_CipherUpdate(c, v->text, &n, v->text, v->text_len))
		return -EIO;
	ok = EVP_CipherFinal_ex(c, fin, &n);
	if (!open) {
		if (!ok || !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, v->icv_len, v->icv))
			return -EIO;
		return IPSECIF_ENG_SEALED;
	}
	if (ok)
		return IPSECIF_ENG_OPENED;
	if (!EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, -1) ||
	    (v->text_len && !EVP_CipherUpdate(c, v->text, &n, v->text, v->text_len)))
		return -EIO;
	return IPSECIF_ENG_BAD_ICV;
}

/* HMAC over ESP header | IV | text, then with ESN the high half (RFC 4303 §2.2.1). */
static int cbc_hmac(struct eng_slot *s, const struct ipsecif_eng_trailer *t,
		    const struct esp_view *v, __u8 *md, size_t mdroom)
{
	__u32 hi = htobe32((__u32)(t->seq >> 32));
	size_t mdlen;

	if (!EVP_MAC_init(s->mac, NULL, 0, NULL) ||
	    !EVP_MAC_update(s->mac, v->hdr, ESP_HDR_LEN + IPSECIF_CBC_IV_LEN + v->text_len) ||
	    (t->aad_len == 12 && !EVP_MAC_update(s->mac, (const __u8 *)&hi, sizeof(hi))) ||
	    !EVP_MAC_final(s->mac, md, &mdlen, mdroom) || mdlen < v->icv_len)
		return -EIO;
	return 0;
}

static int cbc_crypt(struct eng_slot *s, const struct ipsecif_eng_trailer *t,
		     const struct esp_view *v, bool open)
{
	EVP_CIPHER_CTX *c = s->c[open];
	__u8 md[EVP_MAX_MD_SIZE], blk[16];
	static const __u8 zero[16];
	__u64 seq = htobe64(t->seq);
	int n, err;

	if (open && s->auth) {
		err = cbc_hmac(s, t, v, md, sizeof(md));
		if (err)
			return err;
		if (CRYPTO_memcmp(md, v->icv, v->icv_len))
			return IPSECIF_ENG_BAD_ICV;
	}
	if (!open) {
		/* bpf/esp_out.h cbc_iv: unpredictable, never repeated with the key */
		memcpy(blk, &seq, 8);
		memcpy(blk + 8, "secif iv", 8);
		if (!EVP_CipherInit_ex(c, NULL, NULL, NULL, zero, -1) ||
		    !EVP_CipherUpdate(c, v->iv, &n, blk, sizeof(blk)))
			return -EIO;
	}
	if (!EVP_CipherInit_ex(c, NULL, NULL, NULL, v->iv, -1) ||
	    (v->text_len && !EVP_CipherUpdate(c, v->text, &n, v->text, v->text_len)))
		return -EIO;
	if (open)
		return IPSECIF_ENG_OPENED;
	if (s->auth) {
		err = cbc_hmac(s, t, v, md, sizeof(md));
		if (err)
			return err;
		memcpy(v->icv, md, v->icv_len);
	}
	return IPSECIF_ENG_SEALED;
}

/* The ESP packet's parts, or false for a trailer the frame cannot hold. */
static bool frame_view(const struct ipsecif_eng_trailer *t, __u8 *frame, size_t body,
		       struct esp_view *v)
{
	size_t ivlen, end;

	if (t->magic != IPSECIF_ENG_MAGIC)
		return false;
	if (t->op != IPSECIF_ENG_SEAL && t->op != IPSECIF_ENG_OPEN)
		return false;
	if (t->aad_len != 8 && t->aad_len != 12)
		return false;
	if (t->icv_len > IPSECIF_MAX_ICV_LEN)
		return false;
	switch (t->enc) {
	case IPSECIF_ENC_CHACHA20_POLY1305:
	case IPSECIF_ENC_AES_GCM16:
		ivlen = IPSECIF_AEAD_IV_LEN;
		break;
	case IPSECIF_ENC_AES_CBC:
		/* Whole blocks (RFC 3602 §2.4), as BPF's cbc_crypt asks */
		if (t->text_len % 16)
			return false;
		ivlen = IPSECIF_CBC_IV_LEN;
		break;
	default:
		return false;
	}
	/* Fields of 16 bits and less: no overflow in size_t. */
	end = (size_t)t->esp_off + ESP_HDR_LEN + ivlen + t->text_len + t->icv_len;
	if (end > body)
		return false;
	v->hdr = frame + t->esp_off;
	v->iv = v->hdr + ESP_HDR_LEN;
	v->text = v->iv + ivlen;
	v->text_len = t->text_len;
	v->icv = v->text + t->text_len;
	v->icv_len = t->icv_len;
	return true;
}

/* The trailer may sit at any alignment: it is copied out, and op written back alone. */
static void set_op(__u8 *tp, __u8 op)
{
	tp[offsetof(struct ipsecif_eng_trailer, op)] = op;
}

int engcipher_frame(struct engcipher *ec, void *frame, size_t len)
{
	struct ipsecif_eng_trailer t;
	struct eng_slot *s;
	struct esp_view v;
	__u8 *tp;
	int ret, err = 0;

	if (len < sizeof(t))
		return -EINVAL;
	tp = (__u8 *)frame + len - sizeof(t);
	memcpy(&t, tp, sizeof(t));

	if (!frame_view(&t, frame, len - sizeof(t), &v)) {
		set_op(tp, IPSECIF_ENG_BAD_FRAME);
		return 0;
	}
	s = slot_get(ec, t.key_id, &err);
	if (!s) {
		set_op(tp, IPSECIF_ENG_NO_KEY);
		return err == -ENOMEM || err == -EIO ? err : 0;
	}
	/* BPF's key and ours must agree on the transform. */
	if (s->enc != t.enc || s->icv_len != t.icv_len) {
		set_op(tp, IPSECIF_ENG_BAD_FRAME);
		return 0;
	}
	if (s->enc == IPSECIF_ENC_AES_CBC)
		ret = cbc_crypt(s, &t, &v, t.op == IPSECIF_ENG_OPEN);
	else
		ret = aead_crypt(s, &t, &v, t.op == IPSECIF_ENG_OPEN);
	if (ret < 0) {
		set_op(tp, IPSECIF_ENG_NO_KEY);
		return ret;
	}
	set_op(tp, ret);
	return 0;
}
