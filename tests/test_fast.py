# SPDX-License-Identifier: GPL-2.0-only
"""
The XDP line-rate path between two LANs (the NetBSD ipsecif(4) page's
picture, Host_X - A == tunnel == B - Host_Y):

  X 10.100.0.5 --veth-- [lan0] A [ul0] --veth-- [ul0] B [lan0] --veth-- Y 10.200.0.5
                 xdp_lan: seal and  xdp_esp_in     xdp_esp_in with
                 send to ul0        (decap)        IPSECIF_F_XDP_FWD: to lan0

Traffic from X to Y is sealed on A's LAN device and, on B, forwarded
straight from the underlay to the LAN; the counters of the fast path
(stats "fast") prove it took that path, and TTLs prove it was routed.
"""
import os
import re

import pytest

from dp import SUITES, F_INET6
from netns import Netns
from sites import IN_A, IN_B, UL_A, UL_B, MTU, site, mac, start_datapaths, transfer

F_XDP_FWD = 8
X, Y = "10.100.0.5", "10.200.0.5"


def gateway(ns, inner, peer_inner, ul, lan, far_lan):
    site(ns, inner, peer_inner, ul)
    ns("sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns("sysctl", "-qw", "net.ipv4.conf.ipsec0.forwarding=1")
    ns("ip", "link", "set", "lan0", "up")
    ns("ip", "addr", "add", f"{lan}/24", "dev", "lan0")
    ns("ip", "route", "add", far_lan, "dev", "ipsec0")


def host(ns, addr, gw):
    ns("ip", "link", "set", "eth0", "up")
    # gro: NAPI for XDP redirects into it.  tx off: a veth hands its peer
    # packets with checksums still to be filled in, which no wire does; the
    # hosts stand for machines on a real LAN.
    ns("ethtool", "-K", "eth0", "gro", "on", "tx", "off")
    ns("ip", "addr", "add", f"{addr}/24", "dev", "eth0")
    ns("ip", "route", "add", "default", "via", gw)


@pytest.fixture(scope="module")
def lans():
    x, a, b, y = Netns(), Netns(), Netns(), Netns()
    dps = []
    try:
        x("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", a.name)
        a("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name)
        y("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", b.name)
        gateway(a, IN_A, IN_B, UL_A, "10.100.0.1", "10.200.0.0/24")
        gateway(b, IN_B, IN_A, UL_B, "10.200.0.1", "10.100.0.0/24")
        host(x, X, "10.100.0.1")
        host(y, Y, "10.200.0.1")
        dps = start_datapaths((a, b), lan=True)
        yield x, y, dps
    finally:
        for d in dps:
            d.close()
        for ns in (x, a, b, y):
            ns.close()


def configure(dps, suite, n):
    """Keys and SAs for suite, ids 30 + 2n (out) and 31 + 2n (in): keys are never reused."""
    a, b = dps
    out_id, in_id = 30 + 2 * n, 31 + 2 * n
    keys = {d: (os.urandom(suite.klen), os.urandom(suite.aklen)) for d in ("ab", "ba")}
    for d, local, peer, kout, kin, spi_out, spi_in in (
            (a, UL_A, UL_B, keys["ab"], keys["ba"], 0x300, 0x400),
            (b, UL_B, UL_A, keys["ba"], keys["ab"], 0x400, 0x300)):
        d.key(out_id, suite, kout[0], kout[1] if suite.aklen else b"")
        d.key(in_id, suite, kin[0], kin[1] if suite.aklen else b"")
        ipsec0 = d.ns.ifindex("ipsec0")
        d.iface(7, F_INET6 | F_XDP_FWD, 4, local, peer, ifindex=ipsec0,
                peer_ifindex=d.ns.ifindex("ipsec0p"), mtu=MTU,
                mac=mac(d.ns, "ipsec0"), peer_mac=mac(d.ns, "ipsec0p"))
        d.cmd(f"ifindex {ipsec0} 7")
        d.sa("out", out_id, spi_out + n, 7, 0, 4, local, peer)
        d.sa("in", in_id, spi_in + n, 7, 0, 4, peer, local)
    return out_id, in_id


@pytest.mark.parametrize("n,suite", list(enumerate(SUITES)), ids=[s.name for s in SUITES])
def test_line_rate_path(lans, n, suite):
    x, y, (a, b) = lans
    out_id, in_id = configure((a, b), suite, n)
    r = x("ping", "-c", "5", "-i", "0.2", "-W", "2", Y, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # Routed by A and by B: 64 - 2, both ways.
    assert all(int(t) == 62 for t in re.findall(r"ttl=(\d+)", r.stdout)), r.stdout
    transfer(x, y, Y, size=20 * 1000 * 1000)
    transfer(y, x, X, size=20 * 1000 * 1000)
    for d, sa in ((a, out_id), (b, in_id), (b, out_id), (a, in_id)):
        st = d.stats("sa", sa)
        # A neighbour entry may be missing for the first packets: those take the
        # kernel's path (and resolve it).  Nearly all the rest take the fast one.
        assert st["fast"] > 0.9 * st["packets"] > 1000, (sa, st)
        assert all(v == 0 for k, v in st.items() if k not in ("packets", "bytes", "fast")), st


def test_kernel_path_counted_once(lans):
    """Issue 13, item 4: a packet xdp_lan has sealed but leaves to the kernel (no
    neighbour entry for the far end yet) is sealed again by tc_esp_out; against the
    SA's lifetimes (sa_ctr) it counts once, as the far end counts it."""
    x, y, (a, b) = lans
    out_id, in_id = configure((a, b), SUITES[0], len(SUITES))
    for d in (a, b):
        d.ns("ip", "neigh", "flush", "dev", "ul0")
    r = x("ping", "-c", "5", "-i", "0.2", "-W", "2", Y, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # A's first echo request finds no neighbour entry and takes the kernel's path (B
    # learns A's address from A's ARP request, so Y's replies may all be fast).
    st = a.stats("sa", out_id)
    assert st["packets"] == 5 and st["fast"] < 5, st
    for src, dst in ((a, b), (b, a)):
        sent, got = src.ctr(out_id), dst.ctr(in_id)
        assert (sent["packets"], sent["bytes"]) == (got["packets"], got["bytes"]) == \
            (5, 5 * 84), (sent, got)
