# SPDX-License-Identifier: GPL-2.0-only
"""
The FreeBSD if_ipsec(4) example, with ifconfig and setkey replaced by
ipsecifctl, between two namespaces:

    host A  ul0 192.168.0.3/24 ---- veth ---- ul0 192.168.0.5/24  host B
            ipsec0 172.16.0.3/16 -> 172.16.0.5     ipsec0 172.16.0.5/16 -> 172.16.0.3
            reqid 100                              reqid 200

As the page has it (encryption-only rijndael-cbc, with the warning it
deserves), and the same with aes-gcm-16 and chacha20-poly1305.
"""
import json
import socket
import subprocess
import time

import pytest

from agents import ctl, freebsd_hosts, map_dump, pin_dir, run_in, sa_ctr, setkey, CTL
from sites import transfer

PAGE = [
    'add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u {reqid} -E {alg} {k1};',
    'add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u {reqid} -E {alg} {k2};',
]
VARIANTS = {
    "rijndael-cbc": ('"VerySecureKey!!1"', '"VerySecureKey!!2"'),
    "aes-gcm-16": ("0x" + "11" * 20, "0x" + "22" * 20),
    "chacha20-poly1305": ("0x" + "33" * 36, "0x" + "44" * 36),
}


@pytest.fixture
def hosts(host_bpffs):
    with freebsd_hosts() as ab:
        yield ab


@pytest.mark.parametrize("alg", list(VARIANTS))
def test_freebsd_example(hosts, alg):
    a, b = hosts
    k1, k2 = VARIANTS[alg]
    for ns, reqid, me, peer in ((a, 100, "192.168.0.3", "192.168.0.5"),
                                (b, 200, "192.168.0.5", "192.168.0.3")):
        inner_me = "172.16.0.3" if ns is a else "172.16.0.5"
        inner_peer = "172.16.0.5" if ns is a else "172.16.0.3"
        ctl(ns, "ipsec0", "create", "reqid", str(reqid))
        ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
        ctl(ns, "ipsec0", "inet", f"{inner_me}/16", inner_peer)
        r = setkey(ns, "\n".join(PAGE).format(reqid=reqid, alg=alg, k1=k1, k2=k2) + "\n")
        assert r.returncode == 0, r.stderr
        assert ("encrypts without authentication" in r.stdout) == (alg == "rijndael-cbc")
        dump = setkey(ns, "dump;\n").stdout
        assert dump.count("active") == 2 and "inactive" not in dump, dump
    r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # And TCP, content hashed both ends.
    transfer(a, b, "172.16.0.5", size=2 * 1000 * 1000)
    # The traffic crossed as ESP: B's inbound SA (10000) counted A's pings.
    # The SA in sa_in by SPI, its counters in sa_ctr at its slot.
    by_spi = {e["value"]["spi"]: e["value"] for e in map_dump(b, "sa_in")}
    v = by_spi[socket.htonl(10000)]
    assert v["reqid"] == 200
    ctr = sa_ctr(b, v["id"])
    assert ctr["packets"] >= 3 + 2 * 1000 * 1000 // 1500 and ctr["bytes"] > 2 * 1000 * 1000


def test_setkey_errors_apply_nothing(hosts):
    a, _ = hosts
    ctl(a, "ipsec0", "create", "reqid", "100")
    good = PAGE[0].format(reqid=100, alg="aes-gcm-16", k1="0x" + "11" * 20, k2="")
    r = setkey(a, good + "\nadd 192.168.0.5 192.168.0.3 esp 10001 -E bogus 0x01;\n")
    assert r.returncode == 1 and "line 2: 'bogus'" in r.stderr
    assert "spi" not in setkey(a, "dump;\n").stdout
    assert setkey(a, good + "\n").returncode == 0
    r = setkey(a, good + "\n")
    assert r.returncode == 1 and "SA 10000 to 192.168.0.5 exists" in r.stderr
    r = setkey(a, "spdadd 10.0.0.0/8 10.1.0.0/16 any -P out ipsec esp/tunnel//require;\n")
    assert r.returncode == 1 and "belong to interfaces" in r.stderr
    # setkey(8)'s own spellings: -D dumps SAs, -DP policies, -F flushes.
    assert "spi=10000" in ctl(a, "setkey", "-D").stdout
    ctl(a, "ipsec0", "tunnel", "192.168.0.3", "192.168.0.5")
    assert "192.168.0.3 192.168.0.5 ipv4 -P out ipsec" in ctl(a, "setkey", "-DP").stdout
    ctl(a, "setkey", "-F")
    assert "spi" not in ctl(a, "setkey", "-D").stdout
    r = ctl(a, "setkey", "-X", check=False)
    assert r.returncode == 2 and "-D, -DP or -F" in r.stderr


def test_setkey_json(hosts):
    """setkey -D and -DP as JSON, parsed, agreeing with the data path."""
    a, b = hosts
    for ns, reqid, me, peer in ((a, 100, "192.168.0.3", "192.168.0.5"),
                                (b, 200, "192.168.0.5", "192.168.0.3")):
        ctl(ns, "ipsec0", "create", "reqid", str(reqid))
        ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
        ctl(ns, "ipsec0", "inet", "172.16.0.%s/16" % me[-1], "172.16.0.%s" % peer[-1])
        r = setkey(ns, "\n".join(PAGE).format(reqid=reqid, alg="aes-gcm-16",
                                              k1="0x" + "11" * 20, k2="0x" + "22" * 20)
                   + "\nadd 192.168.0.9 192.168.0.3 esp 7000 -u 999 -E aes-gcm-16 0x%s;\n" % ("ab" * 20))
        assert r.returncode == 0, r.stderr
    r = a("ping", "-c", "4", "-i", "0.1", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout
    sas = {s["spi"]: s for s in json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]}
    assert set(sas) == {10000, 10001, 7000}
    out, inn = sas[10000], sas[10001]
    assert (out["src"], out["dst"], out["reqid"], out["state"]) == \
        ("192.168.0.3", "192.168.0.5", 100, "active")
    assert sas[7000]["state"] == "inactive" and sas[7000]["packets"] == 0
    # ping's 84-byte IPv4 packets, counted as inner bytes, each way.
    assert out["packets"] == 4 and out["bytes"] == 4 * 84, out
    assert inn["packets"] == 4 and inn["bytes"] == 4 * 84, inn
    assert out["replay"] > 0 and out["esn"] is False and out["natt"] == [0, 0]
    # The text dump says the same.
    assert "current: bytes=336 packets=4" in ctl(a, "setkey", "-D").stdout
    # And ipsecifctl ipsec0: its SAs, and its counters both ways.
    shown = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]
    assert sorted((s["spi"], s["dir"]) for s in shown["sas"]) == [(10000, "out"), (10001, "in")]
    assert (shown["packets"], shown["bytes"]) == (8, 8 * 84), shown
    assert set(shown["drops"]) >= {"no_sa", "replay", "auth", "expired"}
    assert not any(shown["drops"].values()), shown["drops"]
    text = ctl(a, "ipsec0").stdout
    assert "\tsa 10000 out packets 4\n" in text and "packets 8 bytes 672 drops 0" in text, text
    pols = json.loads(ctl(a, "-j", "setkey", "-DP").stdout)["policies"]
    assert sorted((p["dir"], p["inner"]) for p in pols) == \
        [("in", "ipv4"), ("in", "ipv6"), ("out", "ipv4"), ("out", "ipv6")]
    assert all(p["reqid"] == 100 and p["interface"] == "ipsec0" and p["action"] == "ipsec"
               for p in pols)
    outp = next(p for p in pols if p["dir"] == "out")
    assert (outp["src"], outp["dst"]) == ("192.168.0.3", "192.168.0.5")
    # -j shows; it does not change.
    r = subprocess.run(["ip", "netns", "exec", a.name, CTL, "-j", "setkey", "-c"],
                       input="flush;\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "-j shows one dump" in r.stderr
    assert len(json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]) == 3
    ctl(a, "setkey", "-F")
    assert json.loads(ctl(a, "-j", "setkey", "-D").stdout) == {"sas": []}


def test_reqid_change(hosts):
    """A new reqid regenerates the policies; SAs of the old one stop matching."""
    a, _ = hosts
    ctl(a, "ipsec0", "create", "reqid", "100")
    ctl(a, "ipsec0", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    r = setkey(a, PAGE[0].format(reqid=100, alg="aes-gcm-16", k1="0x" + "11" * 20, k2="") + "\n")
    assert r.returncode == 0, r.stderr

    def view():
        pols = json.loads(ctl(a, "-j", "setkey", "-DP").stdout)["policies"]
        sas = json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]
        return {p["reqid"] for p in pols}, len(pols), sas[0]["state"]

    assert view() == ({100}, 4, "active")
    ctl(a, "ipsec0", "reqid", "300")
    assert view() == ({300}, 4, "inactive")
    assert json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]["sas"] == []
    ctl(a, "ipsec0", "reqid", "100")
    assert view() == ({100}, 4, "active")


def test_automatic_mtu(hosts):
    """ipsecN's MTU follows the underlay, the outbound suite and link0, until "mtu N"."""
    a, _ = hosts

    def mtu():
        # Device, ipsecifctl and the data path agree (once the agent is done).
        for _ in range(20):
            dev = int(a("cat", "/sys/class/net/ipsec0/mtu").stdout)
            shown = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]["mtu"]
            dp = json.loads(run_in(a, "bpftool", "-j", "map", "dump", "pinned",
                                   f"{pin_dir(a)}/ifaces").stdout)[0]["formatted"]["value"]["mtu"]
            if dev == shown == dp:
                return dev
            time.sleep(0.05)
        raise AssertionError((dev, shown, dp))

    ctl(a, "ipsec0", "create", "reqid", "100")
    ctl(a, "ipsec0", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    m0 = mtu()
    a("ip", "link", "set", "ul0", "mtu", "4000")
    # No command needed: the agent notices the underlay's new MTU.
    end = time.time() + 3
    while time.time() < end and int(a("cat", "/sys/class/net/ipsec0/mtu").stdout) != m0 + 2500:
        time.sleep(0.1)
    assert mtu() == m0 + 2500
    r = setkey(a, PAGE[0].format(reqid=100, alg="aes-gcm-16", k1="0x" + "11" * 20, k2="") + "\n")
    assert r.returncode == 0, r.stderr
    m2 = mtu()
    assert m2 > m0 + 2500       # GCM's overhead is below CBC+HMAC's worst case
    ctl(a, "ipsec0", "link0")
    assert mtu() == m2 - 8      # the UDP header of NAT-T (RFC 3948)
    ctl(a, "ipsec0", "mtu", "1400")
    setkey(a, "add 192.168.0.3 192.168.0.5 esp 10005 -u 100 -E rijndael-cbc \"VerySecureKey!!3\";\n")
    assert mtu() == 1400        # fixed by hand: left alone
