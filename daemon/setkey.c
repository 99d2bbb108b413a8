// SPDX-License-Identifier: GPL-2.0-only
/* setkey(8) scripts: tokens, then statements (see setkey.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "keys.h"
#include "setkey.h"

#define MAX_TOKENS	64	/* per statement; a long add has about 20 */
#define MAX_TOKEN	256

struct token {
	char text[MAX_TOKEN];
	int line;
	bool quoted;
	/* A key: errors name this field ("the encryption key"), never the text. */
	const char *secret;
};

struct lexer {
	const char *p, *end;
	int line;
};

struct parse {
	struct token tok[MAX_TOKENS];
	int n, i;
	char *err;
	size_t errlen;
};

static int perr(struct parse *ps, const struct token *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->err && ps->errlen) {
		if (t && t->secret)
			n = snprintf(ps->err, ps->errlen, "line %d: %s: ", t->line, t->secret);
		else
			n = snprintf(ps->err, ps->errlen, "line %d: '%s': ", t ? t->line : 0,
				     t ? t->text : "");
		if (n >= 0 && (size_t)n < ps->errlen) {
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

/*
 * Next token: ";" alone, a "quoted string" (no newline inside), or a run of
 * other non-space characters.  # starts a comment to the end of the line.
 * 1: a token, 0: end of text, -EINVAL: bad text (t->text says where).
 */
static int lex(struct lexer *lx, struct token *t)
{
	size_t n = 0;

	for (;;) {
		while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' ||
					   *lx->p == '\n')) {
			if (*lx->p == '\n')
				lx->line++;
			lx->p++;
		}
		if (lx->p < lx->end && *lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
			continue;
		}
		break;
	}
	if (lx->p >= lx->end)
		return 0;
	t->line = lx->line;
	t->quoted = false;
	t->secret = NULL;
	if (*lx->p == ';') {
		strcpy(t->text, ";");
		lx->p++;
		return 1;
	}
	if (*lx->p == '"') {
		lx->p++;
		t->quoted = true;
		while (lx->p < lx->end && *lx->p != '"' && *lx->p != '\n') {
			if (n + 1 >= sizeof(t->text))
				goto toolong;
			t->text[n++] = *lx->p++;
		}
		t->text[n] = 0;
		if (lx->p >= lx->end || *lx->p != '"') {
			snprintf(t->text, sizeof(t->text), "\"");
			return -EINVAL;		/* unterminated string */
		}
		lx->p++;
		return 1;
	}
	while (lx->p < lx->end && *lx->p != ' ' && *lx->p != '\t' && *lx->p != '\r' &&
	       *lx->p != '\n' && *lx->p != ';' && *lx->p != '#') {
		if ((unsigned char)*lx->p < 0x20 || (unsigned char)*lx->p >= 0x7f) {
			snprintf(t->text, sizeof(t->text), "\\x%02x", (unsigned char)*lx->p);
			return -EINVAL;		/* control or non-ASCII byte */
		}
		if (n + 1 >= sizeof(t->text))
			goto toolong;
		t->text[n++] = *lx->p++;
	}
	t->text[n] = 0;
	return 1;
toolong:
	snprintf(t->text, sizeof(t->text), "%.20s...", lx->p - n);
	return -EINVAL;
}

static const struct token *peek(struct parse *ps)
{
	return ps->i < ps->n ? &ps->tok[ps->i] : NULL;
}

static const struct token *next(struct parse *ps)
{
	return ps->i < ps->n ? &ps->tok[ps->i++] : NULL;
}

/* The last token, for "missing X" errors at the end of a statement. */
static const struct token *last(struct parse *ps)
{
	return &ps->tok[ps->n - 1];
}

/*
 * Decimal, or hex after 0x, as setkey(8) reads numbers: a leading zero is
 * not octal ("-lh 010" is ten seconds).
 */
static int parse_u64(const char *s, __u64 max, __u64 *v)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	char *end;
	unsigned long long x;

	if (hex)
		s += 2;
	if (!isxdigit((unsigned char)*s))
		return -1;
	errno = 0;
	x = strtoull(s, &end, hex ? 16 : 10);
	if (errno || *end || x > max)
		return -1;
	*v = x;
	return 0;
}

/* addr or addr[port], the family fixed by the first address of a statement. */
static int parse_addr(struct parse *ps, struct setkey_cmd *c, union ipsecif_addr *a,
		      __u16 *port)
{
	const struct token *t = next(ps);
	char buf[MAX_TOKEN], *br;
	int fam;
	__u64 v;

	if (!t || !strcmp(t->text, ";"))
		return perr(ps, t ? t : last(ps), "an address is missing");
	snprintf(buf, sizeof(buf), "%s", t->text);
	*port = 0;
	br = strchr(buf, '[');
	if (br) {
		size_t l = strlen(br);

		if (l < 3 || br[l - 1] != ']')
			return perr(ps, t, "a port is written addr[port]");
		br[l - 1] = 0;
		if (parse_u64(br + 1, 65535, &v) || !v)
			return perr(ps, t, "not a port number (1-65535)");
		*port = v;
		*br = 0;
	}
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		fam = AF_INET6;
	else
		return perr(ps, t, "not an IPv4 or IPv6 address");
	if (c->family && c->family != fam)
		return perr(ps, t, "source and destination must be of one family");
	c->family = fam;
	return 0;
}

/*
 * esp, or esp-udp as ipsec-tools' setkey spells ESP in UDP (RFC 3948):
 * NAT-T with the ports given as addr[port], 4500 where none is.
 */
static int parse_proto(struct parse *ps, struct setkey_cmd *c)
{
	const struct token *t = next(ps);

	if (!t || !strcmp(t->text, ";"))
		return perr(ps, t ? t : last(ps), "the protocol is missing (esp)");
	if (!strcmp(t->text, "esp-udp"))
		c->natt = true;
	else if (strcmp(t->text, "esp"))
		return perr(ps, t, "ipsecif carries ESP only (RFC 4303): use esp or esp-udp");
	if (c->sport || c->dport)
		c->natt = true;
	return 0;
}

static int parse_spi(struct parse *ps, struct setkey_cmd *c)
{
	const struct token *t = next(ps);
	__u64 v;

	if (!t || !strcmp(t->text, ";"))
		return perr(ps, t ? t : last(ps), "the SPI is missing");
	if (parse_u64(t->text, 0xffffffffULL, &v))
		return perr(ps, t, "not an SPI (a number up to 0xffffffff)");
	/* RFC 4303 §2.1: 1 to 255 are reserved, 0 is never sent. */
	if (v < 256)
		return perr(ps, t, "SPIs 0 to 255 are reserved (RFC 4303 §2.1)");
	c->spi = v;
	return 0;
}

static const struct {
	const char *name;
	enum ipsecif_enc enc;
} enc_names[] = {
	{ "rijndael-cbc", IPSECIF_ENC_AES_CBC },
	{ "aes-cbc", IPSECIF_ENC_AES_CBC },
	{ "aes-gcm-16", IPSECIF_ENC_AES_GCM16 },
	{ "chacha20-poly1305", IPSECIF_ENC_CHACHA20_POLY1305 },
};

static const struct {
	const char *name;
	enum ipsecif_auth auth;
} auth_names[] = {
	{ "hmac-sha2-256", IPSECIF_AUTH_HMAC_SHA256_128 },
	{ "hmac-sha1", IPSECIF_AUTH_HMAC_SHA1_96 },
};

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * "string" or 0x and hex digits, nothing else (no sign, no spaces).  The
 * token is marked secret first: an error names the field, never the key.
 */
static int parse_key(struct parse *ps, const char *field, __u8 *key, size_t *len)
{
	struct token *t = ps->i < ps->n ? &ps->tok[ps->i++] : NULL;
	size_t n, i;

	if (!t || !strcmp(t->text, ";"))
		return perr(ps, t ? t : last(ps), "%s is missing", field);
	t->secret = field;
	n = strlen(t->text);
	if (t->quoted) {
		if (!n || n > SETKEY_MAX_KEY)
			return perr(ps, t, "is %zu bytes; a key is 1 to %d bytes", n,
				    SETKEY_MAX_KEY);
		memcpy(key, t->text, n);
		*len = n;
		return 0;
	}
	if (n < 3 || t->text[0] != '0' || (t->text[1] != 'x' && t->text[1] != 'X'))
		return perr(ps, t, "a key is \"text\" or 0x followed by hex digits");
	n -= 2;
	for (i = 0; i < n; i++)
		if (hex_nibble(t->text[2 + i]) < 0)
			return perr(ps, t, "not hex: after 0x only the digits 0-9, a-f, A-F");
	if (n % 2 || n / 2 > SETKEY_MAX_KEY)
		return perr(ps, t, "%zu hex digits; a hex key needs an even number of digits, "
			    "up to %d bytes", n, SETKEY_MAX_KEY);
	for (i = 0; i < n / 2; i++)
		key[i] = hex_nibble(t->text[2 + 2 * i]) << 4 | hex_nibble(t->text[3 + 2 * i]);
	*len = n / 2;
	return 0;
}

/* The value of -E or -A is an algorithm; a key there means the name was left out. */
static bool looks_like_key(const struct token *v)
{
	return v->quoted || (v->text[0] == '0' && (v->text[1] == 'x' || v->text[1] == 'X'));
}

/*
 * The keys' lengths for their algorithms (keys.c), each error named by
 * its key's token (ek, ak: the encryption and authentication keys'):
 * the encryption key alone first.
 */
static int check_keys(struct parse *ps, const struct setkey_cmd *c, const struct token *ek,
		      const struct token *ak)
{
	struct ipsecif_key_params p = {
		.enc = c->enc, .enc_key = c->enc_key, .enc_key_len = c->enc_key_len,
		.allow_no_auth = true,	/* the CLI warns */
	};
	char why[256];

	if (ipsecif_key_check(&p, why, sizeof(why)))
		return perr(ps, ek, "%s", why);
	p.auth = c->auth;
	p.auth_key = c->auth_key_len ? c->auth_key : NULL;
	p.auth_key_len = c->auth_key_len;
	if (ipsecif_key_check(&p, why, sizeof(why)))
		return perr(ps, ak ? ak : ek, "%s", why);
	return 0;
}

static int parse_add_options(struct parse *ps, struct setkey_cmd *c)
{
	const struct token *t, *v, *ek = NULL, *ak = NULL;
	bool have_e = false;
	__u64 x;
	size_t i;

	while ((t = next(ps)) && strcmp(t->text, ";")) {
		if (t->text[0] != '-')
			return perr(ps, t, "expected an option such as -m, -u, -E or -A");
		if (!strcmp(t->text, "-C"))
			return perr(ps, t, "compression (IPComp) is not supported");
		if (strcmp(t->text, "-m") && strcmp(t->text, "-u") && strcmp(t->text, "-r") &&
		    strcmp(t->text, "-f") && strcmp(t->text, "-lh") && strcmp(t->text, "-ls") &&
		    strcmp(t->text, "-bh") && strcmp(t->text, "-bs") && strcmp(t->text, "-E") &&
		    strcmp(t->text, "-A"))
			return perr(ps, t, "unknown option");
		v = next(ps);
		if (!v || !strcmp(v->text, ";"))
			return perr(ps, t, "the option's value is missing");
		if (!strcmp(t->text, "-m")) {
			if (!strcmp(v->text, "tunnel"))
				c->mode = SETKEY_MODE_TUNNEL;
			else if (!strcmp(v->text, "any"))
				c->mode = SETKEY_MODE_ANY;
			else if (!strcmp(v->text, "transport"))
				return perr(ps, v, "transport mode is not supported: ipsecif SAs are "
					    "tunnel mode (-m tunnel or -m any)");
			else
				return perr(ps, v, "the mode is tunnel or any (ipsecif SAs are tunnel "
					    "mode)");
		} else if (!strcmp(t->text, "-u")) {
			/* FreeBSD keeps 1..16383 for manually set request ids. */
			if (parse_u64(v->text, 16383, &x) || !x)
				return perr(ps, v, "a reqid is 1 to 16383");
			c->reqid = x;
		} else if (!strcmp(t->text, "-r")) {
			/* BSD setkey gives the window in bytes of bitmap. */
			if (parse_u64(v->text, IPSECIF_REPLAY_WINDOW_MAX / 8, &x))
				return perr(ps, v, "the replay window is 0 to %d bytes (%d packets)",
					    IPSECIF_REPLAY_WINDOW_MAX / 8,
					    IPSECIF_REPLAY_WINDOW_MAX);
			c->replay = x * 8;
			c->replay_set = true;
		} else if (!strcmp(t->text, "-f")) {
			if (!strcmp(v->text, "esn"))
				c->esn = true;
			else if (!strcmp(v->text, "zero-pad") || !strcmp(v->text, "random-pad"))
				return perr(ps, v, "ipsecif pads 1, 2, 3, ... (RFC 4303 §2.4): "
					    "seq-pad only");
			else if (strcmp(v->text, "seq-pad") && strcmp(v->text, "nocyclic-seq"))
				return perr(ps, v, "-f takes esn, seq-pad or nocyclic-seq");
		} else if (t->text[1] == 'l' || t->text[1] == 'b') {
			bool time = t->text[1] == 'l';
			__u64 *f = !strcmp(t->text, "-lh") ? &c->hard_time :
				   !strcmp(t->text, "-ls") ? &c->soft_time :
				   !strcmp(t->text, "-bh") ? &c->hard_bytes : &c->soft_bytes;

			if (parse_u64(v->text, ~0ULL, f))
				return perr(ps, v, "not a number");
			/* Counted in ns by the agent: a larger one would wrap (ipsecif.h). */
			if (time && *f > IPSECIF_LIFETIME_MAX_S)
				return perr(ps, v, "the %s lifetime (%s) is 0 to %llu seconds",
					    t->text[2] == 'h' ? "hard" : "soft", t->text,
					    IPSECIF_LIFETIME_MAX_S);
		} else if (looks_like_key(v)) {
			return perr(ps, t, "the %s algorithm is missing before the key",
				    t->text[1] == 'E' ? "encryption" : "authentication");
		} else if (!strcmp(t->text, "-E")) {
			for (i = 0; i < sizeof(enc_names) / sizeof(enc_names[0]); i++)
				if (!strcmp(v->text, enc_names[i].name))
					break;
			if (i == sizeof(enc_names) / sizeof(enc_names[0]))
				return perr(ps, v, "unknown or unsupported encryption algorithm "
					    "(rijndael-cbc, aes-cbc, aes-gcm-16, chacha20-poly1305)");
			c->enc = enc_names[i].enc;
			have_e = true;
			ek = ps->i < ps->n ? &ps->tok[ps->i] : NULL;
			if (parse_key(ps, "the encryption key", c->enc_key, &c->enc_key_len))
				return -EINVAL;
		} else {
			for (i = 0; i < sizeof(auth_names) / sizeof(auth_names[0]); i++)
				if (!strcmp(v->text, auth_names[i].name))
					break;
			if (i == sizeof(auth_names) / sizeof(auth_names[0]))
				return perr(ps, v, "unknown or unsupported authentication algorithm "
					    "(hmac-sha2-256, hmac-sha1)");
			c->auth = auth_names[i].auth;
			ak = ps->i < ps->n ? &ps->tok[ps->i] : NULL;
			if (parse_key(ps, "the authentication key", c->auth_key, &c->auth_key_len))
				return -EINVAL;
		}
	}
	if (!t)
		return perr(ps, last(ps), "statement not terminated by ';'");
	if (!have_e)
		return perr(ps, t, "add needs an encryption algorithm and key (-E)");
	if (c->soft_time && c->hard_time && c->soft_time > c->hard_time)
		return perr(ps, t, "the soft lifetime (-ls) is longer than the hard one (-lh)");
	if (c->soft_bytes && c->hard_bytes && c->soft_bytes > c->hard_bytes)
		return perr(ps, t, "the soft byte limit (-bs) is above the hard one (-bh)");
	if (c->esn && c->replay_set && !c->replay)
		return perr(ps, t, "ESN needs a replay window (-r above 0)");
	return check_keys(ps, c, ek, ak);
}

/* The statement must end here. */
static int end(struct parse *ps)
{
	const struct token *t = next(ps);

	if (!t)
		return perr(ps, last(ps), "statement not terminated by ';'");
	if (strcmp(t->text, ";"))
		return perr(ps, t, "unexpected; the statement should end here");
	return 0;
}

static int statement(struct parse *ps, struct setkey_cmd *c)
{
	const struct token *kw = next(ps), *t;

	memset(c, 0, sizeof(*c));
	c->line = kw->line;
	if (!strcmp(kw->text, "add") || !strcmp(kw->text, "get") || !strcmp(kw->text, "delete")) {
		c->op = kw->text[0] == 'a' ? SETKEY_ADD : kw->text[0] == 'g' ? SETKEY_GET :
									    SETKEY_DELETE;
		/* -4, -6 and -n are accepted and checked against the addresses. */
		while ((t = peek(ps)) && (!strcmp(t->text, "-4") || !strcmp(t->text, "-6") ||
					  !strcmp(t->text, "-n"))) {
			if (t->text[1] != 'n')
				c->family = t->text[1] == '4' ? AF_INET : AF_INET6;
			next(ps);
		}
		if (parse_addr(ps, c, &c->src, &c->sport) || parse_addr(ps, c, &c->dst, &c->dport) ||
		    parse_proto(ps, c) || parse_spi(ps, c))
			return -EINVAL;
		if (c->op != SETKEY_ADD)
			return end(ps);
		return parse_add_options(ps, c);
	}
	if (!strcmp(kw->text, "deleteall")) {
		c->op = SETKEY_DELETEALL;
		if (parse_addr(ps, c, &c->src, &c->sport) || parse_addr(ps, c, &c->dst, &c->dport) ||
		    parse_proto(ps, c))
			return -EINVAL;
		return end(ps);
	}
	if (!strcmp(kw->text, "flush") || !strcmp(kw->text, "dump")) {
		c->op = kw->text[0] == 'f' ? SETKEY_FLUSH : SETKEY_DUMP;
		t = peek(ps);
		if (t && strcmp(t->text, ";") && parse_proto(ps, c))
			return -EINVAL;
		return end(ps);
	}
	if (!strcmp(kw->text, "spddump")) {
		c->op = SETKEY_SPDDUMP;
		return end(ps);
	}
	if (!strcmp(kw->text, "spdadd") || !strcmp(kw->text, "spddelete") ||
	    !strcmp(kw->text, "spdflush") || !strcmp(kw->text, "spdupdate"))
		return perr(ps, kw, "security policies belong to interfaces: they come and go with "
			    "'ipsecifctl ipsecN tunnel SRC DST' (ipsecif(4))");
	return perr(ps, kw, "unknown statement");
}

static int script_push(struct setkey_script *s, const struct setkey_cmd *c)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct setkey_cmd *p = calloc(cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		/* Not realloc: it would free the old copy of the keys unwiped. */
		if (s->cmds) {
			memcpy(p, s->cmds, s->n * sizeof(*p));
			explicit_bzero(s->cmds, s->cap * sizeof(*s->cmds));
			free(s->cmds);
		}
		s->cmds = p;
		s->cap = cap;
	}
	s->cmds[s->n++] = *c;
	return 0;
}

void setkey_script_free(struct setkey_script *s)
{
	if (s->cmds)
		explicit_bzero(s->cmds, s->cap * sizeof(*s->cmds));	/* keys */
	free(s->cmds);
	s->cmds = NULL;
	s->n = s->cap = 0;
}

int setkey_parse(const char *text, size_t len, struct setkey_script *script, char *err,
		 size_t errlen)
{
	struct lexer lx = { .p = text, .end = text + len, .line = 1 };
	struct parse *ps = calloc(1, sizeof(*ps));
	struct setkey_cmd c;
	struct token t;
	int r, ret = 0;

	memset(script, 0, sizeof(*script));
	if (!ps)
		return -ENOMEM;
	ps->err = err;
	ps->errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	for (;;) {
		r = lex(&lx, &t);
		/* Where a key goes (-E ALG KEY, -A ALG KEY), never show what is there. */
		if (r < 0 && ps->n >= 2 && (!strcmp(ps->tok[ps->n - 2].text, "-E") ||
					    !strcmp(ps->tok[ps->n - 2].text, "-A")))
			t.secret = ps->tok[ps->n - 2].text[1] == 'E' ? "the encryption key" :
								       "the authentication key";
		if (r < 0) {
			ret = perr(ps, &t, "%s", t.text[0] == '"' ? "unterminated string" :
				   strstr(t.text, "...") ? "token too long" :
				   "a byte that has no place in a setkey script");
			break;
		}
		if (r > 0 && ps->n == MAX_TOKENS) {
			ret = perr(ps, &t, "statement too long");
			break;
		}
		if (r > 0)
			ps->tok[ps->n++] = t;
		if (r > 0 && strcmp(t.text, ";"))
			continue;
		if (ps->n == 0) {
			if (r == 0)
				break;
			continue;
		}
		if (r > 0 && ps->n == 1) {	/* a lone ';' */
			ps->n = 0;
			continue;
		}
		ps->i = 0;
		ret = statement(ps, &c);
		if (!ret)
			ret = script_push(script, &c);
		explicit_bzero(&c, sizeof(c));
		if (ret || r == 0)
			break;
		ps->n = 0;
	}
	explicit_bzero(&t, sizeof(t));
	explicit_bzero(ps, sizeof(*ps));
	free(ps);
	if (ret)
		setkey_script_free(script);
	return ret;
}
