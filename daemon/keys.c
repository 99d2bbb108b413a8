// SPDX-License-Identifier: GPL-2.0-only
/* Key installation: ESP rules checked here, derivation done in BPF. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "errmsg.h"
#include "ipsecif.h"
#include "keys.h"

static const char *const enc_names[IPSECIF_ENC_MAX] = {
	[IPSECIF_ENC_NONE] = "none",
	[IPSECIF_ENC_AES_CBC] = "aes-cbc",
	[IPSECIF_ENC_AES_GCM16] = "aes-gcm-16",
	[IPSECIF_ENC_CHACHA20_POLY1305] = "chacha20-poly1305",
};

static const char *const auth_names[IPSECIF_AUTH_MAX] = {
	[IPSECIF_AUTH_NONE] = "none",
	[IPSECIF_AUTH_HMAC_SHA256_128] = "hmac-sha2-256",
	[IPSECIF_AUTH_HMAC_SHA1_96] = "hmac-sha1",
};

const char *ipsecif_enc_name(enum ipsecif_enc enc)
{
	return (unsigned int)enc < IPSECIF_ENC_MAX ? enc_names[enc] : "unknown";
}

const char *ipsecif_auth_name(enum ipsecif_auth auth)
{
	return (unsigned int)auth < IPSECIF_AUTH_MAX ? auth_names[auth] : "unknown";
}

static bool is_aead(enum ipsecif_enc enc)
{
	return enc == IPSECIF_ENC_AES_GCM16 || enc == IPSECIF_ENC_CHACHA20_POLY1305;
}

bool ipsecif_key_insecure(const struct ipsecif_key_params *p)
{
	return p->enc == IPSECIF_ENC_AES_CBC && p->auth == IPSECIF_AUTH_NONE;
}

int ipsecif_key_check(const struct ipsecif_key_params *p, char *err, size_t errlen)
{
	size_t n = p->enc_key_len;

	if (!p->enc_key && n)
		return errmsg(err, errlen, -EINVAL, "encryption key missing");
	switch (p->enc) {
	case IPSECIF_ENC_CHACHA20_POLY1305:
		/* RFC 7634 §4: 256-bit key plus 32-bit salt */
		if (n != 36)
			return errmsg(err, errlen, -EINVAL,
				    "chacha20-poly1305 key must be 36 bytes (32-byte key + 4-byte salt), got %zu",
				    n);
		break;
	case IPSECIF_ENC_AES_GCM16:
		/* RFC 4106 §8.1: AES key plus 32-bit salt */
		if (n != 20 && n != 28 && n != 36)
			return errmsg(err, errlen, -EINVAL,
				    "aes-gcm-16 key must be 20, 28 or 36 bytes (AES-128/192/256 key + 4-byte salt), got %zu",
				    n);
		break;
	case IPSECIF_ENC_AES_CBC:
		/* RFC 3602 §2.2: 128, 192 or 256 bits */
		if (n != 16 && n != 24 && n != 32)
			return errmsg(err, errlen, -EINVAL,
				    "aes-cbc key must be 16, 24 or 32 bytes, got %zu", n);
		break;
	default:
		return errmsg(err, errlen, -EINVAL, "unknown encryption algorithm %d", (int)p->enc);
	}

	switch (p->auth) {
	case IPSECIF_AUTH_NONE:
		if (p->auth_key_len)
			return errmsg(err, errlen, -EINVAL,
				    "authentication key given without an authentication algorithm");
		if (p->enc == IPSECIF_ENC_AES_CBC && !p->allow_no_auth)
			return errmsg(err, errlen, -EINVAL,
				    "aes-cbc requires an authentication algorithm (encryption-only ESP is insecure, RFC 4303 §3.2)");
		return 0;
	case IPSECIF_AUTH_HMAC_SHA256_128:
	case IPSECIF_AUTH_HMAC_SHA1_96:
		break;
	default:
		return errmsg(err, errlen, -EINVAL, "unknown authentication algorithm %d",
			    (int)p->auth);
	}

	if (is_aead(p->enc))
		return errmsg(err, errlen, -EINVAL,
			    "%s is an AEAD and takes no separate authentication algorithm",
			    ipsecif_enc_name(p->enc));
	if (!p->auth_key || !p->auth_key_len)
		return errmsg(err, errlen, -EINVAL, "%s requires an authentication key",
			    ipsecif_auth_name(p->auth));
	/* RFC 4868 §2.1.1: the key is 256 bits; RFC 2404 §3: 160 bits. */
	if (p->auth == IPSECIF_AUTH_HMAC_SHA256_128 && p->auth_key_len != 32)
		return errmsg(err, errlen, -EINVAL,
			    "hmac-sha2-256 key must be 32 bytes, got %zu", p->auth_key_len);
	if (p->auth == IPSECIF_AUTH_HMAC_SHA1_96 && p->auth_key_len != 20)
		return errmsg(err, errlen, -EINVAL,
			    "hmac-sha1 key must be 20 bytes, got %zu", p->auth_key_len);
	return 0;
}

/* Second step: key_derive seals what the data path opens per packet. */
static int key_derive(const struct ipsecif_keyring *kr, const struct ipsecif_key_req *req)
{
	struct ipsecif_key_derive pkt = { .id = req->id, .auth_key_len = req->auth_key_len };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = &pkt,
		    .data_size_in = sizeof(pkt),
		    .data_out = &pkt,
		    .data_size_out = sizeof(pkt));
	int ret;

	memcpy(pkt.enc_key, req->enc_key, sizeof(pkt.enc_key));
	memcpy(pkt.auth_key, req->auth_key, sizeof(pkt.auth_key));
	pkt.err = -EIO;
	ret = bpf_prog_test_run_opts(kr->derive_fd, &opts);
	if (ret)
		ret = -errno;
	else if (opts.retval != 2 /* XDP_PASS */)
		ret = -EIO;
	else
		ret = pkt.err;
	explicit_bzero(&pkt, sizeof(pkt));
	return ret;
}

/*
 * Key id's slot zeroed, if it is still id's: the kernel frees its AES
 * context with the old value (the keys map is an array: nothing is
 * deleted, a slot is free when its id is 0).  -ENOENT if not id's.
 */
static int key_slot_clear(const struct ipsecif_keyring *kr, __u32 id)
{
	__u32 slot = IPSECIF_SA_SLOT(id);
	struct ipsecif_key k;
	int ret = 0;

	if (bpf_map_lookup_elem(kr->keys_fd, &slot, &k))
		return -errno;
	if (k.id != id || !id) {
		ret = -ENOENT;
		goto out;
	}
	memset(&k, 0, sizeof(k));
	if (bpf_map_update_elem(kr->keys_fd, &slot, &k, BPF_ANY))
		ret = -errno;
out:
	explicit_bzero(&k, sizeof(k));	/* sealed, but key material all the same */
	return ret;
}

/* Whether the suite has material key_derive must seal. */
static bool key_sealed(const struct ipsecif_key_req *req)
{
	return req->enc == IPSECIF_ENC_CHACHA20_POLY1305 ||
	       (req->enc == IPSECIF_ENC_AES_CBC && req->auth != IPSECIF_AUTH_NONE);
}

int ipsecif_key_load(const struct ipsecif_keyring *kr, struct ipsecif_key_req *req,
		     char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .ctx_in = req,
		    .ctx_size_in = sizeof(*req));
	__u32 id = req->id;
	int ret;

	req->err = 0;
	/* Used once per map set, when the wrap map is still empty. */
	if (getrandom(req->wrap_key, sizeof(req->wrap_key), 0) != sizeof(req->wrap_key))
		return errmsg(err, errlen, -EIO, "key %u: no random bytes for the wrap key: %s",
			      id, strerror(errno));
	ret = bpf_prog_test_run_opts(kr->install_fd, &opts);
	explicit_bzero(req->wrap_key, sizeof(req->wrap_key));
	if (ret)
		return errmsg(err, errlen, -errno, "running key_install: %s", strerror(errno));
	/* The kernel copies the syscall program's context back into req. */
	if (req->err == -EEXIST)
		return errmsg(err, errlen, -EEXIST, "key %u: its slot %u holds another key", id,
			      IPSECIF_SA_SLOT(id));
	if (req->err)
		return errmsg(err, errlen, req->err, "key %u: %s", id, strerror(-req->err));
	if (!key_sealed(req))
		return 0;

	ret = key_derive(kr, req);
	if (ret) {
		key_slot_clear(kr, id);
		return errmsg(err, errlen, ret, "key %u: sealing the key: %s", id, strerror(-ret));
	}
	return 0;
}

int ipsecif_key_install(const struct ipsecif_keyring *kr, __u32 id,
			const struct ipsecif_key_params *p, char *err, size_t errlen)
{
	struct ipsecif_key_req req = { .id = id };
	size_t klen = p->enc_key_len;
	int ret;

	ret = ipsecif_key_check(p, err, errlen);
	if (ret)
		return ret;

	req.enc = p->enc;
	req.auth = p->auth;
	if (is_aead(p->enc)) {
		klen -= IPSECIF_SALT_LEN;
		memcpy(req.salt, p->enc_key + klen, IPSECIF_SALT_LEN);
	}
	req.enc_key_len = klen;
	memcpy(req.enc_key, p->enc_key, klen);
	req.auth_key_len = p->auth_key_len;
	if (p->auth_key_len)
		memcpy(req.auth_key, p->auth_key, p->auth_key_len);

	ret = ipsecif_key_load(kr, &req, err, errlen);
	explicit_bzero(&req, sizeof(req));
	return ret;
}

int ipsecif_keyring_init(struct ipsecif_keyring *kr, const struct bpf_object *obj)
{
	const struct bpf_program *install = bpf_object__find_program_by_name(obj, "key_install");
	const struct bpf_program *derive = bpf_object__find_program_by_name(obj, "key_derive");

	kr->install_fd = install ? bpf_program__fd(install) : -1;
	kr->derive_fd = derive ? bpf_program__fd(derive) : -1;
	kr->keys_fd = bpf_object__find_map_fd_by_name(obj, "keys");
	kr->cache_fd = bpf_object__find_map_fd_by_name(obj, "key_cache");
	if (kr->install_fd < 0 || kr->derive_fd < 0 || kr->keys_fd < 0 || kr->cache_fd < 0)
		return -ENOENT;
	return 0;
}

/*
 * The key first, so that no packet opens it again; then its cache slot,
 * if it is still this key's (a zeroed slot frees its object, after a
 * grace period: a packet reading it meanwhile still sees it whole).
 */
int ipsecif_key_remove(const struct ipsecif_keyring *kr, __u32 id)
{
	__u32 slot = id & (IPSECIF_KEY_CACHE_SLOTS - 1);
	struct ipsecif_key_cache c;
	int ret = key_slot_clear(kr, id);

	if (ret)
		return ret;
	if (!bpf_map_lookup_elem(kr->cache_fd, &slot, &c) && c.id == id) {
		memset(&c, 0, sizeof(c));
		bpf_map_update_elem(kr->cache_fd, &slot, &c, BPF_ANY);
	}
	return 0;
}
