/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The vector-crypto engine: what BPF, the agent and the workers share.
 *
 * BPF keeps all of ESP (SA lookup, sequence numbers, replay window,
 * trailer, RFC 6040, counters, routing); a worker does only the cipher,
 * with OpenSSL, on frames that reach it through an AF_XDP socket.  Each
 * worker Q has a veth pair of its own, and an SA's frames all go to one
 * worker (key id % workers), so that none overtakes another of its SA
 * by going through another worker (the replay window would drop it):
 *
 *   ipsecif-eQ  (BPF side)  --frames to seal or open-->  ipsecif-wQ
 *                                                     XDP: xsks[Q]
 *                                                       -> worker Q, or
 *                                                     TC: BPF's cipher
 *   ipsecif-eQ  TC ingress  <--the same frames, done---  (the fallback)
 *   finishes them: out to the underlay, in to ipsecN
 *
 * A frame is the ESP packet as BPF built it, Ethernet header included,
 * followed by a trailer (struct ipsecif_eng_trailer) at the very end: a
 * worker finds it at frame + len - sizeof, works in place and transmits
 * the frame back at the same length.  Outbound the ICV's bytes are there,
 * to be written; inbound the ICV is there, to be checked.
 *
 * The key table and the workers' status are shared memory (memfds the
 * agent makes and passes to each worker), not BPF maps: no BPF map holds
 * a key (docs/SECURITY.md).
 */
#ifndef IPSECIF_ENGINE_H
#define IPSECIF_ENGINE_H

#include <linux/types.h>
#include "ipsecif_crypto.h"

#define IPSECIF_ENG_DEV		"ipsecif-e%d"	/* BPF's end of worker %d's veth pair */
#define IPSECIF_ENG_WDEV	"ipsecif-w%d"	/* the worker's end */
#define IPSECIF_ENG_MAX_WORKERS	64
#define IPSECIF_ENG_MAGIC	0x676e6569	/* "ieng", little-endian */
/*
 * The engine link's MTU, and so its largest frame, trailer included.  A
 * veth with an XDP program (not frags-aware) takes an MTU up to a page
 * less XDP's headroom and skb_shared_info (3,506 bytes with 4 KiB pages),
 * and a worker's umem frame (4096 bytes) holds that behind the headroom
 * the kernel keeps in it (XDP_PACKET_HEADROOM).
 */
#define IPSECIF_ENG_FRAME_SIZE	4096
#define IPSECIF_ENG_MTU		3400
#define IPSECIF_ENG_MAX_FRAME	(IPSECIF_ENG_MTU + 14)

/* struct ipsecif_eng_trailer.op */
enum ipsecif_eng_op {
	IPSECIF_ENG_SEAL = 1,		/* to a worker: encrypt the text, write the ICV */
	IPSECIF_ENG_OPEN = 2,		/* to a worker: verify the ICV, decrypt the text */
	IPSECIF_ENG_SEALED = 3,		/* back from a worker */
	IPSECIF_ENG_OPENED = 4,
	IPSECIF_ENG_BAD_ICV = 5,	/* back: the ICV did not verify; the text as it came */
	IPSECIF_ENG_NO_KEY = 6,		/* back: no key key_id in the table (slot reused, wiped) */
	IPSECIF_ENG_BAD_FRAME = 7,	/* back: the trailer is inconsistent with the frame */
};

/*
 * At the end of every frame on the engine's link.  Multi-byte fields
 * are host order unless named otherwise.
 *
 * The worker's part:
 *   ESP header at esp_off (from the frame's first byte): SPI, sequence
 *   number, then the IV (8 bytes for the AEADs, 16 for CBC), then
 *   text_len bytes of text (ESP payload, padding, pad length, next
 *   header), then icv_len bytes of ICV.
 *   AEAD (RFC 4106, RFC 7634): nonce = salt | IV; AAD = aad[0, aad_len).
 *   CBC + HMAC (RFC 3602, 4868, 2404): on SEAL the worker writes the IV,
 *   AES-ECB_K(seq as 8 big-endian bytes | "secif iv"), as BPF's own
 *   path does (bpf/esp_out.h cbc_iv), encrypts, then the ICV is the
 *   truncated HMAC over ESP header | IV | ciphertext, followed with ESN
 *   by the sequence number's high half (RFC 4303 §2.2.1), 4 bytes
 *   big-endian, which is not sent.
 * BPF's part (bpf/engine.h) comes back untouched.
 */
struct ipsecif_eng_trailer {
	__u8 aad[12];			/* SPI | seq, or SPI | seq high | seq low: wire order */
	__u32 key_id;			/* the SA id whose key: the table's slot and check */
	__u64 seq;			/* the full sequence number */
	__u16 esp_off;
	__u16 text_len;
	__u8 op;			/* enum ipsecif_eng_op */
	__u8 enc;			/* enum ipsecif_enc, as the key says */
	__u8 icv_len;
	__u8 aad_len;			/* 8 or 12 */
	/* BPF's own. */
	__u32 reqid;
	__u32 len;			/* the inner packet's length, out; the text's, in */
	__u32 ifindex;			/* out: the underlay device (route lookup's answer) */
	__u8 dir;			/* 0 in, 1 out (bpf/stats.h DIR_*) */
	__u8 family;			/* out: the next hop's; in: the outer (AF_*) */
	__u8 ecn;			/* in: the outer header's ECN field */
	__u8 hdr;			/* ESP header + IV */
	union {
		__u8 nh[16];		/* out: the next hop, v4 in the first 4 bytes */
		__u8 dst[16];		/* in: the outer destination (sa_in's key) */
	};
	__u32 spi;			/* in: wire order */
	__u32 magic;			/* IPSECIF_ENG_MAGIC, last */
};

/*
 * The key table: IPSECIF_ENG_KEY_SLOTS entries, key id % slots.  The
 * agent writes an entry under its sequence lock (odd while writing,
 * release ordering), workers map it read-only and read it under the
 * lock, keeping a context per id; an id of 0 is an empty slot.  The agent
 * writes a key here before BPF may send a frame for it (eng_keys) and
 * clears it after BPF no longer may.
 */
#define IPSECIF_ENG_KEY_SLOTS	IPSECIF_KEY_CACHE_SLOTS

struct ipsecif_eng_key {
	__u32 lock;			/* sequence lock */
	__u32 id;			/* SA id; 0: empty */
	__u8 enc;			/* enum ipsecif_enc */
	__u8 auth;			/* enum ipsecif_auth */
	__u8 icv_len;
	__u8 enc_key_len;		/* without the salt */
	__u16 auth_key_len;
	__u8 salt[IPSECIF_SALT_LEN];
	__u16 pad;
	__u8 enc_key[IPSECIF_MAX_ENC_KEY];
	__u8 auth_key[64];		/* HMAC keys longer than a block are hashed first (RFC 2104 §2) */
};

/*
 * A worker's status, one per worker in the status memfd (read-write to
 * the workers, read by the agent for the watchdog and `ipsecifctl engine`).
 */
struct ipsecif_eng_status {
	__u64 heartbeat_ns;		/* CLOCK_MONOTONIC of the worker's last turn */
	__u32 pid;
	__u32 queue;
	__s32 cpu;			/* pinned to, or -1 */
	__u32 bound;			/* 1 once its socket is in the xsks map */
	__u64 frames;			/* taken from the rx ring */
	__u64 sealed, opened, bad_icv, no_key, bad_frame;
	__u64 tx_full;			/* frames lost to a full tx ring */
	__u32 rx_depth;			/* rx ring entries waiting, at the last turn */
	__u32 tx_depth;			/* tx ring entries not yet completed */
	__u64 rx_dropped;		/* XDP_STATISTICS: the kernel's count of frames lost */
	__u64 rx_ring_full;
	__u64 pad[4];
};

/*
 * BPF's view of the engine (the one-entry eng_conf map, agent-written).
 * A frame goes to the engine when up is set, its suite's threshold is not
 * 0 and its text is at least that long: to worker key id % n.
 */
struct ipsecif_eng_conf {
	__u32 up;			/* every worker bound */
	__u32 n;			/* workers */
	__u16 min_text[IPSECIF_ENC_MAX];	/* by enum ipsecif_enc; 0: never */
	__u32 ifindex[IPSECIF_ENG_MAX_WORKERS];	/* ipsecif-eQ, by worker Q */
};

/*
 * BPF's engine counters (per-CPU eng_stats), by direction [0] in, [1] out:
 * frames sent to the engine, back from it, ciphered by BPF at the
 * workers' end for want of a bound socket (the fallback), and frames
 * back marked bad (no key, bad frame) or not ipsecif's at all.
 */
struct ipsecif_eng_counters {
	__u64 sent[2];
	__u64 back[2];
	__u64 fallback[2];
	__u64 bad[2];
};

/* Value of the eng_keys array (slot id % IPSECIF_ENG_KEY_SLOTS): the engine has key id. */
struct ipsecif_eng_keyslot {
	__u32 id;
};

#endif /* IPSECIF_ENGINE_H */
