# SPDX-License-Identifier: GPL-2.0-only
"""
Outbound ESP (tc_esp_out) through BPF_PROG_TEST_RUN, in a namespace whose
routes and neighbours the program consults:

    [ipsec0] tc_esp_out -> bpf_fib_lookup -> redirect_neigh -> [ul0]
    (as ipsecN's peer)               192.0.2.1/24, 2001:db8::1/64 (veth)

What leaves must open in scapy to exactly the packet that went in, with
the outer header RFC 4303 and RFC 6040 ask for.
"""
import hashlib
import hmac
import itertools
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from dp import (DataPath, SUITES, LOCAL4, LOCAL6, PEER4, PEER6, F_INET6, F_ECN, F_NATT, SA_ESN,
                SA_NATT, EV_ACQUIRE, EV_SOFT, EV_HARD, EV_SEQ, save_pcap, scapy_sa)
from netns import Netns

TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT = 0, 2, 7
NOROUTE4 = "203.0.113.7"


@pytest.fixture(scope="module")
def env():
    ns = Netns()
    dp = None
    try:
        # veth, not dummy: this kernel has no dummy driver and loads no modules.
        for dev in ("ul0", "ipsec0", "other0", "other1"):
            ns("ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p")
            ns("ip", "link", "set", dev, "up")
            ns("ip", "link", "set", dev + "p", "up")
        # The route lookup is a forwarding one from ipsec0 (see esp_out.h).
        ns("sysctl", "-qw", "net.ipv4.conf.ipsec0.forwarding=1")
        ns("sysctl", "-qw", "net.ipv6.conf.ipsec0.forwarding=1")
        ns("ip", "addr", "add", f"{LOCAL4}/24", "dev", "ul0")
        ns("ip", "addr", "add", f"{LOCAL6}/64", "dev", "ul0", "nodad")
        for peer in (PEER4, PEER6):
            ns("ip", "neigh", "add", peer, "lladdr", "02:00:00:00:02:02", "dev", "ul0",
               "nud", "permanent")
        dp = DataPath(netns=ns.name)
        dp.ns = ns
        dp.ifindex = ns.ifindex("ipsec0")
        yield dp
    finally:
        if dp:
            dp.close()
        ns.close()


class Out:
    """ipsec0 with an outbound SA; one at a time, since ipsec0's ifindex names the reqid."""
    n = 0

    def __init__(self, dp, suite, outer=4, esn=False, flags=F_INET6, natt=False, seq=0,
                 dst=None, mtu=1400):
        Out.n += 1
        self.dp, self.suite, self.esn = dp, suite, esn
        self.reqid = 500 + Out.n
        self.sa_id = 5000 + Out.n
        self.spi = 0x5000 + Out.n
        self.local = LOCAL4 if outer == 4 else LOCAL6
        self.peer = dst or (PEER4 if outer == 4 else PEER6)
        self.key = os.urandom(suite.klen)
        self.akey = os.urandom(suite.aklen) if suite.aklen else b""
        self.esn_hi = seq >> 32
        dp.key(self.sa_id, suite, self.key, self.akey)
        # The test runs play ipsec0's peer: the device the program runs on.
        dp.iface(self.reqid, flags, outer, self.local, self.peer, peer_ifindex=dp.ifindex,
                 mtu=mtu)
        dp.sa("out", self.sa_id, self.spi, self.reqid, (SA_ESN if esn else 0) |
              (SA_NATT if natt else 0), outer, self.local, self.peer, sport=4500,
              dport=4501 if natt else 0, top=seq)

    def send(self, inner):
        frame = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / inner
        return self.dp.run("tc_esp_out", frame, ifindex=self.dp.ifindex)

    def open(self, out):
        """The peer: scapy's ESP opens what we sent."""
        pkt = Ether(out)
        outer = pkt.payload
        if UDP in outer:      # NAT-T: put ESP straight behind the IP header for scapy
            esp = bytes(outer[UDP].payload)
            outer = outer.__class__(bytes(outer)[:len(bytes(outer)) - len(bytes(outer[UDP]))] + esp)
            if IP in outer:
                outer[IP].proto = 50
            else:
                outer[IPv6].nh = 50
            outer = outer.__class__(bytes(outer))
        hi = self.esn_hi      # the tests stay within one 2^32 subspace
        sa = scapy_sa(self.suite, self.spi, self.key, self.akey, self.local, self.peer,
                      self.esn, hi)
        if self.esn and self.suite.auth:
            # scapy leaves ESN out of the HMAC (see test_esp_in): check it ourselves.
            icv_len = 12 if self.suite.auth == 2 else 16
            wire = bytes(outer[ESP])
            digest = hashlib.sha1 if self.suite.auth == 2 else hashlib.sha256
            want = hmac.new(self.akey, wire[:-icv_len] + struct.pack("!L", hi), digest).digest()
            assert wire[-icv_len:] == want[:icv_len], "ICV (with ESN) does not verify"
            return sa.decrypt(outer, verify=False)
        return sa.decrypt(outer)

    def stats(self):
        return self.dp.stats("sa", self.sa_id)


def inner_packet(family, size=100, tos=0):
    # Port 9 both ways: scapy dissects sport 53 (its default) as DNS, and random bytes as
    # DNS can recurse past Python's limit once scapy.all has bound every layer.
    payload = Raw(os.urandom(size))
    if family == 4:
        return (IP(src="10.100.0.5", dst="10.200.0.5", tos=tos, flags="DF") /
                UDP(sport=9, dport=9) / payload)
    return IPv6(src="fd00:100::5", dst="fd00:200::5", tc=tos) / UDP(sport=9, dport=9) / payload


MATRIX = list(itertools.product(SUITES, (4, 6), (4, 6), (False, True)))


@pytest.mark.parametrize("suite,outer,inner_fam,esn", MATRIX,
                         ids=[f"{s.name}-outer{o}-inner{i}-{'esn' if e else 'seq32'}"
                              for s, o, i, e in MATRIX])
def test_encap_opens_in_scapy(env, suite, outer, inner_fam, esn):
    t = Out(env, suite, outer, esn, seq=(5 << 32) if esn else 0)
    sent = 0
    for n, size in enumerate((0, 1, 2, 3, 100, 1000, 1300), 1):
        inner = inner_packet(inner_fam, size)
        ret, out = t.send(inner)
        assert ret == TC_ACT_REDIRECT
        got = t.open(out)
        if bytes(got) != bytes(inner):
            path = save_pcap(f"esp_out-{os.getpid()}-{n}", [Ether() / inner, out,
                                                             Ether() / got])
            assert bytes(got) == bytes(inner), f"sent, sealed and opened frames in {path}"
        esp = Ether(out)[ESP]
        assert esp.spi == t.spi and esp.seq == n     # low half of (5 << 32) + n with ESN
        if suite.enc != 1:
            # AEAD IV = the 64-bit sequence number (RFC 4106 §3.1).
            assert bytes(esp.data[:8]) == struct.pack("!Q", (t.esn_hi << 32) + n)
        sent += len(bytes(inner))
    st = t.stats()
    assert st["packets"] == 7 and st["bytes"] == sent
    assert sum(v for k, v in st.items() if k not in ("packets", "bytes", "fast")) == 0


def test_outer_header_fields(env):
    """TTL 64, DSCP copied, ECN Not-ECT without link1 and copied with it, DF copied."""
    for flags, want_ecn in ((F_INET6, lambda e: 0), (F_INET6 | F_ECN, lambda e: e)):
        t = Out(env, SUITES[0], 4, flags=flags)
        for ecn in range(4):
            ret, out = t.send(inner_packet(4, 50, tos=0xb8 | ecn))
            assert ret == TC_ACT_REDIRECT
            o = Ether(out)[IP]
            assert o.ttl == 64 and o.proto == 50
            assert o.tos == 0xb8 | want_ecn(ecn)
            assert o.flags.DF
            assert o.src == LOCAL4 and o.dst == PEER4
            chk = o.chksum
            del o.chksum
            assert IP(bytes(o)).chksum == chk
        t6 = Out(env, SUITES[1], 6, flags=flags)
        ret, out = t6.send(inner_packet(6, 50, tos=0x28 | 1))
        o6 = Ether(out)[IPv6]
        assert o6.hlim == 64 and o6.nh == 50 and o6.tc == 0x28 | want_ecn(1)


def test_padding_is_1_2_3(env):
    """Decrypt by hand: the trailer is 1, 2, 3, ..., pad length, next header."""
    t = Out(env, SUITES[0], 4)
    for size in range(0, 8):
        inner = inner_packet(4, size)
        ret, out = t.send(inner)
        esp = bytes(Ether(out)[ESP])
        spi_seq, iv, ct = esp[:8], esp[8:16], esp[16:]
        pt = ChaCha20Poly1305(t.key[:32]).decrypt(t.key[32:] + iv, ct, spi_seq)
        padlen, nh = pt[-2], pt[-1]
        assert nh == 4 and len(pt) % 4 == 0
        assert pt[len(bytes(inner)):-2] == bytes(range(1, padlen + 1))


def test_cbc_iv_unpredictable(env):
    t = Out(env, SUITES[3], 4)
    ivs = set()
    for n in range(1, 20):
        ret, out = t.send(inner_packet(4, 40))
        iv = bytes(Ether(out)[ESP].data[:16])
        assert iv not in ivs and iv[:8] != struct.pack("!Q", n)
        ivs.add(iv)


def test_natt(env):
    for outer in (4, 6):
        t = Out(env, SUITES[1], outer, natt=True)
        inner = inner_packet(4)
        ret, out = t.send(inner)
        assert ret == TC_ACT_REDIRECT
        u = Ether(out)[UDP]
        assert u.sport == 4500 and u.dport == 4501
        if outer == 4:
            assert u.chksum == 0          # RFC 3948 §2.1
        else:
            chk = u.chksum
            o = Ether(out)[IPv6]
            del o[UDP].chksum
            assert chk != 0 and IPv6(bytes(o))[UDP].chksum == chk
        assert bytes(t.open(out)) == bytes(inner)


def test_link0_natt_default_port(env):
    """link0 wraps an SA set without NAT-T in UDP 4500 both ways (ipsecif(4));
    without link0 the same SA sends plain ESP."""
    for flags, udp in ((F_INET6 | F_NATT, True), (F_INET6, False)):
        t = Out(env, SUITES[0], 4, flags=flags)
        inner = inner_packet(4)
        ret, out = t.send(inner)
        assert ret == TC_ACT_REDIRECT
        o = Ether(out)[IP]
        assert o.proto == (17 if udp else 50)
        if udp:
            assert (o[UDP].sport, o[UDP].dport, o[UDP].chksum) == (4500, 4500, 0)
            assert o.len == len(bytes(o)) and o[UDP].len == len(bytes(o[UDP]))
        assert bytes(t.open(out)) == bytes(inner)


def drop(t, inner, reason, sa_counted=True):
    key = ("sa", t.sa_id) if sa_counted else ("if", t.reqid)
    before = t.dp.stats(*key)
    ret, _ = t.send(inner)
    after = t.dp.stats(*key)
    assert ret == TC_ACT_SHOT
    assert after[reason] == before[reason] + 1, reason
    assert {k for k in after if after[k] != before[k]} == {reason}


def test_drops(env):
    t = Out(env, SUITES[0], 4, flags=0, mtu=500)
    drop(t, inner_packet(6), "inner_family", sa_counted=False)      # link2 off
    drop(t, inner_packet(4, 600), "too_big", sa_counted=False)      # over ipsec0's MTU
    t = Out(env, SUITES[0], 4, seq=0xffffffff)                       # no ESN: used up
    drop(t, inner_packet(4), "seq_exhausted")
    t = Out(env, SUITES[0], 4, dst=NOROUTE4)
    drop(t, inner_packet(4), "no_route")
    # Sealed, it would exceed the route's MTU: never fragmented, dropped.
    env.ns("ip", "link", "set", "ul0", "mtu", "1000")
    try:
        t = Out(env, SUITES[0], 4)
        ret, _ = t.send(inner_packet(4, 900))
        assert ret == TC_ACT_REDIRECT
        drop(t, inner_packet(4, 960), "too_big")
    finally:
        env.ns("ip", "link", "set", "ul0", "mtu", "1500")


def test_not_ipsecif_passes(env):
    idx = env.ns.ifindex("other0")
    frame = Ether() / inner_packet(4)
    ret, out = env.run("tc_esp_out", frame, ifindex=idx)
    assert ret == TC_ACT_OK and out == bytes(frame)


def test_sa_switch(env):
    """A new outbound SA for the reqid takes over at once, its sequence from 1."""
    t = Out(env, SUITES[0], 4)
    for n in (1, 2):
        ret, out = t.send(inner_packet(4))
        assert ret == TC_ACT_REDIRECT and Ether(out)[ESP].seq == n
    new_id, new_spi = t.sa_id + 100000, t.spi + 0x100000
    env.key(new_id, t.suite, t.key, t.akey)
    env.sa("out", new_id, new_spi, t.reqid, 0, 4, t.local, t.peer)
    t.sa_id, t.spi = new_id, new_spi
    inner = inner_packet(4)
    ret, out = t.send(inner)
    esp = Ether(out)[ESP]
    assert ret == TC_ACT_REDIRECT and esp.spi == new_spi and esp.seq == 1
    assert bytes(t.open(out)) == bytes(inner)


def events_for(env, reqid):
    return [e for e in env.events() if e[1] == reqid]


def test_acquire_event(env):
    """No outbound SA: the packet is dropped and counted, and IKE is asked, once a second."""
    Out.n += 1
    reqid = 500 + Out.n
    env.iface(reqid, F_INET6, 4, LOCAL4, PEER4, peer_ifindex=env.ifindex, mtu=1400)
    env.events()                                   # drain
    frame = Ether() / inner_packet(4)
    for _ in range(3):
        ret, _ = env.run("tc_esp_out", frame, ifindex=env.ifindex)
        assert ret == TC_ACT_SHOT
    assert env.stats("if", reqid)["no_sa"] == 3
    assert events_for(env, reqid) == [(EV_ACQUIRE, reqid, 0, 0, 0)]


def test_lifetimes_and_expire_events(env):
    t = Out(env, SUITES[0], 4)
    env.life("out", t.reqid, soft_packets=2, hard_packets=3)
    env.events()
    verdicts = [t.send(inner_packet(4, 10))[0] for _ in range(5)]
    # RFC 4301 §4.4.2.1: the soft limit warns, the hard one ends the SA.
    assert verdicts == [TC_ACT_REDIRECT] * 3 + [TC_ACT_SHOT] * 2
    assert t.stats()["expired"] == 2
    assert events_for(env, t.reqid) == [(EV_SOFT, t.reqid, t.sa_id, t.spi, 2),
                                        (EV_HARD, t.reqid, t.sa_id, t.spi, 3)]
    # Byte limits, counted in inner bytes.
    t = Out(env, SUITES[1], 4)
    size = len(bytes(inner_packet(4, 100)))
    env.life("out", t.reqid, soft_bytes=size + 1, hard_bytes=10 * size)
    env.events()
    t.send(inner_packet(4, 100))
    assert events_for(env, t.reqid) == []
    t.send(inner_packet(4, 100))
    assert events_for(env, t.reqid) == [(EV_SOFT, t.reqid, t.sa_id, t.spi, 2 * size)]


def test_sequence_threshold_event(env):
    """Without ESN, IKE is asked to rekey well before the counter runs out."""
    start = 0xffffffff - (1 << 24) - 2
    t = Out(env, SUITES[0], 4, seq=start)
    env.events()
    t.send(inner_packet(4))                        # start + 1: not yet
    assert events_for(env, t.reqid) == []
    t.send(inner_packet(4))                        # start + 2 = the threshold
    t.send(inner_packet(4))
    assert events_for(env, t.reqid) == [(EV_SEQ, t.reqid, t.sa_id, t.spi, start + 2)]
    t = Out(env, SUITES[0], 4, esn=True, seq=start)
    env.events()
    t.send(inner_packet(4))
    t.send(inner_packet(4))
    assert events_for(env, t.reqid) == []          # with ESN there is no end in sight


def test_drop_without_counters_counts_globally(env):
    """A device mapped to a reqid that has no interface yet: dropped, counted globally."""
    idx = env.ns.ifindex("other1")
    env.cmd(f"ifindex {idx} 9999")
    before = env.stats("global", 1)["no_sa"]
    ret, _ = env.run("tc_esp_out", Ether() / inner_packet(4), ifindex=idx)
    assert ret == TC_ACT_SHOT
    assert env.stats("global", 1)["no_sa"] == before + 1


GROUPS = [  # inner destination, the frame's destination MAC as ipsecN's neighbour layer writes it
    (IP(src="10.100.0.5", dst="224.0.0.5", ttl=1), "01:00:5e:00:00:05"),      # OSPF hellos
    (IP(src="10.100.0.5", dst="239.1.1.1"), "01:00:5e:01:01:01"),
    (IP(src="10.100.0.5", dst="255.255.255.255"), "ff:ff:ff:ff:ff:ff"),
    (IPv6(src="fe80::1", dst="ff02::5", hlim=1), "33:33:00:00:00:05"),
]


@pytest.mark.parametrize("inner,dmac", GROUPS, ids=[g[0].dst for g in GROUPS])
def test_group_destinations_leave_as_unicast(env, inner, dmac):
    """Issue 13: bpf_redirect_neigh frees a frame whose destination MAC is a group
    address, and the sealed frame kept the inner packet's.  What leaves is sealed in
    a unicast frame (the neighbour layer writes the real one), counted once, as sent."""
    t = Out(env, SUITES[0], 4)
    pkt = inner / UDP(sport=89, dport=89) / Raw(os.urandom(40))
    ret, out = env.run("tc_esp_out", Ether(src="02:00:00:00:00:0a", dst=dmac) / pkt,
                       ifindex=env.ifindex)
    assert ret == TC_ACT_REDIRECT
    assert not out[0] & 1, f"sealed frame still to a group address: {Ether(out).dst}"
    assert bytes(t.open(out)) == bytes(pkt)
    st = t.stats()
    assert st["packets"] == 1 and sum(st[k] for k in st if k not in ("packets", "bytes")) == 0
