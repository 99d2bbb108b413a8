// SPDX-License-Identifier: GPL-2.0-only
/*
 * setkey scripts: add, delete, deleteall, flush, get, dump and spddump,
 * as setkey(8) spells them, carried out on the SA database in order.  A
 * script whose adds name an SA that exists, or one twice, is refused
 * whole before anything is done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "errmsg.h"
#include "json.h"
#include "keys.h"
#include "sadb.h"
#include "script.h"
#include "seqstore.h"
#include "setkey.h"
#include "show.h"

/* An SA that exists, or comes twice: the line that adds it, or NULL. */
static const struct setkey_cmd *script_dup(const struct agent *a, const struct setkey_script *sc)
{
	size_t i, j;

	for (i = 0; i < sc->n; i++) {
		const struct setkey_cmd *c = &sc->cmds[i];

		if (c->op != SETKEY_ADD)
			continue;
		for (j = 0; j < a->t.n_sas; j++)
			if (a->t.sas[j].spi == c->spi && a->t.sas[j].family == c->family &&
			    !memcmp(&a->t.sas[j].dst, &c->dst, sizeof(c->dst)))
				return c;
		for (j = 0; j < i; j++)
			if (sc->cmds[j].op == SETKEY_ADD && sc->cmds[j].spi == c->spi &&
			    sc->cmds[j].family == c->family &&
			    !memcmp(&sc->cmds[j].dst, &c->dst, sizeof(c->dst)))
				return c;
	}
	return NULL;
}

static struct ipsecif_key_params script_key(const struct setkey_cmd *c)
{
	return (struct ipsecif_key_params){
		.enc = c->enc, .auth = c->auth, .enc_key = c->enc_key,
		.enc_key_len = c->enc_key_len,
		.auth_key = c->auth_key_len ? c->auth_key : NULL,
		.auth_key_len = c->auth_key_len, .allow_no_auth = true,
	};
}

static int script_add(struct agent *a, const struct setkey_cmd *c, struct out *o, char *err,
		      size_t errlen)
{
	struct ipsecif_key_params p = script_key(c);
	struct table_sa t = { .spi = c->spi, .family = c->family, .src = c->src,
			      .dst = c->dst, .reqid = c->reqid,
			      .flags = (c->esn ? IPSECIF_SA_F_ESN : 0) |
				       (c->natt ? IPSECIF_SA_F_NATT : 0),
			      .replay = c->replay_set ? c->replay : IPSECIF_REPLAY_WINDOW_DEFAULT,
			      /* RFC 3948 §2.1: port 4500 unless given */
			      .sport = c->natt ? (c->sport ?: IPSECIF_NATT_PORT) : 0,
			      .dport = c->natt ? (c->dport ?: IPSECIF_NATT_PORT) : 0,
			      .soft_bytes = c->soft_bytes, .hard_bytes = c->hard_bytes,
			      .soft_time = c->soft_time, .hard_time = c->hard_time,
			      .added = mono_ns(), .enc = c->enc, .auth = c->auth };
	/* A manual key: its sequence numbers come from the store (seqstore.c). */
	int ret = seqstore_fingerprint(a, &p, t.seq_fp, err, errlen);

	if (!ret)
		ret = sadb_install(a, &t, &p, err, errlen);

	if (!ret)
		sadb_touch(a, t.reqid);

	if (!ret && ipsecif_key_insecure(&p))
		out_text(o, "warning: SA %u encrypts without authentication: insecure "
			 "(RFC 4303 §3.2)\n", c->spi);
	return ret;
}

/* Whether SA s is one that line c names: all (flush, dump), those of its pair, or its one. */
static bool script_names(const struct setkey_cmd *c, const struct table_sa *s)
{
	if (c->op == SETKEY_FLUSH || c->op == SETKEY_DUMP)
		return true;
	return s->family == c->family && !memcmp(&s->src, &c->src, sizeof(c->src)) &&
	       !memcmp(&s->dst, &c->dst, sizeof(c->dst)) &&
	       (c->op == SETKEY_DELETEALL || s->spi == c->spi);
}

/* delete, deleteall, flush: the SAs line c names go; how many. */
static size_t script_delete(struct agent *a, const struct setkey_cmd *c)
{
	size_t j, n = 0;

	for (j = a->t.n_sas; j-- > 0;) {
		const struct table_sa *s = &a->t.sas[j];

		if (script_names(c, s)) {
			sadb_touch(a, s->reqid);
			sadb_forget(a, j, false);
			n++;
		}
	}
	return n;
}

/* Four policies an interface (ipsecif(4)), for every interface. */
static int script_spddump(struct agent *a, struct out *o)
{
	size_t max = 4 * a->t.n_ifaces + 1, np, j;
	struct table_policy *pol = calloc(max, sizeof(*pol));

	if (!pol)
		return -ENOMEM;
	np = table_policies(&a->t, pol, max);
	for (j = 0; j < np; j++)
		show_policy(o, &pol[j]);
	free(pol);
	return 0;
}

int script_run(struct agent *a, const struct ctl_req *req, char *out, size_t len)
{
	bool json = req->flags & CTL_F_JSON;
	const struct setkey_cmd *dup;
	struct setkey_script sc;
	char err[512], addr[INET6_ADDRSTRLEN], addr2[INET6_ADDRSTRLEN];
	struct out o;
	size_t i, j, n;
	int ret;

	out[0] = 0;
	ret = setkey_parse(req->text, req->len, &sc, err, sizeof(err));
	if (ret)
		return errmsg(out, len, ret, "ipsecifctl: setkey: %s\n", err);
	if (json && (sc.n != 1 || (sc.cmds[0].op != SETKEY_DUMP && sc.cmds[0].op != SETKEY_GET &&
				   sc.cmds[0].op != SETKEY_SPDDUMP))) {
		ret = errmsg(out, len, -EINVAL, "ipsecifctl: setkey: -j shows one dump, get or "
			     "spddump, alone\n");
		goto done;
	}
	for (i = 0; i < sc.n; i++)
		a->writes |= sc.cmds[i].op != SETKEY_DUMP && sc.cmds[i].op != SETKEY_GET &&
			     sc.cmds[i].op != SETKEY_SPDDUMP;
	dup = script_dup(a, &sc);
	if (dup) {
		ret = errmsg(out, len, -EEXIST, "ipsecifctl: setkey: line %d: SA %u to %s exists\n",
			     dup->line, dup->spi,
			     inet_ntop(dup->family, &dup->dst, addr, sizeof(addr)) ?: "?");
		goto done;
	}
	out_init(&o, out, len, json);
	out_open_object(&o, NULL);
	out_open_array(&o, sc.n && sc.cmds[0].op == SETKEY_SPDDUMP ? "policies" : "sas");
	for (i = 0; i < sc.n; i++) {
		const struct setkey_cmd *c = &sc.cmds[i];

		n = 0;
		switch (c->op) {
		case SETKEY_ADD:
			ret = script_add(a, c, &o, err, sizeof(err));
			if (ret) {
				/* As setkey(8): what the lines before did stands, in the maps too. */
				sadb_changed(a);
				ret = errmsg(out, len, ret, "ipsecifctl: setkey: line %d: %s%s\n",
					     c->line, err, i ? " (the lines before it were carried "
					     "out)" : "");
				goto done;
			}
			break;
		case SETKEY_DELETE:
		case SETKEY_DELETEALL:
		case SETKEY_FLUSH:
			n = script_delete(a, c);
			break;
		case SETKEY_DUMP:
		case SETKEY_GET:
			for (j = 0, n = 0; j < a->t.n_sas; j++)
				if (script_names(c, &a->t.sas[j])) {
					show_sa(&o, a, &a->t.sas[j]);
					n++;
				}
			break;
		case SETKEY_SPDDUMP:
			ret = script_spddump(a, &o);
			if (ret) {
				ret = errmsg(out, len, ret, "ipsecif-agent: out of memory\n");
				goto done;
			}
			break;
		}
		/* As setkey(8): get or delete of an SA there is not is an error (ESRCH). */
		if ((c->op == SETKEY_GET || c->op == SETKEY_DELETE) && !n) {
			ret = errmsg(out, len, -ESRCH, "ipsecifctl: setkey: line %d: no SA %u from "
				     "%s to %s%s\n", c->line, c->spi,
				     inet_ntop(c->family, &c->src, addr, sizeof(addr)) ?: "?",
				     inet_ntop(c->family, &c->dst, addr2, sizeof(addr2)) ?: "?",
				     i ? " (the lines before it were carried out)" : "");
			goto done;
		}
	}
	if (a->n_touched)	/* SAs came or went: a dump alone changes nothing */
		sadb_changed(a);
	out_close(&o);
	out_close(&o);
	ret = 0;
done:
	if (a->n_touched)	/* what a refused line left: those before it stay */
		sadb_changed(a);
	setkey_script_free(&sc);
	return ret;
}
