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
	CTL_RESP = 0x100,	/* payload: __s32 status (0 or -errno), then text */
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

struct ctl_req {
	enum ctl_type type;
	__u32 flags;
	int argc;			/* CTL_REQ_IFCMD */
	const char *argv[CTL_MAX_ARGS];	/* pointing into the payload */
	const char *text;		/* CTL_REQ_SETKEY; len bytes, not terminated */
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
 * Build a request for ipsecifctl into buf (buflen bytes): arguments for
 * CTL_REQ_IFCMD, text for CTL_REQ_SETKEY.  Returns the length or -errno.
 */
ssize_t ctl_encode(enum ctl_type type, __u32 flags, int argc, char *const *argv,
		   const char *text, size_t textlen, void *buf, size_t buflen);

#endif /* IPSECIF_CTL_H */
