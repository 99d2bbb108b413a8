/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel types and kfuncs the programs use that no UAPI header declares.
 * Kept to the few we need instead of a full vmlinux.h.
 */
#ifndef IPSECIF_KFUNCS_H
#define IPSECIF_KFUNCS_H

#include <linux/types.h>

/*
 * The crypto context is opaque to us; the kptr needs a struct of this name
 * so the verifier can match it with the kernel's BTF.
 */
struct bpf_crypto_ctx {
};

/* kernel/bpf/crypto.c, stable since 6.10 */
struct bpf_crypto_params {
	char type[14];
	__u8 reserved[2];
	char algo[128];
	__u8 key[256];
	__u32 key_len;
	__u32 authsize;
};

extern struct bpf_crypto_ctx *
bpf_crypto_ctx_create(const struct bpf_crypto_params *params, __u32 params__sz,
		      int *err) __ksym;
extern void bpf_crypto_ctx_release(struct bpf_crypto_ctx *ctx) __ksym;
extern int bpf_crypto_encrypt(struct bpf_crypto_ctx *ctx,
			      const struct bpf_dynptr *src,
			      const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv__nullable) __ksym;
extern int bpf_crypto_decrypt(struct bpf_crypto_ctx *ctx,
			      const struct bpf_dynptr *src,
			      const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv__nullable) __ksym;

/*
 * A reference count in an object of the program's own type: its kptr in a
 * map is then read under RCU, and the object freed only after a grace
 * period (kernel/bpf/helpers.c).
 */
struct bpf_refcount {
	__u32 __opaque[1];
} __attribute__((aligned(4)));

/* Objects of the program's own types (kernel/bpf/helpers.c). */
extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
#define bpf_obj_new(type) \
	((type *)bpf_obj_new_impl(__builtin_btf_type_id(*(type *)0, 0 /* BPF_TYPE_ID_LOCAL */), NULL))
#define bpf_obj_drop(kptr) bpf_obj_drop_impl(kptr, NULL)

#endif /* IPSECIF_KFUNCS_H */
