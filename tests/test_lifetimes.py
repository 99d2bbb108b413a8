# SPDX-License-Identifier: GPL-2.0-only
"""
SA lifetimes through the agent (RFC 4301 §4.4.2.1): -ls/-lh in seconds,
counted by the agent; -bs/-bh in bytes, counted by the data path, whose
events the agent consumes.  Soft marks the SA dying; hard removes it.
"""
import json
import time

from agents import agent, ctl, wait_gone
from test_freebsd import hosts, setkey  # noqa: F401  (fixture)

KEY = "0x" + "11" * 20


def up(a, b, a_out="", b_in="", keys=(KEY, KEY)):
    """The example's tunnel; keys: A's outbound SA's (10000) and B's (10001)."""
    for ns, reqid, me, peer in ((a, 100, "192.168.0.3", "192.168.0.5"),
                                (b, 200, "192.168.0.5", "192.168.0.3")):
        ctl(ns, "ipsec0", "create", "reqid", str(reqid))
        ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
        ctl(ns, "ipsec0", "inet", "172.16.0.%s/16" % me[-1], "172.16.0.%s" % peer[-1])
        lim = a_out if ns is a else b_in
        r = setkey(ns, f"add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u {reqid} {lim} "
                       f"-E aes-gcm-16 {keys[0]};\n"
                       f"add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u {reqid} "
                       f"-E aes-gcm-16 {keys[1]};\n")
        assert r.returncode == 0, r.stderr


def sa(ns, spi):
    for s in json.loads(ctl(ns, "-j", "setkey", "-D").stdout)["sas"]:
        if s["spi"] == spi:
            return s
    return None


def wait_for(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def ping(ns, n):
    r = ns("ping", "-c", str(n), "-i", "0.05", "-W", "1", "172.16.0.5", check=False)
    return int(r.stdout.split("\n")[-3].split(",")[1].split()[0])


def test_time_lifetimes(hosts):
    a, b = hosts
    up(a, b, a_out="-ls 1 -lh 3")
    s = sa(a, 10000)
    assert (s["soft_time"], s["hard_time"], s["dying"]) == (1, 3, False)
    assert ping(a, 2) == 2
    assert wait_for(lambda: sa(a, 10000)["dying"], 3)
    assert " dying" in ctl(a, "setkey", "-D").stdout
    assert ping(a, 2) == 2          # dying still carries traffic
    assert wait_for(lambda: sa(a, 10000) is None, 4)
    assert sa(a, 10001) is not None  # the other SA lives on
    assert ping(a, 2) == 0          # no outbound SA: nothing leaves


def test_byte_lifetimes(hosts):
    a, b = hosts
    # B's inbound SA: ping's 84-byte packets, soft after 5, hard after 10.
    up(a, b, b_in="-bs 400 -bh 800")
    assert ping(a, 6) == 6
    assert wait_for(lambda: sa(b, 10000)["dying"], 3)
    assert sa(b, 10000)["bytes"] == 6 * 84
    got = ping(a, 8)
    assert got < 8, got
    assert wait_for(lambda: sa(b, 10000) is None, 3)
    assert sa(b, 10001) is not None


def test_hard_time_lifetime_holds_without_the_agent(hosts):
    """The hard time lifetime is a deadline in the SA's map entry, checked by the
    data path: with the agent stopped (the data path running on), the SA still
    stops carrying traffic on time, and each packet refused is counted."""
    a, b = hosts
    added = time.monotonic()
    up(a, b, a_out="-lh 3")
    assert ping(a, 2) == 2
    agent(a, "stop")
    wait_gone(a)
    assert ping(a, 2) == 2          # the data path runs on without the agent
    time.sleep(max(0.0, added + 3.3 - time.monotonic()))
    assert ping(a, 3) == 0          # past the deadline: nothing leaves
    agent(a, "start")               # adopts, and removes the SA as expired
    shown = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]
    assert shown["drops"]["expired"] == 3, shown["drops"]
    assert wait_for(lambda: sa(a, 10000) is None, 2)
