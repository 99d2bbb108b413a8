/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Installing and removing SA keys in the BPF key map.
 *
 * Shaped like strongSwan's kernel_ipsec_t: a parameter struct with one
 * documented field per line, so adding a field never changes a signature.
 */
#ifndef IPSECIF_KEYS_H
#define IPSECIF_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "ipsecif_crypto.h"

/* The programs and maps a key install needs (from the loaded object). */
struct ipsecif_keyring {
	int install_fd;		/* SEC("syscall") key_install */
	int derive_fd;		/* SEC("xdp") key_derive */
	int keys_fd;		/* the key map */
	int cache_fd;		/* the opened keys' cache (bpf/wrap.h) */
};

struct bpf_object;

/* The keyring of a loaded ipsecif BPF object: 0, or -ENOENT if it lacks a part. */
int ipsecif_keyring_init(struct ipsecif_keyring *kr, const struct bpf_object *obj);

struct ipsecif_key_params {
	enum ipsecif_enc enc;		/* encryption transform */
	enum ipsecif_auth auth;		/* IPSECIF_AUTH_NONE for AEAD */
	const __u8 *enc_key;		/* AEAD: key then 4-byte salt (setkey's form) */
	size_t enc_key_len;
	const __u8 *auth_key;		/* HMAC key, NULL for none */
	size_t auth_key_len;
	bool allow_no_auth;		/* accept encryption-only CBC (insecure) */
};

/* Transform names as FreeBSD's setkey(8) spells them. */
const char *ipsecif_enc_name(enum ipsecif_enc enc);
const char *ipsecif_auth_name(enum ipsecif_auth auth);

/*
 * Check p against the ESP rules (RFC 3602, 4106, 4868, 2404, 7634).
 * Returns 0 or -EINVAL with a message naming the problem in err.
 */
int ipsecif_key_check(const struct ipsecif_key_params *p, char *err, size_t errlen);

/* True for encryption without integrity (RFC 4303 §3.2 says: do not). */
bool ipsecif_key_insecure(const struct ipsecif_key_params *p);

/*
 * Install key slot id.  Checks p first; on any error nothing is left in
 * the map.  Returns 0 or -errno, with a message in err.
 */
int ipsecif_key_install(const struct ipsecif_keyring *kr, __u32 id,
			const struct ipsecif_key_params *p, char *err, size_t errlen);

/*
 * Install from a raw request, with only the BPF side's structural checks
 * (used for test vectors whose key sizes ESP would not allow).
 */
int ipsecif_key_load(const struct ipsecif_keyring *kr, struct ipsecif_key_req *req,
		     char *err, size_t errlen);

/*
 * Remove key slot id; the kernel frees its crypto context, and its opened
 * material goes from the cache.  0 or -errno.
 */
int ipsecif_key_remove(const struct ipsecif_keyring *kr, __u32 id);

#endif /* IPSECIF_KEYS_H */
