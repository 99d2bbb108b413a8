// SPDX-License-Identifier: GPL-2.0-only
/*
 * The output writer (daemon/json.h): one call per field gives the text
 * form or the JSON member; members are separated, nested and escaped by
 * the writer; output that does not fit is cut and said to be.
 */
#include <string.h>
#include "json.h"
#include "test.h"

struct test_state T;

/* The same calls for both forms, as a show function makes them. */
static void sample(struct out *o, const char *name)
{
	out_open_object(o, NULL);
	print_string(o, PRINT_ANY, "name", "%s:", name);
	print_u64(o, PRINT_ANY, "mtu", " mtu %llu", 1400);
	print_s64(o, PRINT_JSON, "delta", NULL, -3);
	print_bool(o, PRINT_ANY, "dying", " dying", true);
	print_bool(o, PRINT_ANY, "up", " up", false);
	out_open_array(o, "flags");
	print_string(o, PRINT_ANY, NULL, " %s", "link0");
	print_string(o, PRINT_ANY, NULL, ",%s", "link2");
	out_close(o);
	out_open_array(o, "sas");
	out_close(o);
	print_null(o, "tunnel");
	out_text(o, "\n");
	out_close(o);
}

int main(void)
{
	char buf[512];
	struct out o;

	test_begin("json: members, nesting, types");
	out_init(&o, buf, sizeof(buf), true);
	sample(&o, "ipsec0");
	CHECK(!strcmp(buf, "{\"name\": \"ipsec0\", \"mtu\": 1400, \"delta\": -3, \"dying\": true, "
		      "\"up\": false, \"flags\": [\"link0\", \"link2\"], \"sas\": [], "
		      "\"tunnel\": null}\n"), "got %s", buf);
	CHECK(!out_cut(&o), "cut");
	test_end();

	test_begin("text: the same calls, the text forms");
	out_init(&o, buf, sizeof(buf), false);
	sample(&o, "ipsec0");
	CHECK(!strcmp(buf, "ipsec0: mtu 1400 dying link0,link2\n"), "got '%s'", buf);
	test_end();

	test_begin("json: quotes, backslashes and control characters escaped (RFC 8259 §7)");
	out_init(&o, buf, sizeof(buf), true);
	sample(&o, "a\"b\\c\n\x01");
	{
		const char *want = "{\"name\": \"a\\\"b\\\\c\\u000a\\u0001\", ";

		CHECK(!strncmp(buf, want, strlen(want)), "got %s", buf);
	}
	test_end();

	test_begin("json: keys are escaped too; arrays of objects");
	out_init(&o, buf, sizeof(buf), true);
	out_open_object(&o, NULL);
	out_open_array(&o, "x\"y");
	out_open_object(&o, NULL);
	print_u64(&o, PRINT_ANY, "a", NULL, 1);
	out_close(&o);
	out_open_object(&o, NULL);
	print_u64(&o, PRINT_ANY, "a", NULL, 2);
	out_close(&o);
	out_close(&o);
	out_close(&o);
	CHECK(!strcmp(buf, "{\"x\\\"y\": [{\"a\": 1}, {\"a\": 2}]}\n"), "got %s", buf);
	test_end();

	test_begin("a buffer too small: cut, NUL-terminated, and said to be");
	out_init(&o, buf, 16, true);
	sample(&o, "ipsec0");
	CHECK(out_cut(&o) && strlen(buf) == 15, "cut %d len %zu", out_cut(&o), strlen(buf));
	CHECK(o.n > 100, "counted %zu", o.n);
	test_end();

	return test_summary();
}
