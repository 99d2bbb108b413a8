/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The messages between ipsecifctl and ipsecif-agent on the control
 * socket.  Every message is a fixed header and a payload whose length the
 * header states; the agent reads the header, checks it, then reads
 * exactly that many bytes, and decodes nothing it has not checked.
 */
#ifndef IPSECIF_CTL_H
#define IPSECIF_CTL_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include "ipsecif.h"

#define CTL_MAGIC	0x46495349	/* "ISIF" on little-endian */
#define CTL_VERSION	1
#define CTL_MAX_PAYLOAD	(1 << 20)	/* a setkey script of a thousand SAs fits */
#define CTL_MAX_REPLY	(16 << 20)	/* every SA and policy the maps hold, shown */
#define CTL_MAX_ARGS	64
#define CTL_MAX_ARG	256

enum ctl_type {
	CTL_REQ_IFCMD = 1,	/* payload: arguments, each NUL-terminated */
	CTL_REQ_SETKEY = 2,	/* payload: a setkey(8) script */
	CTL_REQ_STATUS = 3,	/* no payload */
	CTL_REQ_STOP = 4,	/* no payload; CTL_F_FLUSH tears everything down */
	CTL_REQ_SA = 5,		/* payload: struct ctl_sa; the reply's text is a
				 * struct ctl_sa_reply (the key manager's API) */
	CTL_REQ_EVENTS = 6,	/* no payload: after the reply the connection
				 * stays open and carries CTL_EVENT messages */
	CTL_RESP = 0x100,	/* payload: __s32 status (0 or -errno), then text */
	CTL_EVENT = 0x101,	/* payload: struct ctl_event */
};

#define CTL_F_JSON	0x1	/* answer in JSON */
#define CTL_F_FLUSH	0x2
#define CTL_F_KNOWN	(CTL_F_JSON | CTL_F_FLUSH)

struct ctl_hdr {
	__u32 magic;
	__u16 version;
	__u16 type;		/* enum ctl_type */
	__u32 len;		/* payload bytes that follow */
	__u32 flags;		/* CTL_F_* */
};

_Static_assert(sizeof(struct ctl_hdr) == 16, "ctl_hdr layout");

/*
 * The SA API for key managers (strongSwan's kernel-ipsecif plugin): one
 * operation per kernel_ipsec_t method that touches the data path.
 */
enum ctl_sa_op {
	CTL_SA_GETSPI = 1,	/* reply: a fresh inbound SPI, held for CTL_SA_SPI_HOLD_S */
	CTL_SA_ADD = 2,		/* spi, addresses, reqid, keys, lifetimes */
	CTL_SA_UPDATE = 3,	/* spi, family, dst name it; new_* the new addressing */
	CTL_SA_QUERY = 4,	/* reply: bytes, packets, last use */
	CTL_SA_DEL = 5,		/* spi, family, dst */
	CTL_SA_FLUSH = 6,	/* every SA the API added (setkey's stay) */
	CTL_SA_POLICY = 7,	/* is there an interface with this reqid and a tunnel? */
	CTL_SA_RELEASE = 8,	/* reqid's held outbound SAs (hold_ms) carry from now on */
	CTL_SA_OP_MAX,
};

#define CTL_SA_SPI_HOLD_S	120	/* an SPI handed out and not added is free again */
#define CTL_SA_MAX_KEY		64

struct ctl_sa {
	__u32 op;			/* enum ctl_sa_op */
	__u32 spi;			/* host order */
	__u32 reqid;
	__u32 flags;			/* IPSECIF_SA_F_ESN, IPSECIF_SA_F_NATT */
	__u16 family;			/* outer family, AF_INET or AF_INET6 */
	__u16 sport, dport;		/* NAT-T ports, host order */
	__u16 hold_ms;			/* outbound: while another SA of the reqid
					 * carries traffic, switch only after this */
	union ipsecif_addr src, dst;
	__u32 replay;			/* window in packets (bits); 0: none */
	__u8 enc, auth;			/* enum ipsecif_enc, enum ipsecif_auth */
	__u8 enc_key_len, auth_key_len;
	__u8 enc_key[CTL_SA_MAX_KEY];	/* AEAD: key then 4-byte salt */
	__u8 auth_key[CTL_SA_MAX_KEY];
	__u64 soft_bytes, hard_bytes;	/* lifetimes, 0: none (RFC 4301 §4.4.2.1) */
	__u64 soft_packets, hard_packets;
	__u64 soft_time, hard_time;	/* seconds after the add */
	/* CTL_SA_UPDATE: where the SA goes (MOBIKE, NAT-T port changes). */
	__u16 new_family, new_sport, new_dport, pad2;
	__u32 new_flags;
	__u32 pad3;
	union ipsecif_addr new_src, new_dst;
};

struct ctl_sa_reply {
	__u32 spi;			/* CTL_SA_GETSPI */
	__u32 active;			/* the SA serves an interface (ADD, UPDATE, QUERY) */
	__u64 bytes, packets;		/* CTL_SA_QUERY: inner bytes and packets */
	__u64 idle_ns;			/* how long since the counters last moved;
					 * ~0: never used */
};

/* An event for the key manager (struct ipsecif_event, or the agent's timers). */
struct ctl_event {
	__u32 type;			/* enum ipsecif_event_type */
	__u32 reqid;
	__u32 spi;			/* host order; 0 for acquire */
	__u16 family, pad;		/* of dst; 0 for acquire */
	union ipsecif_addr dst;
	__u64 value;			/* bytes, packets, seconds or sequence number */
};

_Static_assert(sizeof(struct ctl_sa) == 24 + 32 + 8 + 128 + 48 + 16 + 32, "ctl_sa layout");
_Static_assert(sizeof(struct ctl_sa_reply) == 32, "ctl_sa_reply layout");
_Static_assert(sizeof(struct ctl_event) == 40, "ctl_event layout");

struct ctl_req {
	enum ctl_type type;
	__u32 flags;
	int argc;			/* CTL_REQ_IFCMD */
	const char *argv[CTL_MAX_ARGS];	/* pointing into the payload */
	const char *text;		/* CTL_REQ_SETKEY; len bytes, not terminated */
	struct ctl_sa sa;		/* CTL_REQ_SA, checked */
	size_t len;
};

/* Check a header on its own: 0, or -EINVAL/-EMSGSIZE with a reason. */
int ctl_check_hdr(const struct ctl_hdr *h, char *err, size_t errlen);

/*
 * Decode a whole request (header and payload, msglen bytes).  Returns 0
 * or -errno with a reason; req points into msg.
 */
int ctl_decode(const void *msg, size_t msglen, struct ctl_req *req, char *err, size_t errlen);

/*
 * Wipe the keys in a decoded request (CTL_REQ_SA's copy of them): the
 * agent calls it once the request is served.  ctl_decode does it itself
 * for a request it refuses.  The message buffer is the caller's to wipe.
 */
void ctl_req_wipe(struct ctl_req *req);

/*
 * Build a request for ipsecifctl into buf (buflen bytes): arguments for
 * CTL_REQ_IFCMD, text for CTL_REQ_SETKEY.  Returns the length or -errno.
 */
ssize_t ctl_encode(enum ctl_type type, __u32 flags, int argc, char *const *argv,
		   const char *text, size_t textlen, void *buf, size_t buflen);

/* A CTL_REQ_SA request for sa into buf (buflen bytes): its length or -errno. */
ssize_t ctl_encode_sa(const struct ctl_sa *sa, void *buf, size_t buflen);

#endif /* IPSECIF_CTL_H */
