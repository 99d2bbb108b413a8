# SPDX-License-Identifier: GPL-2.0-only
"""
Bad input through ipsecifctl, end to end: every case exits non-zero, its
message names the problem, and the agent's interfaces, SAs, policies and
the namespace's links are exactly as before.  (The parsers' own tables,
with the token each error names, are tests/test_ifcmd.c and
tests/test_setkey.c; this one goes through the CLI, socket and agent.)
"""
import json
import os
import shlex
import socket
import subprocess

import pytest

from agents import CTL, agent_sites, ctl, map_dump, sa_key, setkey
from dp import ROOT
from test_freebsd import hosts  # noqa: F401  (fixture)

GOOD_SA = "add 192.168.0.3 192.168.0.9 esp 20000 -u 100 -E aes-gcm-16 0x" + "66" * 20 + ";\n"

IFCMD = [
    ("ipsec0 bogus", "unknown word"),
    ("ipsec0 reqid", "reqid needs a number"),
    ("ipsec5 create reqid 0", "1 to 16383"),
    ("ipsec5 create reqid 16384", "1 to 16383"),
    ("ipsec5 create reqid -5", "1 to 16383"),
    ("ipsec5 create reqid 10x", "1 to 16383"),
    ("ipsec0 reqid 1 reqid 2", "twice"),
    ("ipsec0 mtu 1400 create", "right after the name"),
    ("ipsec0 destroy now", "stands alone"),
    ("ipsec0 tunnel", "source and a destination"),
    ("ipsec0 tunnel 10.0.0.1", "destination address too"),
    ("ipsec0 tunnel 10.0.0.1 2001:db8::1", "source's family"),
    ("ipsec0 tunnel 10.0.0.300 10.0.0.2", "not an IPv4 or IPv6 address"),
    ("ipsec0 tunnel 10.0.0.1 10.0.0.1", "same address"),
    ("ipsec0 inet tunnel 2001:db8::1 2001:db8::2", "not an IPv4 address"),
    ("ipsec0 inet6 tunnel 10.0.0.1 10.0.0.2", "not an IPv6 address"),
    ("ipsec0 tunnel 10.0.0.1 10.0.0.2 -tunnel", "contradicts"),
    ("ipsec0 inet", "inet needs an address"),
    ("ipsec0 inet 172.16.0.1/33", "1 to 32"),
    ("ipsec0 inet 172.16.0.1/x", "1 to 32"),
    ("ipsec0 inet6 fd00::1/129", "1 to 128"),
    ("ipsec0 inet fd00::1/64", "not an IPv4 address"),
    ("ipsec0 mtu", "mtu needs a number"),
    ("ipsec0 mtu 1279", "1280 to 8192"),
    ("ipsec0 mtu 9000", "1280 to 8192"),
    ("ipsec0 link0 -link0", "contradicts"),
    ("ipsec0 link3", "unknown word"),
    ("ipsec0 up down", "both up and down"),
    ("ipsec0:1 create", "no spaces, '/' or ':'"),
    ("averyveryverylongname create", "1 to 15 characters"),
    # The table's rules, through the agent.
    ("ipsec9 tunnel 192.168.0.3 192.168.0.8", "ipsec9: no such interface"),
    ("ipsec9 destroy", "ipsec9"),
    ("ipsec0 create", "exists"),
    ("ipsec5 create reqid 200", "reqid 200"),
    ("ipsec0 reqid 200", "reqid 200"),
    ("ipsec1 tunnel 192.168.0.3 192.168.0.5", "192.168.0.3"),
    ("ipsec0 tunnel 0.0.0.0 192.168.0.5", "a tunnel's end is a unicast address"),
    ("ipsec0 tunnel 192.168.0.3 224.0.0.9", "a tunnel's end is a unicast address"),
    ("ipsec0 inet 10.9.9.1/24 10.9.9.2 inet 10.9.9.1/24", "the address is given twice"),
    # An address the device has, after one it has not: neither is added.
    ("ipsec0 inet 172.16.9.9/32 inet 172.16.0.3/16 172.16.0.5", "ipsec0: has 172.16.0.3 already"),
    ("ipsec0 -link2 link2", "contradicts"),
]

SETKEY = [
    ("bogus 1 2 3;", "unknown statement"),
    ("add 192.168.0.3 192.168.0.5 esp 10000 -u 100 -E aes-gcm-16 0x" + "11" * 20 + ";",
     "SA 10000 to 192.168.0.5 exists"),
    ("add 10.0.0.1 10.0.0.2 ah 1000 -E aes-gcm-16 0x01;", "ESP only"),
    ("add 10.0.0.1 10.0.0.2 esp 255 -E aes-gcm-16 0x01;", "reserved"),
    ("add 10.0.0.1 10.0.0.2 esp 12abc;", "not an SPI"),
    ("add 10.0.0.999 10.0.0.2 esp 1000;", "not an IPv4 or IPv6 address"),
    ("add 10.0.0.1 2001:db8::2 esp 1000;", "one family"),
    ("add 10.0.0.1[70000] 10.0.0.2 esp 1000;", "port number"),
    ("add 10.0.0.1 10.0.0.2 esp 1000;", "needs an encryption algorithm"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -m beet -E aes-gcm-16 0x01;", "the mode is tunnel or any"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -m transport -E aes-gcm-16 0x01;",
     "transport mode is not supported: ipsecif SAs are tunnel mode"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -lh 18446744074 -E aes-gcm-16 0x01;",
     "the hard lifetime (-lh) is 0 to 4294967296 seconds"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -u 16384 -E aes-gcm-16 0x01;", "reqid"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -r 513 -E aes-gcm-16 0x01;", "replay window"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -lh ten -E aes-gcm-16 0x01;", "not a number"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -lh 10 -ls 20 -E aes-gcm-16 0x" + "01" * 20 + ";",
     "soft lifetime"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E des-cbc 0x0102030405060708;", "unsupported encryption"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x123;", "even number of digits"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \"short\";", "must be 20, 28 or 36 bytes"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E chacha20-poly1305 \"VerySecureKey!!1\";", "36 bytes"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc \"VerySecureKey!!1\" -A hmac-md5 \"1234567890123456\";",
     "unsupported authentication"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \"unterminated;", "unterminated string"),
    ("get 10.0.0.1 10.0.0.2 esp 1000", "not terminated"),
    ("delete 10.0.0.1 10.0.0.2 esp;", "SPI is missing"),
    ("spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/tunnel/1.1.1.1-2.2.2.2/require;",
     "belong to interfaces"),
    ("spdflush;", "belong to interfaces"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 \x01;", "no place"),
]

OPTIONS = [
    (["setkey", "-X"], None, "-D, -DP or -F"),
    (["setkey", "-f", "/nonexistent/ipsecif.conf"], None, "/nonexistent/ipsecif.conf"),
    (["setkey"], None, "-D, -DP or -F"),
    (["-j", "setkey", "-c"], "flush;\n", "-j shows one dump"),
]


# Bad keys: the message names the field, and not one of the key's digits
# shows in what the CLI prints (the agent logs the same message).
SECRET = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e7"
BAD_KEYS = [
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x" + SECRET + "zz;",
     "line 2: the encryption key: not hex"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x+" + SECRET + "0;",
     "line 2: the encryption key: not hex"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x" + SECRET + "0;",
     "line 2: the encryption key: 37 hex digits"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 " + SECRET + ";",
     "line 2: the encryption key: a key is"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x" + SECRET,
     "line 2: the encryption key: statement not terminated"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-cbc 0x" + "00" * 16 + " -A hmac-sha1 0x"
     + SECRET + "-1;", "line 2: the authentication key: not hex"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E 0x" + SECRET + "0102;",
     "the encryption algorithm is missing before the key"),
    ("add 10.0.0.1 10.0.0.2 esp 1000 -E aes-gcm-16 0x" + SECRET * 8 + ";",
     "line 2: the encryption key: token too long"),
]


def state(ns):
    sad = json.loads(ctl(ns, "-j", "setkey", "-D").stdout)["sas"]
    for s in sad:
        del s["age"]
    return (json.loads(ctl(ns, "-j").stdout), sad,
            json.loads(ctl(ns, "-j", "setkey", "-DP").stdout),
            ns("ip", "-br", "link").stdout, ns("ip", "-br", "addr").stdout)


@pytest.fixture
def gateway(hosts):
    a, _ = hosts
    ctl(a, "ipsec0", "create", "reqid", "100")
    ctl(a, "ipsec0", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    ctl(a, "ipsec0", "inet", "172.16.0.3/16", "172.16.0.5")
    ctl(a, "ipsec1", "create", "reqid", "200")
    ctl(a, "ipsec1", "inet", "tunnel", "192.168.0.3", "192.168.0.7")
    r = subprocess.run(["ip", "netns", "exec", a.name, CTL, "setkey", "-c"], text=True,
                       capture_output=True, timeout=30,
                       input="add 192.168.0.3 192.168.0.5 esp 10000 -u 100 -E aes-gcm-16 0x"
                       + "11" * 20 + ";\n")
    assert r.returncode == 0, r.stderr
    return a, state(a)


def run(ns, args, stdin):
    return subprocess.run(["ip", "netns", "exec", ns.name, CTL] + args, input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_enough_cases():
    assert len(IFCMD) + len(SETKEY) + len(OPTIONS) >= 50


def test_bad_input_changes_nothing(gateway):
    a, before = gateway
    cases = [(shlex.split(c), None, m) for c, m in IFCMD]
    # Each bad setkey line follows a good one: a script with an error applies nothing.
    cases += [(["setkey", "-c"], GOOD_SA + bad + "\n", m) for bad, m in SETKEY]
    cases += OPTIONS
    failures = []
    for args, stdin, message in cases:
        r = run(a, args, stdin)
        if r.returncode == 0 or message not in r.stderr:
            failures.append((args, stdin, r.returncode, r.stderr))
        elif state(a) != before:
            failures.append((args, stdin, "state changed"))
    assert not failures, failures


def test_bad_keys_never_echoed(gateway):
    a, before = gateway
    failures = []
    for bad, message in BAD_KEYS:
        r = run(a, ["setkey", "-c"], GOOD_SA + bad + "\n")
        out = r.stdout + r.stderr
        if r.returncode == 0 or message not in r.stderr or SECRET[:8] in out:
            failures.append((bad, r.returncode, out))
        elif state(a) != before:
            failures.append((bad, "state changed"))
    assert not failures, failures


def test_get_or_delete_of_no_such_sa_is_an_error(gateway):
    """As setkey(8) (ESRCH): get or delete of an SA that is not there fails, naming it, and
    changes nothing; a get shows only the SA its addresses and SPI name.  Both used to
    succeed silently: a mistyped SPI left the SA meant to go in the maps."""
    a, before = gateway
    for line in ("get 192.168.0.3 192.168.0.5 esp 9999;", "delete 192.168.0.3 192.168.0.5 esp 9999;",
                 "delete 192.168.0.3 192.168.0.6 esp 10000;"):
        r = run(a, ["setkey", "-c"], line + "\n")
        dst = line.split()[2]
        assert r.returncode != 0 and \
            f"line 1: no SA {line.split()[4][:-1]} from 192.168.0.3 to {dst}" in r.stderr, r
        assert state(a) == before, line
    # Another SA with SPI 10000, to another destination: a get names one.
    r = run(a, ["setkey", "-c"], "add 192.168.0.3 192.168.0.6 esp 10000 -E aes-gcm-16 0x"
            + "22" * 20 + ";\n")
    assert r.returncode == 0, r.stderr
    r = run(a, ["setkey", "-c"], "get 192.168.0.3 192.168.0.5 esp 10000;\n")
    assert r.returncode == 0 and r.stdout.count("spi=10000") == 1, r.stdout
    assert r.stdout.startswith("192.168.0.3 192.168.0.5"), r.stdout
    # A second delete of one SA in a script: the first stands, the second is the error.
    r = run(a, ["setkey", "-c"], "delete 192.168.0.3 192.168.0.6 esp 10000;\n"
            "delete 192.168.0.3 192.168.0.6 esp 10000;\n")
    assert r.returncode != 0 and "line 2: no SA 10000" in r.stderr, r.stderr
    assert "the lines before it were carried out" in r.stderr
    assert state(a) == before


def test_a_failing_add_leaves_the_lines_before_it_in_the_maps(host_bpffs):
    """An add that fails when it is carried out (here: the keys map is full),
    after lines that succeeded: those stand, as setkey(8) has it, and are in the
    data path's maps too, not only in the agent's table; the error names the line."""
    limit = next(int(l.split()[2]) for l in open(os.path.join(ROOT, "include", "ipsecif.h"))
                 if l.startswith("#define IPSECIF_MAX_SAS"))
    with agent_sites(1) as (a,):
        ctl(a, "ipsec0", "create", "reqid", "100", "inet", "tunnel", "10.1.0.1", "10.3.0.1")
        for start in range(0, limit - 1, 4096):     # scripts of at most 1 MB
            fill = "".join(f"add 10.1.0.1 10.2.{i >> 8}.{i & 255} esp {1000 + i} -u 100 "
                           f"-E aes-gcm-16 {sa_key(1000 + i)};\n"
                           for i in range(start, min(start + 4096, limit - 1)))
            assert setkey(a, fill).returncode == 0
        r = setkey(a, f"add 10.1.0.1 10.3.0.1 esp 99999 -u 100 -E aes-gcm-16 {sa_key(9)};\n"
                      f"add 10.1.0.1 10.3.0.2 esp 99998 -u 100 -E aes-gcm-16 {sa_key(8)};\n")
        assert r.returncode == 1 and "line 2: " in r.stderr and "full" in r.stderr, r.stderr
        assert "the lines before it were carried out" in r.stderr, r.stderr
        # Line 1's SA is ipsec0's outbound SA, in sa_out for the data path.
        out = map_dump(a, "sa_out")
        assert [e["value"]["spi"] for e in out] == [socket.htonl(99999)], out
