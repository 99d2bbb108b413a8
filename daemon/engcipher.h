/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The engine's cipher: one frame (include/ipsecif_engine.h) sealed or
 * opened in place with OpenSSL, byte for byte as BPF's own path does it
 * (bpf/crypto.h).  No I/O: the worker (worker.c) feeds it frames and
 * the tests call it directly.
 *
 * Keys come from the shared key table, read under each entry's sequence
 * lock.  Each slot keeps the OpenSSL contexts made from the entry it last
 * read (the key schedule once, only the IV per packet), named by (id,
 * lock value): a frame whose entry has moved on rebuilds them, and
 * engcipher_sweep frees those of entries changed or emptied.
 */
#ifndef IPSECIF_ENGCIPHER_H
#define IPSECIF_ENGCIPHER_H

#include <stddef.h>
#include <linux/types.h>
#include "ipsecif_engine.h"

struct engcipher;

/*
 * A cipher over the key table keys (IPSECIF_ENG_KEY_SLOTS entries, which
 * the caller keeps mapped while the cipher lives).  0 or -ENOMEM.
 */
int engcipher_new(struct engcipher **ec, const struct ipsecif_eng_key *keys);

/* Free every context (OpenSSL cleanses the key schedules) and ec. */
void engcipher_free(struct engcipher *ec);

/*
 * Do the op of the trailer at the end of frame (len bytes, the trailer
 * included) in place, and set the trailer's op to the result: SEALED,
 * OPENED, BAD_ICV (the text as it came), NO_KEY or BAD_FRAME.  Nothing
 * outside [frame, frame + len) is read or written.
 * Returns 0 once op holds the result; -EINVAL when the frame is too
 * short to hold a trailer (nothing is written); -ENOMEM or -EIO when
 * OpenSSL failed (op is then NO_KEY).
 */
int engcipher_frame(struct engcipher *ec, void *frame, size_t len);

/*
 * Free the contexts whose table entry changed or emptied since they were
 * made.  Returns how many slots were freed.
 */
int engcipher_sweep(struct engcipher *ec);

/* Slots holding contexts now (tests, status). */
int engcipher_live(const struct engcipher *ec);

#endif /* IPSECIF_ENGCIPHER_H */
