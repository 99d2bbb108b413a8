// SPDX-License-Identifier: GPL-2.0-only
/*
 * setkey(8) script parser (daemon/setkey.c): the FreeBSD if_ipsec(4)
 * example verbatim and its AEAD variants, the other statements, and a
 * table of malformed lines, each of which must fail naming its line, its
 * token and the reason, and leave the script empty.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "setkey.h"
#include "test.h"

struct test_state T;

static int parse(const char *text, struct setkey_script *s, char *err, size_t errlen)
{
	return setkey_parse(text, strlen(text), s, err, errlen);
}

static void test_freebsd_example(void)
{
	/* if_ipsec(4), host A, as the page has it. */
	static const char *script =
		"add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u 100 -E rijndael-cbc \"VerySecureKey!!1\";\n"
		"add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u 100 -E rijndael-cbc \"VerySecureKey!!2\";\n";
	struct setkey_script s;
	char err[256];
	struct in_addr a;

	test_begin("setkey: the FreeBSD if_ipsec(4) example, verbatim");
	CHECK(parse(script, &s, err, sizeof(err)) == 0, "%s", err);
	CHECK(s.n == 2, "%zu statements", s.n);
	if (s.n == 2) {
		inet_pton(AF_INET, "192.168.0.3", &a);
		CHECK(s.cmds[0].op == SETKEY_ADD && s.cmds[0].family == AF_INET &&
		      s.cmds[0].src.v4 == a.s_addr, "first add");
		CHECK(s.cmds[0].spi == 10000 && s.cmds[1].spi == 10001, "SPIs");
		CHECK(s.cmds[0].reqid == 100 && s.cmds[0].mode == SETKEY_MODE_TUNNEL, "-u, -m");
		CHECK(s.cmds[0].enc == IPSECIF_ENC_AES_CBC && s.cmds[0].auth == IPSECIF_AUTH_NONE,
		      "rijndael-cbc without -A");
		CHECK(s.cmds[1].enc_key_len == 16 && !memcmp(s.cmds[1].enc_key, "VerySecureKey!!2", 16),
		      "key");
		CHECK(s.cmds[1].line == 2, "line %d", s.cmds[1].line);
	}
	setkey_script_free(&s);
	test_end();

	test_begin("setkey: the example with aes-gcm-16 and chacha20-poly1305");
	CHECK(parse("add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u 100 -E aes-gcm-16 "
		    "\"VerySecureKey!!1salt\";\n"
		    "add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u 100 -E chacha20-poly1305 "
		    "\"VerySecureKey!!2VerySecureKey!!2salt\";", &s, err, sizeof(err)) == 0, "%s", err);
	CHECK(s.n == 2 && s.cmds[0].enc == IPSECIF_ENC_AES_GCM16 && s.cmds[0].enc_key_len == 20 &&
	      s.cmds[1].enc == IPSECIF_ENC_CHACHA20_POLY1305 && s.cmds[1].enc_key_len == 36,
	      "suites and key lengths");
	setkey_script_free(&s);
	test_end();
}

static void test_forms(void)
{
	struct setkey_script s;
	char err[256];

	test_begin("setkey: hex keys, HMAC, ports, IPv6, options, comments, other statements");
	CHECK(parse("# a comment\n"
		    "add -6 2001:db8::1 2001:db8::2[4500] esp 0x1000 -m any -r 32 -f esn -f seq-pad\n"
		    "    -lh 3600 -ls 3000 -bh 1000000 -bs 900000\n"
		    "    -E aes-cbc 0x000102030405060708090a0b0c0d0e0f\n"
		    "    -A hmac-sha2-256 0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f ;\n"
		    "get 2001:db8::1 2001:db8::2 esp 4096;\n"
		    "delete 10.0.0.1 10.0.0.2 esp 300; ; \n"
		    "deleteall 10.0.0.1 10.0.0.2 esp;\n"
		    "flush; flush esp; dump; dump esp; spddump;\n", &s, err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(s.n == 9, "%zu statements", s.n);
	if (s.n == 9) {
		const struct setkey_cmd *c = &s.cmds[0];

		CHECK(c->family == AF_INET6 && c->sport == 0 && c->dport == 4500 && c->natt,
		      "addresses");
		CHECK(c->spi == 0x1000 && c->replay == 256 && c->replay_set && c->esn, "spi, -r, -f");
		CHECK(c->hard_time == 3600 && c->soft_time == 3000 && c->hard_bytes == 1000000 &&
		      c->soft_bytes == 900000, "lifetimes");
		CHECK(c->enc_key_len == 16 && c->enc_key[15] == 0x0f && c->auth_key_len == 32 &&
		      c->auth == IPSECIF_AUTH_HMAC_SHA256_128, "keys");
		CHECK(s.cmds[1].op == SETKEY_GET && s.cmds[2].op == SETKEY_DELETE &&
		      s.cmds[3].op == SETKEY_DELETEALL && s.cmds[4].op == SETKEY_FLUSH &&
		      s.cmds[6].op == SETKEY_DUMP && s.cmds[8].op == SETKEY_SPDDUMP, "ops");
		CHECK(s.cmds[1].line == 6 && s.cmds[8].line == 9, "lines %d %d", s.cmds[1].line,
		      s.cmds[8].line);
	}
	setkey_script_free(&s);
	CHECK(parse("", &s, err, sizeof(err)) == 0 && s.n == 0, "empty script");
	CHECK(parse("# nothing\n;;\n", &s, err, sizeof(err)) == 0 && s.n == 0, "comments only");
	setkey_script_free(&s);
	CHECK(parse("add 10.0.0.1 10.0.0.2 esp 1000 -lh 4294967296 -ls 4294967295 -E aes-gcm-16 "
		    "0x0102030405060708090A0B0C0D0E0F1011121314;", &s, err, sizeof(err)) == 0 &&
	      s.n == 1 && s.cmds[0].hard_time == 1ULL << 32 && s.cmds[0].enc_key[9] == 0x0a,
	      "the longest lifetime, upper-case hex: %s", err);
	setkey_script_free(&s);
	/* setkey(8) numbers: decimal, or hex after 0x; a leading zero is not octal. */
	CHECK(parse("add 10.0.0.1 10.0.0.2 esp 0x1000 -lh 010 -ls 09 -r 0x10 -E aes-gcm-16 "
		    "0x0102030405060708090a0b0c0d0e0f1011121314;", &s, err, sizeof(err)) == 0 &&
	      s.n == 1 && s.cmds[0].spi == 0x1000 && s.cmds[0].hard_time == 10 &&
	      s.cmds[0].soft_time == 9, "decimal with a leading zero, hex after 0x: %s", err);
	setkey_script_free(&s);
	test_end();
}

static const struct bad {
	const char *text;
	const char *token;	/* must be quoted in the message */
	const char *why;	/* must be in the message */
} bad[] = {
	{ "bogus 1 2 3;", "bogus", "unknown statement" },
	{ "add;", ";", "an address is missing" },
	{ "add 10.0.0.1;", ";", "an address is missing" },
	{ "add 10.0.0.1 10.0.0.2;", ";", "protocol is missing" },
	{ "add 10.0.0.1 10.0.0.2 ah 1000 -E aes-gcm-16 0x01;", "ah", "ESP only" },
	{ "add 10.0.0.1 10.0.0.2 ipcomp 1000;", "ipcomp", "ESP only" },
	{ "add 10.0.0.1 10.0.0.2 esp;", ";", "SPI is missing" },
	{ "add 10.0.0.1 10.0.0.2 esp 255 -E aes-gcm-16 0x01;", "255", "reserved" },
	{ "add 10.0.0.1 10.0.0.2 esp 0 -E aes-gcm-16 0x01;", "0", "reserved" },
	{ "add 10.0.0.1 10.0.0.2 esp 0x100000000 -E aes-gcm-16 0x01;", "0x100000000", "not an SPI" },
	{ "add 10.0.0.1 10.0.0.2 esp -5 -E aes-gcm-16 0x01;", "-5", "not an SPI" },
	{ "add 10.0.0.1 10.0.0.2 esp 12abc;", "12abc", "not an SPI" },
	{ "add 10.0.0.999 10.0.0.2 esp 1000;", "10.0.0.999", "not an IPv4 or IPv6 address" },
	{ "add host.example 10.0.0.2 esp 1000;", "host.example", "not an IPv4 or IPv6" },
	{ "add 10.0.0.1 2001:db8::2 esp 1000;", "2001:db8::2", "one family" },
	{ "add -6 10.0.0.1 10.0.0.2 esp 1000;", "10.0.0.1", "one family" },
	{ "add 10.0.0.1[0] 10.0.0.2 esp 1000;", "10.0.0.1[0]", "port number" },
	{ "add 10.0.0.1[70000] 10.0.0.2 esp 1000;", "10.0.0.1[70000]", "port number" },
	{ "add 10.0.0.1[45 10.0.0.2 esp 1000;", "10.0.0.1[45", "addr[port]" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000;", ";", "needs an encryption algorithm" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -m;", "-m", "value is missing" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -m beet -E aes-gcm-16 0x01;", "beet", "the mode is tunnel or any" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -m transport -E aes-gcm-16 0x01;", "transport", "transport mode is not supported: ipsecif SAs are tunnel mode" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -u 0 -E aes-gcm-16 0x01;", "0", "reqid is 1 to 16383" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -u 16384 -E aes-gcm-16 0x01;", "16384", "reqid" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -u unique:5 -E aes-gcm-16 0x01;", "unique:5", "reqid" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -r 513 -E aes-gcm-16 0x01;", "513", "replay window" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -r x -E aes-gcm-16 0x01;", "x", "replay window" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -f random-pad -E aes-gcm-16 0x01;", "random-pad", "seq-pad only" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -f zero-pad -E aes-gcm-16 0x01;", "zero-pad", "seq-pad only" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -f what -E aes-gcm-16 0x01;", "what", "-f takes" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh ten -E aes-gcm-16 0x01;", "ten", "not a number" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh 0x -E aes-gcm-16 0x01;", "0x", "not a number" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh 1f -E aes-gcm-16 0x01;", "1f", "not a number" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh \" 5\" -E aes-gcm-16 0x01;", " 5", "not a number" },
	/* Seconds times 10^9 must not wrap in the agent's 64-bit ns (IPSECIF_LIFETIME_MAX_S). */
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh 4294967297 -E aes-gcm-16 0x01;", "4294967297", "the hard lifetime (-lh) is 0 to 4294967296 seconds" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -ls 18446744073709551615 -E aes-gcm-16 0x01;", "18446744073709551615", "the soft lifetime (-ls) is 0 to 4294967296 seconds" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh 18446744074 -E aes-gcm-16 0x01;", "18446744074", "hard lifetime" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -bs -1 -E aes-gcm-16 0x01;", "-1", "not a number" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -lh 10 -ls 20" " -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;", ";", "soft lifetime" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -bh 10 -bs 20" " -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;", ";", "soft byte limit" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -x 1 -E aes-gcm-16 0x01;", "-x", "unknown option" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 tunnel -E aes-gcm-16 0x01;", "tunnel", "expected an option" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -C deflate;", "-C", "IPComp" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E des-cbc 0x0102030405060708;", "des-cbc", "unsupported encryption" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E null;", "null", "unsupported encryption" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E 3des-cbc \"123456789012345678901234\";", "3des-cbc", "unsupported encryption" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16;", ";", "the encryption key is missing" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc \"VerySecureKey!!1\" -A hmac-md5 \"1234567890123456\";", "hmac-md5", "unsupported authentication" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc \"VerySecureKey!!1\" -A hmac-sha1;", ";", "the authentication key is missing" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E;", "-E", "value is missing" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E 0x0102030405060708090a0b0c0d0e0f1011121314;", "-E", "encryption algorithm is missing before the key" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc \"VerySecureKey!!1\" -A \"12345678901234567890\";", "-A", "authentication algorithm is missing before the key" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314 -m \x01;", "\\x01", "no place" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -f esn -r 0 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;", ";", "ESN needs a replay window" },
	{ "get 10.0.0.1 10.0.0.2 esp 1000 extra;", "extra", "should end here" },
	{ "get 10.0.0.1 10.0.0.2 esp 1000", "1000", "not terminated" },
	{ "delete 10.0.0.1 10.0.0.2 esp;", ";", "SPI is missing" },
	{ "deleteall 10.0.0.1 10.0.0.2 esp 1000;", "1000", "should end here" },
	{ "flush ah;", "ah", "ESP only" },
	{ "dump esp esp;", "esp", "should end here" },
	{ "spddump now;", "now", "should end here" },
	{ "spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/tunnel/1.1.1.1-2.2.2.2/require;", "spdadd", "belong to interfaces" },
	{ "spdflush;", "spdflush", "belong to interfaces" },
};

/*
 * Bad keys: the message names the field and the reason, and not one
 * character of what was written as the key (replies and syslog carry it).
 */
#define K20 "0102030405060708090a0b0c0d0e0f1011121314"	/* 20 bytes of key, in hex */

static const struct bad_key {
	const char *text;
	const char *field;	/* "line 1: FIELD: " starts the message */
	const char *secret;	/* must not be in the message */
	const char *why;
} bad_keys[] = {
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x123;", "the encryption key", "123", "even number of digits" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0xzz02030405060708090a0b0c0d0e0f1011121314;", "the encryption key", "zz0203", "not hex" },
	/* strtoul would take a sign: "+1" and "-1" are not hex digits. */
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x+102030405060708090a0b0c0d0e0f1011121314;", "the encryption key", "0203040506", "not hex" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x-102030405060708090a0b0c0d0e0f1011121314;", "the encryption key", "0203040506", "not hex" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc 0x000102030405060708090a0b0c0d0e0f -A hmac-sha1 0x0102030405060708090a0b0c0d0e0f10111213+4;", "the authentication key", "0102030405", "not hex" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 deadbeef;", "the encryption key", "deadbeef", "\"text\" or 0x" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \"\";", "the encryption key", "\"\"", "1 to 64 bytes" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \"VerySecureKey!!1VerySecureKey!!1VerySecureKey!!1VerySecureKey!!1X\";", "the encryption key", "VerySecure", "1 to 64 bytes" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \"unterminated;", "the encryption key", "unterminated;", "unterminated string" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314", "the encryption key", "0102030405", "not terminated" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f101112131\x01;", "the encryption key", "0102030405", "no place" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \xc3\xa9;", "the encryption key", "\\xc3", "no place" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x" K20 K20 K20 K20 K20 K20 K20 ";",
	  "the encryption key", "0102030405", "too long" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x" K20 K20 K20 K20 ";",
	  "the encryption key", "0102030405", "up to 64 bytes" },
	/* A key of the wrong length for its algorithm: the key named, not the statement. */
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x0102;", "the encryption key", "0102;", "aes-gcm-16 key must be" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \"short\";", "the encryption key", "short", "aes-gcm-16 key must be 20, 28 or 36 bytes" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E chacha20-poly1305 \"VerySecureKey!!1\";", "the encryption key", "VerySecure", "36 bytes" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E rijndael-cbc \"VerySecureKey!!\";", "the encryption key", "VerySecure", "16, 24 or 32 bytes" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314 -A hmac-sha1 \"12345678901234567890\";", "the authentication key", "1234567890", "AEAD" },
	{ "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc \"VerySecureKey!!1\" -A hmac-sha2-256 \"short\";", "the authentication key", "short", "hmac-sha2-256 key must be 32 bytes" },
};

/* One bad case: fails, keeps nothing, err has want (and not secret) and why. */
static void check_bad(const char *name, const char *text, const char *want, const char *secret,
		      const char *why)
{
	struct setkey_script s;
	char err[512];
	int ret;

	test_begin(name);
	ret = parse(text, &s, err, sizeof(err));
	CHECK(ret == -EINVAL, "returned %d", ret);
	CHECK(s.n == 0 && !s.cmds, "a statement was kept");
	CHECK(!strncmp(err, "line 1: ", 8), "no line in \"%s\"", err);
	CHECK(strstr(err, want), "\"%s\" not in \"%s\"", want, err);
	CHECK(!secret || !strstr(err, secret), "the key (%s) is in \"%s\"", secret, err);
	CHECK(strstr(err, why), "reason \"%s\" not in \"%s\"", why, err);
	setkey_script_free(&s);
	test_end();
}

static void test_bad(void)
{
	struct setkey_script s;
	char err[512], name[128], quoted[300];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "setkey bad input %zu: %.60s", i + 1, bad[i].text);
		snprintf(quoted, sizeof(quoted), "'%s'", bad[i].token);
		check_bad(name, bad[i].text, quoted, NULL, bad[i].why);
	}
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		snprintf(name, sizeof(name), "setkey bad key %zu: %.70s", i + 1, bad_keys[i].text + 31);
		snprintf(quoted, sizeof(quoted), "line 1: %s: ", bad_keys[i].field);
		check_bad(name, bad_keys[i].text, quoted, bad_keys[i].secret, bad_keys[i].why);
	}
	check_bad("setkey: a wrong-sized key's message gives sizes, not the key",
		  "add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f01;",
		  "line 1: the encryption key: ", "0a0b0c", "got 19");

	test_begin("setkey: an error on line 3 of 4 applies nothing and names line 3");
	ret = parse("flush;\nadd 10.0.0.1 10.0.0.2 esp 1000" "\n -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;\n"
		    "add 10.0.0.1 10.0.0.2 esp 1001 -E bogus 0x01;\nflush;\n", &s, err, sizeof(err));
	CHECK(ret == -EINVAL && s.n == 0, "returned %d with %zu statements", ret, s.n);
	CHECK(!strncmp(err, "line 4: 'bogus'", 15), "\"%s\"", err);
	setkey_script_free(&s);
	test_end();
}

/* NAT-T (RFC 3948): esp-udp as ipsec-tools spells it, or ports; plain esp without. */
static void test_natt(void)
{
	static const struct {
		const char *text;
		bool natt;
		__u16 sport, dport;
	} cases[] = {
		{ "add 10.0.0.1 10.0.0.2 esp 1000", false, 0, 0 },
		{ "add 10.0.0.1 10.0.0.2 esp-udp 1000", true, 0, 0 },
		{ "add 10.0.0.1[4500] 10.0.0.2[14500] esp 1000", true, 4500, 14500 },
		{ "add 10.0.0.1 10.0.0.2[14500] esp-udp 1000", true, 0, 14500 },
	};
	struct setkey_script s;
	char text[256], err[256];
	size_t i;

	test_begin("setkey: esp-udp and addr[port] ask for ESP in UDP, plain esp does not");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s -E aes-gcm-16 0x%040d;", cases[i].text, 0);
		CHECK(parse(text, &s, err, sizeof(err)) == 0 && s.n == 1, "%s: %s", text, err);
		if (s.n == 1)
			CHECK(s.cmds[0].natt == cases[i].natt && s.cmds[0].sport == cases[i].sport &&
			      s.cmds[0].dport == cases[i].dport, "%s", text);
		setkey_script_free(&s);
	}
	CHECK(parse("deleteall 10.0.0.1 10.0.0.2 esp-udp;", &s, err, sizeof(err)) == 0 &&
	      s.n == 1 && s.cmds[0].op == SETKEY_DELETEALL, "deleteall esp-udp: %s", err);
	setkey_script_free(&s);
	test_end();
}

int main(void)
{
	test_freebsd_example();
	test_forms();
	test_natt();
	test_bad();
	return test_summary();
}
