// SPDX-License-Identifier: GPL-2.0-only
/* The output writer: text and JSON from one call per field (json.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "json.h"

void out_init(struct out *o, char *buf, size_t len, bool json)
{
	memset(o, 0, sizeof(*o));
	o->buf = buf;
	o->len = len;
	o->json = json;
	if (len)
		buf[0] = 0;
}

bool out_cut(const struct out *o)
{
	return o->n >= o->len;
}

static void out_vprintf(struct out *o, const char *fmt, va_list ap)
{
	int w = vsnprintf(o->buf + (o->n < o->len ? o->n : o->len),
			  o->n < o->len ? o->len - o->n : 0, fmt, ap);

	if (w > 0)
		o->n += w;
}

static void __attribute__((format(printf, 2, 3))) out_raw(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vprintf(o, fmt, ap);
	va_end(ap);
}

void out_text(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json)
		return;
	va_start(ap, fmt);
	out_vprintf(o, fmt, ap);
	va_end(ap);
}

/* A JSON string: quotes, backslashes and control characters escaped (RFC 8259 §7). */
static void json_string(struct out *o, const char *s)
{
	const unsigned char *p;

	out_raw(o, "\"");
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			out_raw(o, "\\%c", *p);
		else if (*p < 0x20)
			out_raw(o, "\\u%04x", *p);
		else
			out_raw(o, "%c", *p);
	}
	out_raw(o, "\"");
}

/* The separator and name that go before a member. */
static void json_member(struct out *o, const char *key)
{
	if (o->depth > 0) {
		if (o->member[o->depth - 1])
			out_raw(o, ", ");
		o->member[o->depth - 1] = true;
		if (key && !o->array[o->depth - 1]) {
			json_string(o, key);
			out_raw(o, ": ");
		}
	}
}

static void open_one(struct out *o, const char *key, bool array)
{
	if (!o->json)
		return;
	json_member(o, key);
	out_raw(o, array ? "[" : "{");
	if (o->depth < OUT_DEPTH) {
		o->member[o->depth] = false;
		o->array[o->depth] = array;
	}
	o->depth++;
}

void out_open_object(struct out *o, const char *key)
{
	open_one(o, key, false);
}

void out_open_array(struct out *o, const char *key)
{
	open_one(o, key, true);
}

void out_close(struct out *o)
{
	if (!o->json || !o->depth)
		return;
	o->depth--;
	out_raw(o, o->depth < OUT_DEPTH && o->array[o->depth] ? "]" : "}");
	if (!o->depth)
		out_raw(o, "\n");
}

void print_string(struct out *o, enum print_kind k, const char *key, const char *fmt,
		  const char *v)
{
	if (o->json && (k & PRINT_JSON)) {
		json_member(o, key);
		json_string(o, v);
	} else if (!o->json && (k & PRINT_TEXT) && fmt) {
		out_raw(o, fmt, v);
	}
}

void print_u64(struct out *o, enum print_kind k, const char *key, const char *fmt,
	       unsigned long long v)
{
	if (o->json && (k & PRINT_JSON)) {
		json_member(o, key);
		out_raw(o, "%llu", v);
	} else if (!o->json && (k & PRINT_TEXT) && fmt) {
		out_raw(o, fmt, v);
	}
}

void print_s64(struct out *o, enum print_kind k, const char *key, const char *fmt, long long v)
{
	if (o->json && (k & PRINT_JSON)) {
		json_member(o, key);
		out_raw(o, "%lld", v);
	} else if (!o->json && (k & PRINT_TEXT) && fmt) {
		out_raw(o, fmt, v);
	}
}

void print_bool(struct out *o, enum print_kind k, const char *key, const char *fmt, bool v)
{
	if (o->json && (k & PRINT_JSON)) {
		json_member(o, key);
		out_raw(o, v ? "true" : "false");
	} else if (!o->json && (k & PRINT_TEXT) && fmt && v) {
		out_raw(o, "%s", fmt);
	}
}

void print_null(struct out *o, const char *key)
{
	if (!o->json)
		return;
	json_member(o, key);
	out_raw(o, "null");
}
