# SPDX-License-Identifier: GPL-2.0-only
"""
A manual key never seals the same sequence number (its AES-GCM and
ChaCha20-Poly1305 nonce) twice: not after stop --flush and a start with
the same setkey lines, not after the store's file is all that is left
(daemon/seqstore.c; RFC 4106 §3, RFC 7634 §4, RFC 8221 §5).  The IVs are
read off the wire.

    a (agent)  ul0 192.168.0.3 ---- 192.168.0.5 ul0  b (agent)
"""
import contextlib
import json
import os
import struct

import socket

import pytest

from agents import STORES, agent, ctl, pin_dir, run_in, store_dir, wait_gone
from sites import Capture
from test_freebsd import hosts, setkey  # noqa: F401  (fixture)
from test_lifetimes import ping, up

GCM = "0x" + "11" * 20


def ivs(packets):
    """(SPI, sequence number, IV) of every ESP packet."""
    from scapy.all import IP, Raw
    out = []
    for p in packets:
        if IP in p and p[IP].proto == 50:
            spi, seq, iv = struct.unpack("!IIQ", bytes(p[IP].payload)[:16])
            out.append((spi, seq, iv))
    return out


def sealed_by_a(a, b, n):
    # On the way out of a: on b, xdp_esp_in takes them before any capture sees them.
    cap = Capture(a, "ul0", ["ip", "proto", "50", "and", "src", "192.168.0.3"])
    try:
        assert ping(a, n) == n
        got = ivs(cap.packets())
    finally:
        cap.close()
    assert len(got) == n, got
    return got


def test_no_nonce_twice_across_flush_and_start(hosts):
    a, b = hosts
    up(a, b)
    first = sealed_by_a(a, b, 5)
    # Everything gone (agent, maps, pins, state), then the same lines again.
    agent(a, "stop", "--flush")
    wait_gone(a)
    agent(a, "start")
    ctl(a, "ipsec0", "create", "reqid", "100")
    ctl(a, "ipsec0", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    ctl(a, "ipsec0", "inet", "172.16.0.3/16", "172.16.0.5")
    r = setkey(a, f"add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u 100 -E aes-gcm-16 {GCM};\n"
                  f"add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u 100 -E aes-gcm-16 {GCM};\n")
    assert r.returncode == 0, r.stderr
    second = sealed_by_a(a, b, 5)
    used = {iv for _, _, iv in first}
    assert not used & {iv for _, _, iv in second}, (first, second)
    # The IV is the sequence number (RFC 4106 §3.1), and it went on past the
    # first agent's reservation, never back to 1.
    assert all(iv == seq for _, seq, iv in first + second)
    assert min(iv for _, _, iv in second) > max(used)
    # B's inbound SA took them all: its window only moved forward.
    assert ping(a, 2) == 2


def test_the_store_holds_no_key_and_is_root_only(hosts):
    a, b = hosts
    up(a, b)
    d = store_dir(a)
    assert os.stat(d).st_mode & 0o777 == 0o700
    for name in ("seq", "secret"):
        assert os.stat(os.path.join(d, name)).st_mode & 0o777 == 0o600, name
    data = open(os.path.join(d, "seq"), "rb").read()
    key = bytes.fromhex(GCM[2:])
    assert key not in data and key[:10] not in data and key.hex().encode() not in data


def test_a_store_that_does_not_read_back_refuses_manual_keys(hosts, tmp_path):
    """Never a guess: a damaged store refuses manual keys (their numbers could
    repeat), naming it; a key manager's SAs do not need it."""
    a, b = hosts
    agent(a, "stop", "--flush")
    wait_gone(a)
    (tmp_path / "seq").write_bytes(b"not a store")
    (tmp_path / "secret").write_bytes(b"\0" * 32)
    env = dict(os.environ, IPSECIF_LIB_DIR=str(tmp_path))
    import subprocess
    from agents import AGENT
    subprocess.run(["ip", "netns", "exec", a.name, AGENT, "start"], env=env, check=True,
                   timeout=30)
    ctl(a, "ipsec0", "create", "reqid", "100", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    r = setkey(a, f"add 192.168.0.3 192.168.0.5 esp 10000 -u 100 -E aes-gcm-16 {GCM};\n")
    assert r.returncode == 1 and "sequence-number store" in r.stderr, r.stderr
    assert json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"] == []


UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"x" * 16, ("172.16.0.5", 9))
"""


def test_sealing_goes_on_past_a_reservation(hosts):
    """Past the first reservation (65,536 numbers) a manual SA goes on sealing:
    the data path asks half way, the agent writes more to the store first."""
    import subprocess
    a, b = hosts
    # A key each way: B's reservation is not A's next numbers (that case is the jump,
    # test_one_key_in_two_agents_never_the_same_number).
    up(a, b, keys=("0x" + "33" * 20, GCM))
    n = 100000
    subprocess.run(["ip", "netns", "exec", a.name, "/usr/bin/python3", "-c", UDP, str(n)],
                   check=True, timeout=120)
    out = next(s for s in json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]
               if s["spi"] == 10000)
    drops = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]["drops"]
    assert drops["seq_unreserved"] == 0, drops
    assert out["packets"] == n, out
    assert ping(a, 2) == 2


def store_records(d):
    """(fingerprint, highest reserved number) of each key in store d's file."""
    path = os.path.join(d, "seq")
    if not os.path.exists(path):
        return []
    data = open(path, "rb").read()
    magic, version, n, size = struct.unpack("=IIII", data[:16])
    assert (magic, version) == (0x51535049, 1) and len(data) == 16 + n * size
    return [(data[o:o + size - 8], struct.unpack("=Q", data[o + size - 8:o + size])[0])
            for o in range(16, len(data), size)]


@contextlib.contextmanager
def one_store(a, b, d):
    """a's and b's agents started afresh on the one store d, as on one host."""
    try:
        for ns in (a, b):
            agent(ns, "stop", "--flush")
            wait_gone(ns)
            STORES[ns.name] = str(d)
            agent(ns, "start")
        yield
    finally:
        for ns in (a, b):
            STORES.pop(ns.name, None)


def test_agents_sharing_the_store_keep_each_others_records(hosts, tmp_path):
    """Two agents (one a namespace) write one store: neither's write drops the other's
    reservation, which a reboot would otherwise start again (nonces repeated)."""
    a, b = hosts
    with one_store(a, b, tmp_path):
        before = dict(store_records(tmp_path))
        up(a, b, keys=("0x" + os.urandom(20).hex(), "0x" + os.urandom(20).hex()))
        recs = dict(store_records(tmp_path))
        # A's outbound key and B's: two new records, each with its first reservation.
        new = {fp: hwm for fp, hwm in recs.items() if fp not in before}
        assert sorted(new.values()) == [65536, 65536], (new, len(recs), len(before))
        assert all(recs[fp] >= hwm for fp, hwm in before.items())
        assert ping(a, 3) == 3


def ivs_both_ways(a, b, n):
    """The IVs A and B seal for n pings from A, caught on their way out of ul0."""
    caps = [Capture(ns, "ul0", ["ip", "proto", "50", "and", "src", src])
            for ns, src in ((a, "192.168.0.3"), (b, "192.168.0.5"))]
    try:
        assert ping(a, n) == n
        return [{iv for _, _, iv in ivs(c.packets())} for c in caps]
    finally:
        for c in caps:
            c.close()


def test_one_key_in_two_agents_never_the_same_number(hosts, tmp_path):
    """One key sealing in two agents on one host at once (both directions keyed alike)
    takes disjoint numbers from the store: no IV is sealed by both, and the agent whose
    next numbers the other holds jumps its counter past them."""
    import subprocess
    a, b = hosts
    with one_store(a, b, tmp_path):
        up(a, b)
        by_a, by_b = ivs_both_ways(a, b, 5)
        assert len(by_a) == 5 and len(by_b) == 5, (by_a, by_b)
        assert not by_a & by_b, sorted(by_a & by_b)
        # B took its numbers after A's: A's next ones are B's, so A goes on past B's.
        b_from = min(by_b)
        subprocess.run(["ip", "netns", "exec", a.name, "/usr/bin/python3", "-c", UDP, "70000"],
                       check=True, timeout=120)
        a_now, b_now = ivs_both_ways(a, b, 3)
        assert min(a_now) > b_from + 65536 > max(b_now), (a_now, b_from, b_now)
        # A's jump drops what it took past its old limit in the nanoseconds before the new
        # one (seq_unreserved), and B what was in flight across it (too_old, RFC 4303 §3.4.3).
        drops = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]["drops"]
        assert drops["seq_unreserved"] <= 4, drops


def sa_out(ns, reqid):
    """sa_out's entry for reqid, from the pinned map."""
    key = [f"0x{b:02x}" for b in reqid.to_bytes(4, "little")]
    return json.loads(run_in(ns, "bpftool", "-j", "map", "lookup", "pinned",
                             f"{pin_dir(ns)}/sa_out", "key", *key).stdout)["formatted"]["value"]


def test_the_sa_that_takes_over_from_a_deleted_one_has_its_numbers(hosts):
    """Two outbound SAs added at once: only the newer seals, and only it has numbers
    from the store.  Deleted, it gives sa_out to the older, which must take its numbers
    first, not seal unreserved (seq_limit 0: no limit) until the store's next look a
    second later: a crash in that second, past 65,536 packets, and a start with the
    same lines would seal numbers the key already sealed."""
    a, b = hosts
    up(a, b)
    k2, k4 = "0x" + "44" * 20, "0x" + "55" * 20
    r = setkey(a, f"add 192.168.0.3 192.168.0.5 esp 10002 -m tunnel -u 100 -E aes-gcm-16 {k2};\n"
                  f"add 192.168.0.3 192.168.0.5 esp 10004 -m tunnel -u 100 -E aes-gcm-16 {k4};\n")
    assert r.returncode == 0, r.stderr
    r = setkey(b, f"add 192.168.0.3 192.168.0.5 esp 10002 -m tunnel -u 200 -E aes-gcm-16 {k2};\n")
    assert r.returncode == 0, r.stderr
    assert sa_out(a, 100)["spi"] == socket.htonl(10004)
    r = setkey(a, "delete 192.168.0.3 192.168.0.5 esp 10004;\n")
    assert r.returncode == 0, r.stderr
    v = sa_out(a, 100)
    assert v["spi"] == socket.htonl(10002), v
    assert v["seq_limit"] >= 65536 and 0 < v["seq_mark"] < v["seq_limit"], v
    assert {spi for spi, _, _ in sealed_by_a(a, b, 2)} == {10002}
