# SPDX-License-Identifier: GPL-2.0-only
"""
Features through the network, between two agent-run gateways with a
router between them and a host behind each:

  X eth0 ---- lan0 [A] ul0 ---- m0 [M] m1 ---- ul0 [B] lan0 ---- eth0 Y

  X  eth0 10.1.0.2/24 fd01::2/64           B  ul0  198.51.100.2/24 2001:db8:2::2/64
  A  lan0 10.1.0.1/24 fd01::1/64              lan0 10.2.0.1/24 fd02::1/64
     ul0  192.0.2.1/24 2001:db8:1::1/64    Y  eth0 10.2.0.2/24 fd02::2/64
  M  m0   192.0.2.254/24 2001:db8:1::fe/64, m1 198.51.100.254/24 2001:db8:2::fe/64

  ipsec0: outer IPv4, inner 172.16.0.1 <-> .2 and fd10::1 <-> ::2; X's and Y's IPv4 LANs
  ipsec1: outer IPv6, inner 172.17.0.1 <-> .2 and fd11::1 <-> ::2; X's and Y's IPv6 LANs

All four outer/inner family pairs; link2 off dropping inner IPv6;
RFC 6040 ECN on encapsulation and (with M rewriting the outer ECN field)
on decapsulation, with link1 and without; ICMP "fragmentation needed" /
"packet too big" from the gateway at ipsecN's MTU, path MTU discovery
for TCP, and never an outer fragment on the underlay.  And what A's
underlay carries besides its tunnels (issue 13): M's own ESP to X
routed through A untouched, fragmented UDP to A's underlay addresses
received, and ESP from the wrong source or with broken headers counted
where ipsecifctl shows it, none of it left to the kernel's error counters.
"""
import re
import subprocess

import pytest

from agents import agent_sites, ctl, map_dump, percpu_drops, poll, show, tunnel_end
from dp import DROPS
from sites import PYTHON, Capture, mac, transfer, veth

TUNNELS = {     # name: A's and B's outer addresses, inner IPv4 and IPv6 (A's, B's)
    "ipsec0": ("192.0.2.1", "198.51.100.2", ("172.16.0.1", "172.16.0.2"),
               ("fd10::1", "fd10::2")),
    "ipsec1": ("2001:db8:1::1", "2001:db8:2::2", ("172.17.0.1", "172.17.0.2"),
               ("fd11::1", "fd11::2")),
}


def routed(ns, via4, via6):
    ns("ip", "route", "add", "default", "via", via4)
    ns("ip", "-6", "route", "add", "default", "via", via6)


def forwarding(ns):
    """Forward both families.  Devices made later (ipsecN) do not take IPv6's
    per-device router role, which joins ff02::2 and so sends MLD reports into
    the tunnel, noise in the exact counts below; forwarding is all.forwarding's."""
    ns("sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    ns("sysctl", "-qw", "net.ipv6.conf.default.forwarding=0")


@pytest.fixture(scope="module")
def net(host_bpffs):
    """One network for the module (its setup is most of the time): each test
    leaves the flags and M's rules as it found them, and counts by differences."""
    with agent_sites(2, plain=3) as (a, b, x, m, y):
        veth(x, "eth0", a, "lan0", ["10.1.0.2/24", "fd01::2/64"], ["10.1.0.1/24", "fd01::1/64"])
        veth(a, "ul0", m, "m0", ["192.0.2.1/24", "2001:db8:1::1/64"],
             ["192.0.2.254/24", "2001:db8:1::fe/64"])
        veth(m, "m1", b, "ul0", ["198.51.100.254/24", "2001:db8:2::fe/64"],
             ["198.51.100.2/24", "2001:db8:2::2/64"])
        veth(b, "lan0", y, "eth0", ["10.2.0.1/24", "fd02::1/64"], ["10.2.0.2/24", "fd02::2/64"])
        # In order through M, as through one router's NIC queue: without NAPI a veth
        # hands each packet to the backlog of the CPU that sent it, and A's two CPUs
        # sending one SA's packets reorder them past the 64-packet window (too_old at
        # B, one run in five here).  GRO gives M's ends NAPI, one ring for all CPUs.
        for dev in ("m0", "m1"):
            m("ethtool", "-K", dev, "gro", "on")
        routed(x, "10.1.0.1", "fd01::1")
        routed(y, "10.2.0.1", "fd02::1")
        routed(a, "192.0.2.254", "2001:db8:1::fe")
        routed(b, "198.51.100.254", "2001:db8:2::fe")
        for ns in (a, m, b):
            forwarding(ns)
        # A window of 1,024: each gateway seals one SA's packets on both its CPUs (its
        # local TCP's sends and those its ACKs clock), in their backlogs' turns, and
        # a transfer has been seen to reorder past 64 (too_old, one run in ten).
        for i, (name, (oa, ob, in4, in6)) in enumerate(TUNNELS.items()):
            for ns, me, peer, k in ((a, oa, ob, 0), (b, ob, oa, 1)):
                tunnel_end(ns, name, 100 + i + 100 * k, me, peer, 0x1000 + 16 * i + k,
                           0x1000 + 16 * i + 1 - k, replay=1024,
                           inner=[["inet", f"{in4[k]}/32", in4[1 - k]],
                                  ["inet6", f"{in6[k]}/128", in6[1 - k]]])
        # The LANs: IPv4 through ipsec0 (outer IPv4), IPv6 through ipsec1 (outer IPv6).
        for ns, far4, far6 in ((a, "10.2.0.0/24", "fd02::/64"), (b, "10.1.0.0/24", "fd01::/64")):
            ns("ip", "route", "add", far4, "dev", "ipsec0")
            ns("ip", "-6", "route", "add", far6, "dev", "ipsec1")
        # Until the underlay has found its neighbours (IPv6 on a fresh link takes a
        # second or two), a first packet may be queued or lost: wait for each path.
        paths = [(a, d) for _, _, in4, in6 in TUNNELS.values() for d in (in4[1], in6[1])]
        for src, dst in paths + [(x, "10.2.0.2"), (x, "fd02::2")]:
            poll(lambda: ping(src, dst).returncode == 0, timeout=10, what=f"ping {dst}")
        yield a, b, x, m, y


def ping(ns, dst, *args, count=1):
    return ns("ping", "-c", str(count), "-i", "0.05", "-W", "1", *args, dst, check=False)


def traffic(ns, name):
    s = show(ns, name)
    return s["packets"], s["bytes"]


@pytest.mark.parametrize("name", list(TUNNELS))
def test_families(net, name):
    """Inner IPv4 and IPv6 over the outer family of name: exact counters, then TCP."""
    a, b, *_ = net
    other = next(n for n in TUNNELS if n != name)
    _, _, in4, in6 = TUNNELS[name]
    drops = show(a, name)["drops"], show(b, name)["drops"]
    for dst, size in ((in4[1], 84), (in6[1], 104)):     # ping's 56 bytes, IPv4 or IPv6
        before, quiet = traffic(a, name), traffic(a, other)
        r = ping(a, dst, count=3)
        assert r.returncode == 0, r.stdout + r.stderr
        p, n = traffic(a, name)
        # Three echo requests out, three replies in, and nothing on the other tunnel.
        assert (p - before[0], n - before[1]) == (6, 6 * size), (dst, p, n, before)
        assert traffic(a, other) == quiet
        transfer(a, b, dst, size=1000 * 1000)
        transfer(b, a, in4[0] if dst == in4[1] else in6[0], size=1000 * 1000)
    assert (show(a, name)["drops"], show(b, name)["drops"]) == drops


def test_link2_off_drops_inner_ipv6(net):
    """-link2: inner IPv6 is dropped and counted as inner_family, by A on the way
    out or by B on the way in, exactly as many as were sent; IPv4 still crosses."""
    a, b, *_ = net
    dst4, dst6 = TUNNELS["ipsec0"][2][1], TUNNELS["ipsec0"][3][1]
    for off, other in ((a, b), (b, a)):
        ctl(off, "ipsec0", "-link2")
        assert "link2" not in show(off, "ipsec0")["flags"]
        before, seen = show(off, "ipsec0"), show(other, "ipsec0")
        assert ping(a, dst6, count=5).returncode != 0
        after = show(off, "ipsec0")
        assert after["drops"]["inner_family"] == before["drops"]["inner_family"] + 5
        # Dropped on A before sealing, or by B after opening: B delivered nothing.
        assert show(other, "ipsec0")["drops"] == seen["drops"]
        if off is a:
            assert (after["packets"], show(b, "ipsec0")["packets"]) == \
                (before["packets"], seen["packets"])
        assert ping(a, dst4).returncode == 0
        ctl(off, "ipsec0", "link2")
    assert ping(a, dst6).returncode == 0


# RFC 6040 §4.2, Figure 4: the inner ECN field after decapsulation, None: drop.
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3


def rfc6040_decap(inner, outer):
    if inner == NOT_ECT:
        return None if outer == CE else NOT_ECT
    if outer == CE:
        return CE
    if inner == ECT0 and outer == ECT1:
        return ECT1
    return inner


MARK = """
table inet ecnmark {
    chain fw {
        type filter hook forward priority filter; policy accept;
        %s
    }
}
"""


@pytest.mark.parametrize("outer", ["ipsec0", "ipsec1"])
def test_ecn(net, outer):
    """Each inner ECN codepoint, link1 on and off, the outer field left alone or
    rewritten by M (CE, ECT(1)): the outer field on the wire and the inner one on
    B's ipsecN against RFC 6040."""
    from scapy.all import IP, IPv6
    a, b, _, m, _ = net
    oa, _, in4, in6 = TUNNELS[outer]
    v6 = ":" in oa
    dst = in6[1] if v6 else in4[1]     # inner family = outer family: both headers' fields
    dscp = 0xb8                        # EF, copied to the outer header (RFC 2983)
    for link1 in (True, False):
        ctl(a, outer, "link1" if link1 else "-link1")
        for mark in (None, CE, ECT1):
            nft = ("" if mark is None else
                   f"{'ip6' if v6 else 'ip'} saddr {oa} "
                   f"{'ip6 nexthdr' if v6 else 'ip protocol'} esp "
                   f"{'ip6' if v6 else 'ip'} ecn set {['not-ect', 'ect1', 'ect0', 'ce'][mark]}")
            m("nft", "flush", "ruleset")
            r = subprocess.run(["ip", "netns", "exec", m.name, "nft", "-f", "-"],
                               input=MARK % nft, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            wire, arrived = Capture(m, "m0", ["src", oa]), Capture(b, outer, ["icmp or icmp6"])
            try:
                dropped = show(b, outer)["drops"]["ecn"]
                for ecn in range(4):
                    ping(a, dst, "-Q", str(dscp | ecn))
                outs, ins = wire.packets(), arrived.packets()
            finally:
                wire.close()
                arrived.close()
            L3 = IPv6 if v6 else IP
            outs = [p[L3] for p in outs if L3 in p and (p[L3].nh if v6 else p[L3].proto) == 50]
            tos = (lambda p: p.tc) if v6 else (lambda p: p.tos)
            assert len(outs) == 4, [p.summary() for p in outs]
            reqs = [p[L3] for p in ins if L3 in p and
                    (p[L3].payload.type == (128 if v6 else 8))]
            want_in, lost = [], 0
            for ecn, o in zip(range(4), outs):
                # Encapsulation (§4.1): normal mode copies, compatibility mode Not-ECT.
                assert tos(o) == dscp | (ecn if link1 else NOT_ECT), (link1, ecn, tos(o))
                got_outer = tos(o) & 3 if mark is None else mark
                d = rfc6040_decap(ecn, got_outer)
                if d is None:
                    lost += 1
                else:
                    want_in.append(dscp | d)
            assert [tos(p) for p in reqs] == want_in, (link1, mark)
            assert show(b, outer)["drops"]["ecn"] == dropped + lost
    m("nft", "flush", "ruleset")


def test_mtu_and_pmtu(net):
    """DF packets one byte over ipsecN's MTU get ICMP from A with that MTU; TCP
    finds the path MTU; the underlay never carries an outer fragment."""
    from scapy.all import ICMP, IP, IPv6, ICMPv6PacketTooBig
    a, b, x, m, y = net
    m4, m6 = show(a, "ipsec0")["mtu"], show(a, "ipsec1")["mtu"]
    assert 1280 <= m6 < m4 < 1500
    frag_or_big = ("(ip and (ip[6:2] & 0x3fff != 0 or (ip[9] == 50 and ip[2:2] > 1400))) or "
                   "(ip6 and (ip6[6] == 44 or (ip6[6] == 50 and ip6[4:2] > 1300)))").split()
    under = [Capture(m, dev, frag_or_big, snaplen=64) for dev in ("m0", "m1")]
    icmp = Capture(x, "eth0", ["icmp[0] == 3 or icmp6[0] == 2"], snaplen=128)
    try:
        # Up to the MTU crosses; one byte more does not.
        assert ping(x, "10.2.0.2", "-M", "do", "-s", str(m4 - 28)).returncode == 0
        assert ping(x, "fd02::2", "-M", "do", "-s", str(m6 - 48)).returncode == 0
        assert ping(x, "10.2.0.2", "-M", "do", "-s", str(m4 - 27)).returncode != 0
        assert ping(x, "fd02::2", "-M", "do", "-s", str(m6 - 47)).returncode != 0
        # Large pings, fragments allowed: IPv4 is fragmented inside the tunnel only.
        assert ping(x, "10.2.0.2", "-M", "dont", "-s", "4000", count=3).returncode == 0
        assert ping(x, "fd02::2", "-s", "4000", count=3).returncode == 0
        # TCP from a 1500-byte LAN to a 1500-byte LAN: path MTU discovery does it.
        transfer(x, y, "10.2.0.2", size=3 * 1000 * 1000)
        transfer(x, y, "fd02::2", size=3 * 1000 * 1000)
        transfer(y, x, "10.1.0.2", size=3 * 1000 * 1000)
        errors = icmp.packets()
        seen = [c.packets() for c in under]
    finally:
        icmp.close()
        for c in under:
            c.close()
    need = [p[IP] for p in errors if ICMP in p and p[ICMP].type == 3]
    assert need and {(p[ICMP].code, p[ICMP].nexthopmtu) for p in need} == {(4, m4)}, need
    assert {p.src for p in need} == {"10.1.0.1"}
    ptb = [p for p in errors if ICMPv6PacketTooBig in p]
    assert ptb and {p[ICMPv6PacketTooBig].mtu for p in ptb} == {m6}
    assert {p[IPv6].src for p in ptb} == {"fd01::1"}
    # The path MTU X learned is the tunnel's.
    assert re.search(rf"\bmtu {m4}\b", x("ip", "route", "get", "10.2.0.2").stdout)
    assert re.search(rf"\bmtu {m6}\b", x("ip", "-6", "route", "get", "fd02::2").stdout)
    for pkts in seen:
        frags = [p for p in pkts if (IP in p and (p[IP].flags.MF or p[IP].frag)) or
                 (IPv6 in p and p[IPv6].nh == 44)]
        assert not frags, frags[0].summary()
        # The capture did see full-sized ESP of both outer families.
        assert any(IP in p for p in pkts) and any(IPv6 in p for p in pkts)
    for name in TUNNELS:
        assert show(a, name)["drops"]["too_big"] == 0


# M's own ESP and ESP in UDP (a non-zero marker, RFC 3948 §2.2), n of each, to argv[1].
THIRD_PARTY = r"""
import socket, sys
dst, n, spi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
esp, udp = socket.socket(fam, socket.SOCK_RAW, 50), socket.socket(fam, socket.SOCK_DGRAM)
for i in range(n):
    esp.sendto(spi.to_bytes(4, "big") + (i + 1).to_bytes(4, "big") + bytes(64), (dst, 0))
    if sys.argv[4] == "udp":
        udp.sendto(spi.to_bytes(4, "big") + bytes(60), (dst, 4500))
"""


def global_in(ns):
    """The agent's global inbound drop counters, by name."""
    e = [e for e in map_dump(ns, "global_stats") if e["key"] == 0][0]
    return dict(zip(DROPS, percpu_drops(e)))


def test_transit_esp_is_routed(net):
    """Issue 13, item 1: ESP and ESP in UDP between M and X, which A routes from its
    underlay to its LAN, arrive (5 of 5 each, both families); A counts nothing."""
    a, b, x, m, y = net
    m("ip", "route", "add", "10.1.0.0/24", "via", "192.0.2.1")
    m("ip", "-6", "route", "add", "fd01::/64", "via", "2001:db8:1::1")
    cap = Capture(x, "eth0", "ip proto 50 or ip6 proto 50 or udp dst port 4500".split())
    try:
        before = show(a, "ipsec0"), show(a, "ipsec1"), global_in(a)
        for dst in ("10.1.0.2", "fd01::2"):
            m(PYTHON, "-c", THIRD_PARTY, dst, "5", "0x1001", "udp")
        got = cap.packets()
    finally:
        cap.close()
        m("ip", "route", "del", "10.1.0.0/24", check=False)
        m("ip", "-6", "route", "del", "fd01::/64", check=False)
    from scapy.all import IP, IPv6, UDP
    kinds = {}
    for p in got:
        ip = p[IP] if IP in p else p[IPv6]
        kind = (4 if IP in p else 6, "udp" if UDP in p else "esp")
        assert ip.src in ("192.0.2.254", "2001:db8:1::fe"), p.summary()
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {(4, "esp"): 5, (4, "udp"): 5, (6, "esp"): 5, (6, "udp"): 5}, kinds
    assert (show(a, "ipsec0"), show(a, "ipsec1"), global_in(a)) == before


RECV = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7777)); s.settimeout(5)
print("ready", flush=True)
try:
    b = s.recv(65536); print(len(b), hashlib.sha256(b).hexdigest(), flush=True)
except socket.timeout:
    print(0, flush=True)
"""

SEND = r"""
import hashlib, os, socket, sys
b = os.urandom(3000)
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b, (sys.argv[1], 7777)); print(len(b), hashlib.sha256(b).hexdigest())
"""


@pytest.mark.parametrize("dst", ["2001:db8:1::1", "192.0.2.1"])
def test_fragmented_udp_to_the_underlay(net, dst):
    """Issue 13, item 2: a 3000-byte UDP datagram to A's underlay address, fragmented
    by M (fragmented DNS, IKE_AUTH with certificates), reaches a socket on A."""
    a, b, x, m, y = net
    cap = Capture(m, "m0", ["ip6[6] == 44 or ip[6:2] & 0x3fff != 0"], snaplen=64)
    srv = a.popen([PYTHON, "-c", RECV, dst])
    try:
        assert srv.stdout.readline().strip() == "ready"
        sent = m(PYTHON, "-c", SEND, dst).stdout.split()
        got = srv.stdout.readline().split()
        srv.wait(timeout=10)
        frags = cap.packets()
    finally:
        if srv.poll() is None:
            srv.kill()
        cap.close()
    assert len(frags) >= 3, "the datagram did not leave M in fragments"
    assert got == sent


def test_wrong_source_counted_on_the_interface(net):
    """Issue 13, item 4: a valid SPI from the wrong source address is a bad_endpoint
    drop on the interface (ipsecifctl -j), 100 of 100, and on nothing else."""
    a, b, x, m, y = net
    before, glob = show(a, "ipsec0"), global_in(a)
    # A's inbound SA of ipsec0 (SPI 0x1001, from 198.51.100.2), sent from M's address.
    m(PYTHON, "-c", THIRD_PARTY, "192.0.2.1", "100", "0x1001", "esp")
    after = poll(lambda: (lambda s: s if s["drops"]["bad_endpoint"] >=
                          before["drops"]["bad_endpoint"] + 100 else None)(show(a, "ipsec0")),
                 what="100 bad_endpoint drops on ipsec0")
    moved = {k: after["drops"][k] - before["drops"][k] for k in after["drops"]
             if after["drops"][k] != before["drops"][k]}
    assert moved == {"bad_endpoint": 100}
    assert (after["packets"], global_in(a)) == (before["packets"], glob)


SENDP = r"""
import sys
from scapy.all import Ether, sendp
sendp([Ether(bytes.fromhex(h)) for h in sys.argv[2:]], iface=sys.argv[1], verbose=0)
"""


def snmp(ns):
    """The kernel's IPv4 and UDP counters in ns, as {("Ip", "InHdrErrors"): n, ...}."""
    lines = ns("cat", "/proc/net/snmp").stdout.splitlines()
    out = {}
    for names, values in zip(lines[::2], lines[1::2]):
        proto = names.split(":")[0]
        out.update({(proto, k): int(v) for k, v in zip(names.split()[1:], values.split()[1:])})
    return out


def test_broken_headers_counted_not_left_to_the_kernel(net):
    """Issue 13, item 4: IPv4 ESP with an IHL of 0-4 and UDP 4500 with a length of 0, 1,
    4 or 7, to A's tunnel endpoint, are malformed drops of A's; the kernel's
    IpInHdrErrors and UdpInErrors do not move."""
    from scapy.all import IP, UDP, Ether, Raw
    a, b, x, m, y = net
    eth = Ether(src=mac(m, "m0"), dst=mac(a, "ul0"))
    frames = [eth / IP(src="198.51.100.2", dst="192.0.2.1", proto=50, ihl=ihl) /
              Raw(bytes.fromhex("00001001") + bytes(60)) for ihl in range(5)]
    frames += [eth / IP(src="198.51.100.2", dst="192.0.2.1") /
               UDP(sport=4500, dport=4500, len=n, chksum=0) / Raw(b"\x00\x00\x10\x01" + bytes(40))
               for n in (0, 1, 4, 7)]
    kern, glob = snmp(a), global_in(a)
    m(PYTHON, "-c", SENDP, "m0", *(bytes(f).hex() for f in frames))
    poll(lambda: global_in(a)["malformed"] >= glob["malformed"] + 9, what="9 malformed drops")
    now = global_in(a)
    assert {k: now[k] - glob[k] for k in now if now[k] != glob[k]} == {"malformed": 9}
    after = snmp(a)
    assert [after[k] - kern[k] for k in (("Ip", "InHdrErrors"), ("Udp", "InErrors"))] == [0, 0]
