/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Crypto structures shared by the BPF programs and user space.
 *
 * This is the one copy of each struct both sides use: the BPF objects and
 * the daemon include this header, so the layouts cannot drift.  Fields are
 * fixed width with explicit padding; byte order is given per field.
 */
#ifndef IPSECIF_CRYPTO_H
#define IPSECIF_CRYPTO_H

#include <linux/types.h>

/* Encryption transforms, numbered as in the daemon's tables. */
enum ipsecif_enc {
	IPSECIF_ENC_NONE = 0,
	IPSECIF_ENC_AES_CBC = 1,		/* RFC 3602 */
	IPSECIF_ENC_AES_GCM16 = 2,		/* RFC 4106, 16-byte ICV */
	IPSECIF_ENC_CHACHA20_POLY1305 = 3,	/* RFC 7634 */
	IPSECIF_ENC_MAX,
};

/* Integrity transforms for the non-AEAD suites. */
enum ipsecif_auth {
	IPSECIF_AUTH_NONE = 0,
	IPSECIF_AUTH_HMAC_SHA256_128 = 1,	/* RFC 4868 */
	IPSECIF_AUTH_HMAC_SHA1_96 = 2,		/* RFC 2404 */
	IPSECIF_AUTH_MAX,
};

#define IPSECIF_SALT_LEN	4	/* RFC 4106 §8.1, RFC 7634 §4 */
#define IPSECIF_AEAD_IV_LEN	8	/* RFC 4106 §3.1, RFC 7634 §2 */
#define IPSECIF_CBC_IV_LEN	16	/* RFC 3602 §2.1 */
#define IPSECIF_AEAD_ICV_LEN	16
#define IPSECIF_MAX_ICV_LEN	16
#define IPSECIF_MAX_ENC_KEY	32	/* without the salt */
#define IPSECIF_MAX_AUTH_KEY	256	/* HMAC takes any length (RFC 2104 §2) */
#define IPSECIF_MAX_AAD		32	/* ESP uses 8 or 12 (RFC 4303 §2.2.1) */

/*
 * Largest text (ESP payload + padding + trailer) the BPF crypto handles in
 * one packet: a 9000-byte jumbo frame's ESP payload fits.
 */
#define IPSECIF_MAX_TEXT	9216

/* struct ipsecif_key.flags */
#define IPSECIF_KEY_F_READY	0x01	/* derived material is complete */
#define IPSECIF_KEY_F_NO_AUTH	0x02	/* encryption-only: insecure (RFC 4303 §3.2) */

#ifdef __bpf__
#define IPSECIF_KPTR(type, name) struct type __attribute__((btf_type_tag("kptr"))) *name
#else
/* User space never touches the kernel pointer: it is just 8 bytes to it. */
#define IPSECIF_KPTR(type, name) __u64 name
#endif

/*
 * Value of the key map (pinned as "keys").  The AES key lives in the
 * kernel's crypto context.  What the data path needs besides is sealed
 * (bpf/wrap.h): the ChaCha20 key and the HMAC key's two padded-key states
 * are stored encrypted under the kernel-held wrap key, and opened per
 * packet onto the BPF stack.  GCM's GHASH key H = AES_K(0^128) is not
 * stored at all; each packet computes it.  A dump of the map shows no key.
 */
#define IPSECIF_WRAP_BLOCK	16	/* ecb(aes) block */
#define IPSECIF_WRAP_KEY_LEN	16	/* AES-128 wrap key, random per map set */

/* Tweak block numbers of the sealed fields (bpf/wrap.h). */
#define IPSECIF_SEAL_CHACHA	0	/* blocks 0, 1 */
#define IPSECIF_SEAL_HMAC_IST	2	/* blocks 2, 3 */
#define IPSECIF_SEAL_HMAC_OST	4	/* blocks 4, 5 */

struct ipsecif_key {
	IPSECIF_KPTR(bpf_crypto_ctx, aes);	/* ecb(aes) for GCM, cbc(aes) for CBC */
	__u8 enc;				/* enum ipsecif_enc */
	__u8 auth;				/* enum ipsecif_auth */
	__u8 flags;				/* IPSECIF_KEY_F_* */
	__u8 icv_len;				/* bytes of ICV on the wire */
	__u8 salt[IPSECIF_SALT_LEN];		/* wire order */
	__u32 id;				/* its own slot: the seal's tweak */
	__u32 pad0;
	__u8 chacha_key[32];			/* sealed; open: LE words, RFC 8439 §2.3 */
	__u8 hmac_ist[32];			/* sealed H(K ^ ipad) chaining state */
	__u8 hmac_ost[32];			/* sealed H(K ^ opad) chaining state */
};

/* Value of the one-entry wrap map: the sealing key, held by the kernel. */
struct ipsecif_wrap {
	IPSECIF_KPTR(bpf_crypto_ctx, aes);	/* ecb(aes) */
};

/*
 * Value of the key_cache map (bpf/wrap.h), slot id % IPSECIF_KEY_CACHE_SLOTS:
 * the opened material of key id, in an object user space cannot read.
 * Private to one agent load, never pinned; the agent clears a key's slot
 * when it removes the key.
 */
#define IPSECIF_KEY_CACHE_SLOTS	16384	/* a power of two */

struct ipsecif_key_cache {
	IPSECIF_KPTR(key_plain, p);
	__u32 id;				/* p's key slot */
	__u32 pad;
};

/*
 * Context of the key-install SEC("syscall") program.  Filled by user space,
 * checked again by the program; err comes back with -errno.
 */
struct ipsecif_key_req {
	__u32 id;				/* key map slot, host order */
	__u8 enc;
	__u8 auth;
	__u8 enc_key_len;			/* AES or ChaCha key, without salt */
	__u8 pad0;
	__u16 auth_key_len;
	__u16 pad1;
	__s32 err;				/* out: 0 or -errno */
	__u8 salt[IPSECIF_SALT_LEN];
	__u8 enc_key[IPSECIF_MAX_ENC_KEY];
	__u8 auth_key[IPSECIF_MAX_AUTH_KEY];
	/* Random; makes the wrap key if the wrap map has none yet. */
	__u8 wrap_key[IPSECIF_WRAP_KEY_LEN];
};

/*
 * Frame of the key_derive XDP program (run by BPF_PROG_TEST_RUN): the
 * second install step, which seals the material the data path opens per
 * packet.  The cipher kfuncs are offered to XDP, not to syscall programs.
 */
struct ipsecif_key_derive {
	__u32 id;				/* key map slot */
	__s32 err;				/* out: 0 or -errno */
	__u16 auth_key_len;
	__u16 pad0;
	__u32 pad1;
	__u8 enc_key[IPSECIF_MAX_ENC_KEY];
	__u8 auth_key[IPSECIF_MAX_AUTH_KEY];
};

/* Operations of the crypto self-test program (crypto_test). */
enum ipsecif_ctest_op {
	IPSECIF_CTEST_SEAL = 1,		/* encrypt + ICV */
	IPSECIF_CTEST_OPEN = 2,		/* verify ICV + decrypt */
	IPSECIF_CTEST_MAC = 3,		/* full HMAC digest of the text */
	IPSECIF_CTEST_KEYSTREAM = 4,	/* GCM: counter blocks through AES only */
};

#define IPSECIF_CTEST_F_ESN	0x1	/* append seq_hi to the HMAC input */
#define IPSECIF_CTEST_F_NOSTORE	0x2	/* leave the packet as it was (benchmarks) */

/*
 * Test packet: this header, then len bytes of text, then room for the ICV
 * (open: the ICV itself).  For CBC+HMAC the first 8 AAD bytes play SPI and
 * sequence number, authenticated in front of the IV as in RFC 4303 §2.
 */
struct ipsecif_ctest {
	__u32 op;			/* enum ipsecif_ctest_op */
	__u32 key_id;
	__u32 len;
	__u32 aad_len;
	__u32 flags;			/* IPSECIF_CTEST_F_* */
	__u32 seq_hi;			/* host order; ESN high half (RFC 4303 §2.2.1) */
	__s32 status;			/* out: 0 or -errno */
	__u32 out_len;			/* out: bytes of output behind the header */
	__u8 aad[IPSECIF_MAX_AAD];
	__u8 iv[IPSECIF_CBC_IV_LEN];	/* AEAD: first 8 bytes */
};

#ifndef __bpf__
_Static_assert(sizeof(struct ipsecif_key) == 8 + 4 + 4 + 8 + 3 * 32, "ipsecif_key layout");
_Static_assert(sizeof(struct ipsecif_key_req) == 16 + 4 + 32 + 256 + 16, "ipsecif_key_req layout");
_Static_assert(sizeof(struct ipsecif_key_derive) == 16 + 32 + 256, "ipsecif_key_derive layout");
_Static_assert(sizeof(struct ipsecif_ctest) == 32 + 32 + 16, "ipsecif_ctest layout");
_Static_assert(sizeof(struct ipsecif_key_cache) == 16, "ipsecif_key_cache layout");
#endif

#endif /* IPSECIF_CRYPTO_H */
