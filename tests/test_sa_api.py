# SPDX-License-Identifier: GPL-2.0-only
"""
The agent's SA API for key managers (CTL_REQ_SA) and its event
subscription (CTL_REQ_EVENTS), driven as the kernel-ipsecif plugin
drives them, between the two sites of test_ike (no charon here).
"""
import json
import os
import struct
import subprocess
import time
from collections import Counter

import pytest
from scapy.layers.inet import IP

from agents import agent, ctl, wait_gone
from charon import wait_for
from saapi import HDR, MAGIC, VERSION, REQ_SA, F_ESN, F_NATT, SaClient
from sites import Capture
from test_ike import INNER, REQID, UL, ping, sites  # noqa: F401  (fixture)


@pytest.fixture
def api(sites):
    clients = [SaClient(s.ns) for s in sites]
    yield clients
    for c in clients:
        c.close()


def sa_pair(api, spi_ab, spi_ba, enc="aes-gcm-16", klen=20, flags=0, **lt):
    """A->B and B->A SAs on both sites, keys shared; SPIs as given."""
    k_ab, k_ba = os.urandom(klen).hex(), os.urandom(klen).hex()
    for c, side in zip(api, "ab"):
        for spi, src, dst, key in ((spi_ab, UL["a"], UL["b"], k_ab),
                                   (spi_ba, UL["b"], UL["a"], k_ba)):
            extra = lt if side == "a" and src == UL["a"] else {}
            r = c.call(op="add", spi=spi, src=src, dst=dst, reqid=REQID[side], enc=enc,
                       enc_key=key, flags=flags, **extra)
            assert r["status"] == 0 and r["active"], r


def test_getspi_unique(api):
    a, _ = api
    spis = [a.call(op="getspi")["spi"] for _ in range(200)]
    assert len(set(spis)) == 200 and min(spis) >= 256
    # One handed out and never added (a failed negotiation) is given back by
    # its delete; a second delete finds nothing.
    gone = dict(op="del", spi=spis[0], src=UL["b"], dst=UL["a"])
    assert a.call(**gone)["status"] == 0
    assert a.call(**gone)["status"] == -3


def test_getspi_one_in_flight_per_interface(api):
    """
    Every interface may be negotiating at once: charon bringing all its
    tunnels up at its start (start_action = start) holds one SPI per
    IKE_AUTH in flight, up to one per interface (scripts/bench_charon.py
    had 1,000).  As many are handed out, and the next is refused.
    """
    a, _ = api
    n = 4096        # IPSECIF_MAX_IFACES
    got = [a.call(op="getspi") for _ in range(n + 1)]
    assert [r["status"] for r in got[:n]] == [0] * n, Counter(r["status"] for r in got)
    assert got[n]["status"] == -16      # EBUSY: handed out and not used
    assert a.call(op="del", spi=got[0]["spi"], src=UL["b"], dst=UL["a"])["status"] == 0
    assert a.call(op="getspi")["status"] == 0


def test_add_query_update_del(sites, api):
    a, b = sites
    ca, cb = api
    spi_ab, spi_ba = ca.call(op="getspi")["spi"], cb.call(op="getspi")["spi"]
    sa_pair(api, spi_ab, spi_ba, flags=F_ESN)
    assert ping(a, 10, interval="0.02") == (10, 10)
    # Counters from the data path: B's inbound SA took A's ten pings.
    q = cb.call(op="query", spi=spi_ab, src=UL["a"], dst=UL["b"])
    assert q["status"] == 0 and q["packets"] == 10 and q["bytes"] == 10 * 84, q
    assert q["idle_ns"] is not None and q["idle_ns"] < 10 ** 9
    # Unused: no last use.
    fresh = cb.call(op="getspi")["spi"]
    assert cb.call(op="add", spi=fresh, src=UL["a"], dst=UL["b"], reqid=REQID["b"],
                   enc="aes-gcm-16", enc_key="11" * 20)["active"]
    assert cb.call(op="query", spi=fresh, src=UL["a"], dst=UL["b"])["idle_ns"] is None
    assert cb.call(op="del", spi=fresh, src=UL["a"], dst=UL["b"])["status"] == 0
    # NAT-T (RFC 3948): both outbound SAs switch to ESP in UDP 4500, in place.
    for c, me, peer in ((ca, "a", "b"), (cb, "b", "a")):
        spi = spi_ab if me == "a" else spi_ba
        r = c.call(op="update", spi=spi, src=UL[me], dst=UL[peer], new_src=UL[me],
                   new_dst=UL[peer], new_flags=F_NATT, new_sport=4500, new_dport=4500)
        assert r["status"] == 0 and r["active"], r
    cap = subprocess.Popen(["ip", "netns", "exec", a.ns.name, "tcpdump", "-i", "ul0", "-n",
                            "-c", "3", "-Q", "out", "udp port 4500"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert wait_for(lambda: ping(a, 1)[1] == 1 and cap.poll() is not None, 10)
    finally:
        if cap.poll() is None:
            cap.kill()
    lines = cap.stdout.read().splitlines()
    assert len(lines) == 3 and all(f"{UL['a']}.4500 > {UL['b']}.4500" in x for x in lines), lines
    sa = [s for s in a.sas() if s["spi"] == spi_ab][0]
    assert sa["natt"] == [4500, 4500] and sa["esn"], sa
    # Sequence numbers went on (no reuse): B saw no replays.
    assert b.ipsec0()["drops"]["replay"] == 0
    # Delete; deleting again names the SA.
    assert ca.call(op="del", spi=spi_ab, src=UL["a"], dst=UL["b"])["status"] == 0
    r = ca.call(op="del", spi=spi_ab, src=UL["a"], dst=UL["b"])
    assert r["status"] == -3 and f"no SA {spi_ab} to 192.0.2.2" in r["error"], r  # -ESRCH
    # The last outbound SA of a reqid lingers half a second (charon's
    # make-before-break reauthentication deletes before it adds), then
    # nothing leaves.
    assert wait_for(lambda: ping(a, 1)[1] == 0, 3)


def test_bad_requests_change_nothing(sites, api):
    a, _ = sites
    ca, _ = api
    good = dict(op="add", spi=4096, src=UL["a"], dst=UL["b"], reqid=100, enc="aes-gcm-16",
                enc_key="11" * 20)
    cases = [
        (dict(good, spi=7), "reserved"),
        (dict(good, reqid=0), "no reqid"),
        (dict(good, enc_key="11" * 7), ""),
        (dict(good, family=99), "neither inet nor inet6"),
        (dict(good, replay=5000), "replay window"),
        (dict(good, flags=0x80), "unknown flags"),
        (dict(good, op=99), "unknown SA operation 99"),
        (dict(op="policy", reqid=0), "needs a reqid"),
        (dict(op="policy", reqid=555), "no interface with reqid 555"),
        (dict(op="query", spi=4096, src=UL["a"], dst=UL["b"]), "no SA 4096"),
    ]
    for req, msg in cases:
        r = ca.call(**req)
        assert r["status"] < 0 and msg in r["error"], (req, r)
    # A request of the wrong size is refused whole, with both sizes named.
    raw = HDR.pack(MAGIC, VERSION, REQ_SA, 8, 0) + bytes(8)
    r = ca.call(op="raw", hex=raw.hex())
    assert r["status"] < 0 and "an SA request is 288 bytes, not 8" in r["error"], r
    assert a.sas() == []
    assert ca.call(**good)["active"]
    r = ca.call(**good)
    assert r["status"] == -17 and "exists" in r["error"], r   # -EEXIST
    assert ca.call(op="policy", reqid=100)["status"] == 0
    # An SA for a reqid no interface has is kept but carries nothing.
    r = ca.call(**dict(good, spi=4097, reqid=777))
    assert r["status"] == 0 and not r["active"]


def test_flush_keeps_setkey_sas(sites, api):
    a, _ = sites
    ca, _ = api
    r = subprocess.run(["ip", "netns", "exec", a.ns.name, "build/ipsecifctl", "setkey", "-c"],
                       input=f"add {UL['a']} {UL['b']} esp 3000 -m tunnel -u 100 "
                             f"-E aes-gcm-16 0x{'22' * 20};\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert ca.call(op="add", spi=3001, src=UL["b"], dst=UL["a"], reqid=100,
                   enc="chacha20-poly1305", enc_key="33" * 36)["active"]
    assert sorted(s["spi"] for s in a.sas()) == [3000, 3001]
    assert ca.call(op="flush")["status"] == 0
    assert [s["spi"] for s in a.sas()] == [3000]


def test_events(sites, api):
    a, b = sites
    ca, cb = api
    assert ca.call(op="subscribe")["status"] == 0
    # Acquire: a packet into ipsec0 with no outbound SA (RFC 4301 §4.4.1.1 trigger).
    ping(a, 1, interval="0.05")
    ev = ca.call(op="event", timeout=5)["event"]
    assert ev and ev["type"] == "acquire" and ev["reqid"] == 100, ev
    # Time lifetimes from the agent, to the millisecond: soft at 1 s, hard at 2 s.
    sa_pair(api, 5000, 5001, soft_time=1, hard_time=2)
    ev = ca.call(op="event", timeout=3)["event"]
    assert ev == {"type": "soft", "reqid": 100, "spi": 5000, "dst": UL["b"], "value": 1,
                  "msg_type": 0x101}, ev
    ev = ca.call(op="event", timeout=3)["event"]
    assert ev["type"] == "hard" and ev["spi"] == 5000 and ev["value"] == 2, ev
    assert [s["spi"] for s in a.sas()] == [5001]
    # Packet lifetimes from the data path's counters.
    sa_pair(api, 5002, 5003, soft_packets=3, hard_packets=5)
    assert ping(a, 8, interval="0.02")[1] == 5
    got = [ca.call(op="event", timeout=3)["event"] for _ in range(2)]
    assert [(e["type"], e["spi"], e["value"]) for e in got] == [("soft", 5002, 3),
                                                                ("hard", 5002, 5)], got


def test_subscriber_sees_agent_restart(sites, api):
    """The subscription ends with the agent; SAs survive it (adopted)."""
    a, _ = sites
    ca, _ = api
    sa_pair(api, 6000, 6001)
    assert ca.call(op="subscribe")["status"] == 0
    agent(a.ns, "stop")
    wait_gone(a.ns)
    r = ca.call(op="event", timeout=5)
    assert r["status"] == "oserror" and "closed" in r["error"], r
    agent(a.ns, "start")
    assert ca.call(op="subscribe")["status"] == 0
    q = ca.call(op="query", spi=6001, src=UL["b"], dst=UL["a"])
    assert q["status"] == 0 and q["active"], q
    assert ping(a, 5, interval="0.02") == (5, 5)


def test_outbound_fallback_keeps_sequence(sites, api):
    """
    A newer outbound SA takes over at once; deleted again, the older one
    comes back in the same map update and goes on with its own sequence
    numbers (a collision's loser, RFC 7296 §2.8.1): no replay at B.
    """
    a, b = sites
    ca, cb = api
    sa_pair(api, 7000, 7001)
    assert ping(a, 10, interval="0.02") == (10, 10)
    key = os.urandom(20).hex()
    for c, side in zip(api, "ab"):
        assert c.call(op="add", spi=7002, src=UL["a"], dst=UL["b"], reqid=REQID[side],
                      enc="aes-gcm-16", enc_key=key)["active"]
    assert ping(a, 10, interval="0.02") == (10, 10)
    q = cb.call(op="query", spi=7002, src=UL["a"], dst=UL["b"])
    assert q["packets"] == 10, q
    assert ca.call(op="del", spi=7002, src=UL["a"], dst=UL["b"])["status"] == 0
    assert ping(a, 10, interval="0.02") == (10, 10)
    q = cb.call(op="query", spi=7000, src=UL["a"], dst=UL["b"])
    assert q["packets"] == 20, q
    d = b.ipsec0()["drops"]
    assert d["replay"] == 0 and d["too_old"] == 0 and d["no_sa"] == 0, d


def test_deleted_outbound_lingers_until_replaced(sites, api):
    """A key manager's delete of the last outbound SA: it carries on until a new one comes."""
    a, b = sites
    ca, cb = api
    # A hard expiry never lingers: the SA carries nothing more at once.
    sa_pair(api, 8003, 8004, hard_packets=2)
    assert ping(a, 4, interval="0.05")[1] == 2
    sa_pair(api, 8000, 8001)
    assert ca.call(op="del", spi=8000, src=UL["a"], dst=UL["b"])["status"] == 0
    assert ping(a, 3, interval="0.02") == (3, 3)     # within the linger time
    key = os.urandom(20).hex()
    for c, side in zip(api, "ab"):
        assert c.call(op="add", spi=8002, src=UL["a"], dst=UL["b"], reqid=REQID[side],
                      enc="aes-gcm-16", enc_key=key)["active"]
    assert ping(a, 5, interval="0.02") == (5, 5)
    assert cb.call(op="query", spi=8002, src=UL["a"], dst=UL["b"])["packets"] == 5
    assert cb.call(op="query", spi=8000, src=UL["a"], dst=UL["b"])["packets"] == 3


def held_pair(api, spi_ab, spi_ba, spi_new, hold_ms):
    """sa_pair, then a new A->B SA on both sites, held back hold_ms at A; its key."""
    ca, cb = api
    sa_pair(api, spi_ab, spi_ba)
    key = os.urandom(20).hex()
    assert cb.call(op="add", spi=spi_new, src=UL["a"], dst=UL["b"], reqid=REQID["b"],
                   enc="aes-gcm-16", enc_key=key)["active"]
    assert ca.call(op="add", spi=spi_new, src=UL["a"], dst=UL["b"], reqid=REQID["a"],
                   enc="aes-gcm-16", enc_key=key, hold_ms=hold_ms)["active"]
    return key


def test_held_outbound_switches_later(sites, api):
    """hold_ms: a new outbound SA waits while an older one carries the traffic."""
    a, b = sites
    ca, cb = api
    key = held_pair(api, 9000, 9001, 9002, 1500)
    assert ping(a, 3, interval="0.02") == (3, 3)
    assert cb.call(op="query", spi=9002, src=UL["a"], dst=UL["b"])["packets"] == 0
    assert wait_for(lambda: ping(a, 1)[1] == 1 and
                    cb.call(op="query", spi=9002, src=UL["a"], dst=UL["b"])["packets"] > 0, 5)
    # Deleting the one that carries the traffic ends the hold at once
    # (charon deletes the old CHILD_SA when the peer is ready).
    assert ca.call(op="del", spi=9000, src=UL["a"], dst=UL["b"])["status"] == 0
    assert ca.call(op="add", spi=9003, src=UL["a"], dst=UL["b"], reqid=REQID["a"],
                   enc="aes-gcm-16", enc_key=key, hold_ms=60000)["status"] == 0
    assert cb.call(op="add", spi=9003, src=UL["a"], dst=UL["b"], reqid=REQID["b"],
                   enc="aes-gcm-16", enc_key=key)["active"]
    assert ca.call(op="del", spi=9002, src=UL["a"], dst=UL["b"])["status"] == 0
    assert ping(a, 3, interval="0.02") == (3, 3)
    assert cb.call(op="query", spi=9003, src=UL["a"], dst=UL["b"])["packets"] == 3


def test_release_ends_hold(sites, api):
    """
    CTL_SA_RELEASE: the key manager knows the peer has the new SAs (the
    plugin sends it as an IKE_SA is being deleted), and a held outbound
    SA carries at once, the older one still there.
    """
    a, b = sites
    ca, cb = api
    held_pair(api, 9100, 9101, 9102, 60000)
    r = ca.call(op="release", reqid=0)
    assert r["status"] < 0 and "a release needs a reqid" in r["error"], r
    assert ca.call(op="release", reqid=555)["status"] == 0      # no holds: nothing
    assert ping(a, 3, interval="0.02") == (3, 3)
    assert cb.call(op="query", spi=9102, src=UL["a"], dst=UL["b"])["packets"] == 0
    assert ca.call(op="release", reqid=REQID["a"])["status"] == 0
    assert ping(a, 3, interval="0.02") == (3, 3)
    assert cb.call(op="query", spi=9102, src=UL["a"], dst=UL["b"])["packets"] == 3
    assert cb.call(op="query", spi=9100, src=UL["a"], dst=UL["b"])["packets"] == 3


def test_lingering_sa_gone_after_agent_crash(sites, api):
    """An agent that dies while a deleted SA lingers: the next one removes it."""
    a, b = sites
    ca, cb = api
    sa_pair(api, 9100, 9101)
    pid = json.loads(agent(a.ns, "status", "-j").stdout)["pid"]
    assert ca.call(op="del", spi=9100, src=UL["a"], dst=UL["b"])["status"] == 0
    os.kill(pid, 9)
    wait_gone(a.ns)
    agent(a.ns, "start")
    assert ping(a, 3, interval="0.02")[1] == 0
    assert cb.call(op="query", spi=9100, src=UL["a"], dst=UL["b"])["packets"] == 0
    assert [s["spi"] for s in a.sas()] == [9101]


def test_updates_under_load_never_repeat_a_sequence_number(sites, api):
    """
    New addressing for a busy outbound SA, 300 times over, while UDP
    floods the tunnel: every ESP packet leaves with a number of its own
    (an AEAD nonce used once, RFC 4106 §3.1), and B counts no replay.
    The agent rewrites sa_out whole; the sequence number is not in it.
    """
    a, b = sites
    ca, _ = api
    sa_pair(api, 7100, 7101, flags=F_ESN)
    assert ping(a, 3, interval="0.02") == (3, 3)
    srv = subprocess.Popen(["ip", "netns", "exec", b.ns.name, "iperf3", "-s", "-1", "-B",
                            INNER["b"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cap = Capture(a.ns, "ul0", ["esp"], snaplen=64)
    try:
        assert wait_for(lambda: "5201" in b.ns("ss", "-ltn").stdout, 10)
        flood = subprocess.Popen(["ip", "netns", "exec", a.ns.name, "iperf3", "-c", INNER["b"],
                                  "-u", "-b", "0", "-l", "1000", "-t", "4"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        same = dict(op="update", spi=7100, src=UL["a"], dst=UL["b"], new_src=UL["a"],
                    new_dst=UL["b"])
        for _ in range(300):
            assert ca.call(**same)["status"] == 0
        flood.wait(timeout=30)
        seqs = [struct.unpack("!II", bytes(p[IP].payload)[:8]) for p in cap.packets()
                if IP in p and p[IP].proto == 50]
    finally:
        cap.close()
        for p in (srv,):
            if p.poll() is None:
                p.kill()
                p.wait()
    seqs = [seq for spi, seq in seqs if spi == 7100]
    assert len(seqs) > 10000, len(seqs)
    assert len(set(seqs)) == len(seqs), sorted(s for s, n in Counter(seqs).items() if n > 1)[:20]
    d = b.ipsec0()["drops"]
    assert d["replay"] == 0 and d["auth"] == 0, d
