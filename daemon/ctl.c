// SPDX-License-Identifier: GPL-2.0-only
/* Control socket messages (ctl.h). */
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include "ctl.h"
#include "errmsg.h"

int ctl_check_hdr(const struct ctl_hdr *h, char *err, size_t errlen)
{
	if (h->magic != CTL_MAGIC)
		return errmsg(err, errlen, -EINVAL, "not an ipsecif control message (magic %#x)",
			      h->magic);
	if (h->version != CTL_VERSION)
		return errmsg(err, errlen, -EINVAL, "control protocol version %u, the agent speaks %u",
			      h->version, CTL_VERSION);
	if (h->type < CTL_REQ_IFCMD || h->type > CTL_REQ_STOP)
		return errmsg(err, errlen, -EINVAL, "unknown request type %u", h->type);
	if (h->flags & ~CTL_F_KNOWN)
		return errmsg(err, errlen, -EINVAL, "unknown flags %#x", h->flags & ~CTL_F_KNOWN);
	if (h->len > CTL_MAX_PAYLOAD)
		return errmsg(err, errlen, -EMSGSIZE, "a %u-byte request is over the %d-byte limit",
			      h->len, CTL_MAX_PAYLOAD);
	if ((h->type == CTL_REQ_STATUS || h->type == CTL_REQ_STOP) && h->len)
		return errmsg(err, errlen, -EINVAL, "request type %u takes no payload", h->type);
	return 0;
}

static int decode_args(const char *p, size_t len, struct ctl_req *req, char *err, size_t errlen)
{
	size_t off = 0, n;

	req->argc = 0;
	while (off < len) {
		const char *nul = memchr(p + off, 0, len - off);

		if (!nul)
			return errmsg(err, errlen, -EINVAL, "argument %d is not terminated",
				      req->argc + 1);
		n = nul - (p + off);
		if (n > CTL_MAX_ARG)
			return errmsg(err, errlen, -EINVAL, "argument %d is over %d bytes",
				      req->argc + 1, CTL_MAX_ARG);
		if (req->argc == CTL_MAX_ARGS)
			return errmsg(err, errlen, -E2BIG, "more than %d arguments", CTL_MAX_ARGS);
		req->argv[req->argc++] = p + off;
		off += n + 1;
	}
	return 0;
}

int ctl_decode(const void *msg, size_t msglen, struct ctl_req *req, char *err, size_t errlen)
{
	struct ctl_hdr h;
	const char *p = (const char *)msg + sizeof(h);
	int ret;

	memset(req, 0, sizeof(*req));
	if (msglen < sizeof(h))
		return errmsg(err, errlen, -EINVAL, "a %zu-byte message is shorter than its header",
			      msglen);
	memcpy(&h, msg, sizeof(h));
	ret = ctl_check_hdr(&h, err, errlen);
	if (ret)
		return ret;
	if (msglen - sizeof(h) != h.len)
		return errmsg(err, errlen, -EINVAL, "the header says %u payload bytes, %zu came",
			      h.len, msglen - sizeof(h));
	req->type = h.type;
	req->flags = h.flags;
	switch (h.type) {
	case CTL_REQ_IFCMD:
		return decode_args(p, h.len, req, err, errlen);
	case CTL_REQ_SETKEY:
		req->text = p;
		req->len = h.len;
		return 0;
	default:
		return 0;
	}
}

ssize_t ctl_encode(enum ctl_type type, __u32 flags, int argc, char *const *argv,
		   const char *text, size_t textlen, void *buf, size_t buflen)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = type,
			     .flags = flags };
	char *p = (char *)buf + sizeof(h);
	size_t len = 0, n;
	int i;

	if (buflen < sizeof(h))
		return -ENOSPC;
	if (type == CTL_REQ_IFCMD) {
		if (argc > CTL_MAX_ARGS)
			return -E2BIG;
		for (i = 0; i < argc; i++) {
			n = strlen(argv[i]);
			if (n > CTL_MAX_ARG)
				return -E2BIG;
			if (sizeof(h) + len + n + 1 > buflen)
				return -ENOSPC;
			memcpy(p + len, argv[i], n + 1);
			len += n + 1;
		}
	} else if (type == CTL_REQ_SETKEY) {
		if (textlen > CTL_MAX_PAYLOAD)
			return -E2BIG;
		if (sizeof(h) + textlen > buflen)
			return -ENOSPC;
		memcpy(p, text, textlen);
		len = textlen;
	}
	h.len = len;
	memcpy(buf, &h, sizeof(h));
	return sizeof(h) + len;
}
