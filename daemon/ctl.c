// SPDX-License-Identifier: GPL-2.0-only
/* Control socket messages (ctl.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
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
	if (h->type < CTL_REQ_IFCMD || h->type > CTL_REQ_EVENTS)
		return errmsg(err, errlen, -EINVAL, "unknown request type %u", h->type);
	if (h->flags & ~CTL_F_KNOWN)
		return errmsg(err, errlen, -EINVAL, "unknown flags %#x", h->flags & ~CTL_F_KNOWN);
	if (h->len > CTL_MAX_PAYLOAD)
		return errmsg(err, errlen, -EMSGSIZE, "a %u-byte request is over the %d-byte limit",
			      h->len, CTL_MAX_PAYLOAD);
	if ((h->type == CTL_REQ_STATUS || h->type == CTL_REQ_STOP || h->type == CTL_REQ_EVENTS) &&
	    h->len)
		return errmsg(err, errlen, -EINVAL, "request type %u takes no payload", h->type);
	if (h->type == CTL_REQ_SA && h->len != sizeof(struct ctl_sa))
		return errmsg(err, errlen, -EINVAL, "an SA request is %zu bytes, not %u",
			      sizeof(struct ctl_sa), h->len);
	return 0;
}

static bool family_ok(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

/* The fields an SA operation reads, checked before the agent acts on any. */
static int check_sa(const struct ctl_sa *s, char *err, size_t errlen)
{
	if (s->op < CTL_SA_GETSPI || s->op >= CTL_SA_OP_MAX)
		return errmsg(err, errlen, -EINVAL, "unknown SA operation %u", s->op);
	if (s->op == CTL_SA_FLUSH || s->op == CTL_SA_GETSPI)
		return 0;
	if (s->op == CTL_SA_POLICY)
		return s->reqid ? 0 : errmsg(err, errlen, -EINVAL, "a policy needs a reqid");
	if (s->op == CTL_SA_RELEASE)
		return s->reqid ? 0 : errmsg(err, errlen, -EINVAL, "a release needs a reqid");
	if (!family_ok(s->family))
		return errmsg(err, errlen, -EAFNOSUPPORT, "SA family %u is neither inet nor inet6",
			      s->family);
	if (s->spi < 256)	/* RFC 4303 §2.1: 1-255 are reserved by IANA */
		return errmsg(err, errlen, -EINVAL, "SPI %u is reserved (RFC 4303 §2.1)", s->spi);
	if (s->op == CTL_SA_UPDATE && !family_ok(s->new_family))
		return errmsg(err, errlen, -EAFNOSUPPORT, "new SA family %u is neither inet nor "
			      "inet6", s->new_family);
	if (s->op != CTL_SA_ADD)
		return 0;
	if (!s->reqid)
		return errmsg(err, errlen, -EINVAL, "SA %u has no reqid: it would serve no "
			      "interface", s->spi);
	if (s->enc_key_len > CTL_SA_MAX_KEY || s->auth_key_len > CTL_SA_MAX_KEY)
		return errmsg(err, errlen, -EINVAL, "SA %u: a key over %d bytes", s->spi,
			      CTL_SA_MAX_KEY);
	if (s->flags & ~(IPSECIF_SA_F_ESN | IPSECIF_SA_F_NATT))
		return errmsg(err, errlen, -EINVAL, "SA %u: unknown flags %#x", s->spi, s->flags);
	if (s->replay > IPSECIF_REPLAY_WINDOW_MAX)
		return errmsg(err, errlen, -ERANGE, "SA %u: a replay window of %u is over %d",
			      s->spi, s->replay, IPSECIF_REPLAY_WINDOW_MAX);
	/* Counted in ns by the agent: a larger one would wrap (ipsecif.h). */
	if (s->hard_time > IPSECIF_LIFETIME_MAX_S || s->soft_time > IPSECIF_LIFETIME_MAX_S)
		return errmsg(err, errlen, -ERANGE, "SA %u: the %s lifetime of %llu s is over %llu s",
			      s->spi, s->hard_time > IPSECIF_LIFETIME_MAX_S ? "hard" : "soft",
			      (unsigned long long)(s->hard_time > IPSECIF_LIFETIME_MAX_S ?
						   s->hard_time : s->soft_time),
			      IPSECIF_LIFETIME_MAX_S);
	return 0;
}

void ctl_req_wipe(struct ctl_req *req)
{
	explicit_bzero(req->sa.enc_key, sizeof(req->sa.enc_key));
	explicit_bzero(req->sa.auth_key, sizeof(req->sa.auth_key));
	req->sa.enc_key_len = req->sa.auth_key_len = 0;
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
	case CTL_REQ_SA:
		memcpy(&req->sa, p, sizeof(req->sa));
		ret = check_sa(&req->sa, err, errlen);
		if (ret)	/* refused: no one will look at its keys */
			ctl_req_wipe(req);
		return ret;
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

ssize_t ctl_encode_sa(const struct ctl_sa *sa, void *buf, size_t buflen)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_REQ_SA,
			     .len = sizeof(*sa) };

	if (buflen < sizeof(h) + sizeof(*sa))
		return -ENOSPC;
	memcpy(buf, &h, sizeof(h));
	memcpy((char *)buf + sizeof(h), sa, sizeof(*sa));
	return sizeof(h) + sizeof(*sa);
}
