# SPDX-License-Identifier: GPL-2.0-only
"""
An interface's reqid and the BSD uniqueness rules, with traffic crossing,
between the FreeBSD if_ipsec(4) example's two hosts (test_freebsd.py's):

    host A  ul0 192.168.0.3  ---- veth ----  ul0 192.168.0.5  host B
            ipsec0 reqid 100 -> 300                   ipsec0 reqid 200

test_freebsd.py::test_reqid_change checks the policies and SA states of
one side without traffic, and test_ifconfig.py the refusals' messages on
an idle agent.  Here: a TCP connection kept open across a reqid change
and the rekey for the new reqid, traffic on the new SAs only; and
refused second interfaces that change nothing while the first carries
traffic.
"""
import json

from agents import ctl, map_dump, sas, setkey, sa_key, show
from sites import Stream
from test_freebsd import hosts  # noqa: F401  (fixture)

A, B = "192.168.0.3", "192.168.0.5"
IN_A, IN_B = "172.16.0.3", "172.16.0.5"


def sa_pair(reqid, out, back):
    return (f"add {A} {B} esp {out} -m tunnel -u {reqid} -E aes-gcm-16 {sa_key(out)};\n"
            f"add {B} {A} esp {back} -m tunnel -u {reqid} -E aes-gcm-16 {sa_key(back)};\n")


def up(a, b):
    for ns, reqid, me, peer, inner, inner_peer in ((a, 100, A, B, IN_A, IN_B),
                                                   (b, 200, B, A, IN_B, IN_A)):
        ctl(ns, "ipsec0", "create", "reqid", str(reqid), "inet", "tunnel", me, peer,
            "inet", f"{inner}/32", inner_peer)
        r = setkey(ns, sa_pair(reqid, 0x1000, 0x2000))
        assert r.returncode == 0, r.stderr


def ping(ns, dst, count=3):
    return ns("ping", "-c", str(count), "-i", "0.05", "-w", "5", dst, check=False)


def test_reqid_change_under_traffic(hosts):
    a, b = hosts
    up(a, b)
    stream = Stream(a, b, IN_B)
    try:
        stream.send(500 * 1000)
        assert ping(a, IN_B).returncode == 0
        # A's interface takes reqid 300: its SAs (reqid 100) no longer apply.
        ctl(a, "ipsec0", "reqid", "300")
        assert show(a, "ipsec0")["reqid"] == 300 and show(a, "ipsec0")["sas"] == []
        assert {s["state"] for s in sas(a).values()} == {"inactive"}
        assert map_dump(a, "sa_out") == [] and map_dump(a, "sa_in") == []
        pols = json.loads(ctl(a, "-j", "setkey", "-DP").stdout)["policies"]
        assert {p["reqid"] for p in pols} == {300} and len(pols) == 4
        no_sa = show(a, "ipsec0")["drops"]["no_sa"]
        assert ping(a, IN_B, count=2).returncode != 0
        assert show(a, "ipsec0")["drops"]["no_sa"] >= no_sa + 2
        # Rekeyed for the new reqid: new SAs at A, and at B (whose reqid stays);
        # the old ones deleted.
        r = setkey(a, sa_pair(300, 0x3000, 0x4000) +
                   f"delete {A} {B} esp 0x1000;\ndelete {B} {A} esp 0x2000;\n")
        assert r.returncode == 0, r.stderr
        r = setkey(b, sa_pair(200, 0x3000, 0x4000))
        assert r.returncode == 0, r.stderr
        assert sorted((s["spi"], s["dir"]) for s in show(a, "ipsec0")["sas"]) == \
            [(0x3000, "out"), (0x4000, "in")]
        old = {spi: (s["packets"], s["bytes"]) for spi, s in sas(b).items()}
        # The connection made before the change carries on, and new traffic flows.
        stream.send(500 * 1000)
        assert ping(a, IN_B).returncode == 0
        assert stream.close() == 1000 * 1000
    finally:
        stream.kill()
    now_a, now_b = sas(a), sas(b)
    # Only the new SAs moved, and both ends agree on them.
    for spi in (0x1000, 0x2000):
        assert (now_b[spi]["packets"], now_b[spi]["bytes"]) == old[spi]
    for spi, tx, rx in ((0x3000, now_a, now_b), (0x4000, now_b, now_a)):
        assert tx[spi]["packets"] == rx[spi]["packets"] > 3, spi
        assert tx[spi]["reqid"] == (300 if tx is now_a else 200)


def state(ns):
    """What a refused command must leave alone: devices, the agent's view but for
    its counters, policies, SAs, and the data path's interface and SA maps."""
    links = sorted(l["ifname"] for l in json.loads(ns("ip", "-j", "link").stdout))
    ifs = json.loads(ctl(ns, "-j").stdout)["interfaces"]
    for i in ifs:
        del i["packets"], i["bytes"], i["drops"]
        for s in i["sas"]:
            del s["packets"], s["engine"]
    sa_view = {spi: (s["reqid"], s["state"]) for spi, s in sas(ns).items()}
    maps = [map_dump(ns, m) for m in ("ifaces", "if_reqid")]
    sa_maps = [sorted((e["key"] if isinstance(e["key"], int) else e["key"]["spi"],
                       e["value"]["id"]) for e in map_dump(ns, m)) for m in ("sa_in", "sa_out")]
    return links, ifs, ctl(ns, "-j", "setkey", "-DP").stdout, sa_view, maps, sa_maps


def test_conflicts_refused_while_traffic_flows(hosts):
    """ipsec(4)'s rules: one reqid, one pair of endpoints, per interface."""
    a, b = hosts
    up(a, b)
    ctl(a, "ipsec1", "create", "reqid", "101", "inet", "tunnel", A, "192.168.0.9")
    stream = Stream(a, b, IN_B)
    try:
        stream.send(300 * 1000)
        before = state(a)
        for args, why in (
                (["ipsec2", "create", "inet", "tunnel", A, B], "ipsec0 has these endpoints"),
                (["ipsec1", "inet", "tunnel", A, B], "ipsec0 has these endpoints"),
                (["ipsec2", "create", "reqid", "100"], "reqid 100: ipsec0 has it already"),
                (["ipsec1", "reqid", "100"], "reqid 100: ipsec0 has it already")):
            r = ctl(a, *args, check=False)
            assert r.returncode == 1 and why in r.stderr, (args, r.stderr)
            assert state(a) == before, args
            # The first interface carries traffic throughout.
            assert ping(a, IN_B, count=2).returncode == 0, args
            stream.send(100 * 1000)
        assert stream.close() == 700 * 1000
    finally:
        stream.kill()
    assert not any(show(a, "ipsec0")["drops"].values())
    assert not any(show(b, "ipsec0")["drops"].values())
