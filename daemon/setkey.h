/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A parser for setkey(8) scripts, as FreeBSD's setkey spells them, for
 * the statements ipsecif carries out (SAs; policies belong to interfaces).
 * The whole script is parsed before anything is applied, so a script with
 * an error anywhere applies nothing; the error names the line, the token
 * and the reason.
 */
#ifndef IPSECIF_SETKEY_H
#define IPSECIF_SETKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "ipsecif.h"
#include "ipsecif_crypto.h"

enum setkey_op {
	SETKEY_ADD = 1,
	SETKEY_GET,
	SETKEY_DELETE,
	SETKEY_DELETEALL,
	SETKEY_FLUSH,
	SETKEY_DUMP,
	SETKEY_SPDDUMP,
};

enum setkey_mode {
	SETKEY_MODE_ANY = 0,
	SETKEY_MODE_TRANSPORT,
	SETKEY_MODE_TUNNEL,
};

#define SETKEY_MAX_KEY	64

/* One statement; which fields mean something depends on op. */
struct setkey_cmd {
	enum setkey_op op;
	int line;			/* where it started */
	int family;			/* AF_INET or AF_INET6 */
	union ipsecif_addr src, dst;
	__u16 sport, dport;		/* host order; 0: none given (addr[port]) */
	bool natt;			/* esp-udp, or a port given: ESP in UDP */
	__u32 spi;			/* host order */
	enum setkey_mode mode;		/* -m */
	__u32 reqid;			/* -u; 0: none */
	__u32 replay;			/* -r, in bits (setkey gives bytes) */
	bool replay_set;
	bool esn;			/* -f esn */
	__u64 hard_time, soft_time;	/* -lh, -ls: seconds; 0: none */
	__u64 hard_bytes, soft_bytes;	/* -bh, -bs */
	enum ipsecif_enc enc;		/* -E */
	__u8 enc_key[SETKEY_MAX_KEY];
	size_t enc_key_len;
	enum ipsecif_auth auth;		/* -A */
	__u8 auth_key[SETKEY_MAX_KEY];
	size_t auth_key_len;
};

struct setkey_script {
	struct setkey_cmd *cmds;
	size_t n;
	size_t cap;
};

/*
 * Parse text (len bytes, need not be NUL-terminated) into script, which
 * the caller frees with setkey_script_free() either way.  Returns 0, or
 * -EINVAL with "line N: 'TOKEN': reason" in err (script then empty).
 */
int setkey_parse(const char *text, size_t len, struct setkey_script *script, char *err,
		 size_t errlen);

void setkey_script_free(struct setkey_script *script);

#endif /* IPSECIF_SETKEY_H */
