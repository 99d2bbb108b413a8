# SPDX-License-Identifier: GPL-2.0-only
"""
Many tunnels on one agent per site: ipsec0..ipsec511, each with its own
reqid, SAs and pair of underlay addresses, all on one veth:

    A  ul0 10.64.H.1 .. 10.64.H.64/16  ---- veth ----  ul0 10.64.H.129 .. 10.64.H.192/16  B
       ipsecN reqid 1000+N, 172.(20+N/256).(N%256).1 -> .2   ipsecN reqid 3000+N
       (H = N / 64)

Traffic on a sample of them at once, a different number of pings on
each: every SA counts exactly its own, and those of the tunnels without
traffic count nothing.  Then every interface destroyed: no device, no
policy, no map entry, nothing pinned beyond what the agent started with.
"""
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from agents import CTL, agent_sites, ctl, map_dump, map_held, pin_dir, poll, sas, setkey, sa_key
from sites import veth

N = 512
SAMPLE = range(0, N, 8)     # the tunnels with traffic: ipsec0, ipsec8, ...
SUITE = "chacha20-poly1305"


def ul(side, n):
    return f"10.64.{n >> 6}.{(n & 63) + 1 + 128 * side}"


def inner(side, n):
    return f"172.{20 + (n >> 8)}.{n & 255}.{side + 1}"


def reqid(side, n):
    return 1000 + 2000 * side + n


def spi(side, n):
    """SAs from A are 0x10000 + N, from B 0x20000 + N."""
    return (0x10000 if side == 0 else 0x20000) + n


def pings(n):
    """How many pings ipsec<n> carries: a different number on each of the sample."""
    return SAMPLE.index(n) + 1 if n in SAMPLE else 0


def batch(ns, lines):
    r = subprocess.run(["ip", "-n", ns.name, "-batch", "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def pins(ns):
    return sorted(os.listdir(pin_dir(ns)))


def script(ns, lines):
    """Our commands through one shell in ns (each one ipsecifctl, as a script runs them)."""
    r = subprocess.run(["ip", "netns", "exec", ns.name, "sh", "-e"],
                       input="".join(f"{CTL} {l}\n" for l in lines), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr


def configure(ns, side):
    me, peer = side, 1 - side
    script(ns, [f"ipsec{n} create reqid {reqid(side, n)} inet tunnel {ul(me, n)} {ul(peer, n)} "
                f"inet {inner(me, n)}/32 {inner(peer, n)}" for n in range(N)])
    lines = []
    for n in range(N):
        for s in (0, 1):
            lines.append(f"add {ul(s, n)} {ul(1 - s, n)} esp {spi(s, n)} -m tunnel "
                         f"-u {reqid(side, n)} -E {SUITE} {sa_key(spi(s, n), SUITE)};")
    r = setkey(ns, "\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr


@pytest.fixture
def many(host_bpffs):
    with agent_sites(2) as (a, b):
        veth(a, "ul0", b, "ul0")
        for ns, side in ((a, 0), (b, 1)):
            batch(ns, [f"addr add {ul(side, n)}/16 dev ul0" for n in range(N)])
        yield a, b


def test_512_tunnels(many):
    a, b = many
    empty = {ns.name: pins(ns) for ns in (a, b)}
    # The two sites at once: each agent spends most of its time in the kernel.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(configure, (a, b), (0, 1)))
    # The sample all at once, pings(n) on ipsec<n>; -w: each waits for all its replies
    # (without it, ping gives a late one two round trips after its last request).
    procs = {n: subprocess.Popen(["ip", "netns", "exec", a.name, "ping", "-q", "-c",
                                  str(pings(n)), "-i", "0.01", "-w", "30", inner(1, n)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in SAMPLE}
    for n, p in procs.items():
        out = p.communicate(timeout=60)[0]
        assert p.returncode == 0 and f"{pings(n)} received" in out, (n, out)
    for ns, side in ((a, 0), (b, 1)):
        by_spi = sas(ns)
        shown = {i["name"]: i for i in json.loads(ctl(ns, "-j").stdout)["interfaces"]}
        assert len(by_spi) == 2 * N and len(shown) == N
        for n in range(N):
            # Echo requests from A, replies from B: 84-byte IPv4 packets each.
            k = pings(n)
            for s in (0, 1):
                sa = by_spi[spi(s, n)]
                assert (sa["reqid"], sa["state"]) == (reqid(side, n), "active")
                assert (sa["packets"], sa["bytes"]) == (k, 84 * k), (side, n, s, sa)
            i = shown[f"ipsec{n}"]
            assert (i["packets"], i["bytes"]) == (2 * k, 168 * k), i
            assert not any(i["drops"].values()), i
        assert len(json.loads(ctl(ns, "-j", "setkey", "-DP").stdout)["policies"]) == 4 * N

    # Destroyed, each: no device, no policy, no map entry, no pin.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda ns: script(ns, [f"ipsec{n} destroy" for n in range(N)]), (a, b)))
    for ns in (a, b):
        links = [l["ifname"] for l in json.loads(ns("ip", "-j", "link").stdout)]
        assert links == ["lo", "ul0"], links
        shown = json.loads(ctl(ns, "-j").stdout)
        assert (shown["interfaces"], shown["lan"]) == ([], []), shown
        assert json.loads(ctl(ns, "-j", "setkey", "-DP").stdout) == {"policies": []}
        for m in ("ifaces", "if_reqid", "sa_in", "sa_out", "if_stats"):
            assert map_dump(ns, m) == [], m
        # The SAs are setkey's, not the interfaces': inactive until flushed.
        assert {s["state"] for s in sas(ns).values()} == {"inactive"}
        ctl(ns, "setkey", "-F")
        # An SA's slots outlive it by 100 ms (a packet may still be using them).
        for m in ("keys", "replay", "sa_stats", "sa_ctr"):
            poll(lambda: map_held(ns, m) == [], 2, f"{m} free")
        assert pins(ns) == empty[ns.name]
        assert "xdp" not in ns("ip", "link", "show", "ul0").stdout


def test_past_64_everything_shown(host_bpffs):
    """More interfaces than 64 (four policies each) and their SAs: every one is
    listed, and the JSON is whole."""
    n = 70
    with agent_sites(1) as (a,):
        for i in range(n):
            ctl(a, f"ipsec{i}", "create", "reqid", str(1000 + i), "inet", "tunnel",
                "10.9.0.1", f"10.8.0.{i + 1}")
        r = setkey(a, "".join(
            f"add {s} {d} esp {spi + i} -u {1000 + i} -E {SUITE} {sa_key(spi + i, SUITE)};\n"
            for i in range(n) for s, d, spi in (("10.9.0.1", f"10.8.0.{i + 1}", 0x10000),
                                                (f"10.8.0.{i + 1}", "10.9.0.1", 0x20000))))
        assert r.returncode == 0, r.stderr
        assert len(json.loads(ctl(a, "-j").stdout)["interfaces"]) == n
        assert len(json.loads(ctl(a, "-j", "setkey", "-DP").stdout)["policies"]) == 4 * n
        assert len(json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]) == 2 * n
        assert ctl(a, "setkey", "-DP").stdout.count(" -P ") == 4 * n
        assert ctl(a, "setkey", "-D").stdout.count("esp mode=tunnel") == 2 * n
        assert ctl(a).stdout.count("reqid") == n
        # A reply too large to make is refused whole, never cut.
        r = setkey(a, "dump;\n" * 200)
        assert r.returncode == 1 and "was not sent" in r.stderr and not r.stdout, r.stderr
