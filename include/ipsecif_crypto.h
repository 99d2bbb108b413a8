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
 * Value of the key map (pinned as "keys"; never dumped for inspection).
 * Only derived material is stored: the AES key lives in the kernel's
 * crypto context, the HMAC key only as its two padded-key states.
 */
struct ipsecif_key {
	IPSECIF_KPTR(bpf_crypto_ctx, aes);	/* ecb(aes) for GCM, cbc(aes) for CBC */
	__u8 enc;				/* enum ipsecif_enc */
	__u8 auth;				/* enum ipsecif_auth */
	__u8 flags;				/* IPSECIF_KEY_F_* */
	__u8 icv_len;				/* bytes of ICV on the wire */
	__u8 salt[IPSECIF_SALT_LEN];		/* wire order */
	__u32 chacha_key[8];			/* little-endian words, RFC 8439 §2.3 */
	/*
	 * GHASH key H = AES_K(0^128) (GCM spec §2.3) as big-endian halves,
	 * with the Karatsuba middle term and the bit-reversed copies, each
	 * split in its four bit-interleaved parts (bpf/ghash.h): gh[4 j + m]
	 * for j = h_lo, h_hi, h_lo ^ h_hi, then rev64 of those three.
	 */
	__u64 gh[24];
	__u32 hmac_ist[8];			/* H(K ^ ipad) chaining state */
	__u32 hmac_ost[8];			/* H(K ^ opad) chaining state */
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
_Static_assert(sizeof(struct ipsecif_key) == 8 + 4 + 4 + 32 + 192 + 64, "ipsecif_key layout");
_Static_assert(sizeof(struct ipsecif_key_req) == 16 + 4 + 32 + 256, "ipsecif_key_req layout");
_Static_assert(sizeof(struct ipsecif_ctest) == 32 + 32 + 16, "ipsecif_ctest layout");
#endif

#endif /* IPSECIF_CRYPTO_H */
