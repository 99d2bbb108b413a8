/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent's one writer of output, text and JSON alike (bpftool's
 * json_writer and iproute2's print_*(PRINT_ANY, ...) are the models): a
 * show command makes one call per field, and the call prints the field's
 * text form, its JSON member, or both, as the request asked.  Objects and
 * arrays nest; members are separated and strings escaped here, so no
 * caller ever writes a comma, a quote or a brace of JSON itself.
 *
 * Output goes into the caller's buffer; what does not fit is counted, not
 * written (out_cut() tells), so a reply is sent whole or not at all.
 */
#ifndef IPSECIF_JSON_H
#define IPSECIF_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define OUT_DEPTH	8

enum print_kind {
	PRINT_TEXT = 1,		/* the text form only */
	PRINT_JSON = 2,		/* the JSON member only */
	PRINT_ANY = 3,		/* each in its own form */
};

struct out {
	char *buf;
	size_t len;		/* room in buf */
	size_t n;		/* bytes written, or that would have been */
	bool json;
	int depth;		/* open objects and arrays */
	bool member[OUT_DEPTH];	/* the open one has a member already */
	bool array[OUT_DEPTH];	/* the open one is an array */
};

void out_init(struct out *o, char *buf, size_t len, bool json);
/* More output was asked for than buf holds. */
bool out_cut(const struct out *o);

/* Text output only (a JSON writer ignores it), printf-style. */
void out_text(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * An object or array opens as a member named key (NULL inside an array or
 * at the top); in text mode these print nothing.  Closing the outermost
 * one ends the JSON document with a newline.
 */
void out_open_object(struct out *o, const char *key);
void out_open_array(struct out *o, const char *key);
void out_close(struct out *o);

/*
 * One field: its text form is fmt with the value (PRINT_TEXT, PRINT_ANY),
 * its JSON member is key and the value (PRINT_JSON, PRINT_ANY).  key NULL:
 * an array element.  print_bool's text form is fmt as it is, when v.
 */
void print_string(struct out *o, enum print_kind k, const char *key, const char *fmt,
		  const char *v);
void print_u64(struct out *o, enum print_kind k, const char *key, const char *fmt,
	       unsigned long long v);
void print_s64(struct out *o, enum print_kind k, const char *key, const char *fmt, long long v);
void print_bool(struct out *o, enum print_kind k, const char *key, const char *fmt, bool v);
/* JSON null (no text form). */
void print_null(struct out *o, const char *key);

#endif /* IPSECIF_JSON_H */
