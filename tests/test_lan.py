# SPDX-License-Identifier: GPL-2.0-only
"""
The XDP line-rate path turned on by an operator, through the agent
(ipsecifctl ipsec0 xdpfwd, ipsecifctl lan add lan0):

  X 10.100.0.5 --veth-- [lan0] A [ul0] --veth-- [ul0] B [lan0] --veth-- Y 10.200.0.5
                 xdp_lan          xdp_esp_in      xdp_esp_in, xdpfwd

Both gateways are configured with ipsecifctl alone; traffic between X and
Y must be routed by both (TTLs) and nearly all of it must be counted in
the interfaces' "fast" counter, which only the line-rate path moves.
"""
import json
import re

import pytest

from agents import ctl, two_lans
from sites import transfer
from test_freebsd import setkey

X, Y = "10.100.0.5", "10.200.0.5"
KEY_AB, KEY_BA = "0x" + "3c" * 36, "0x" + "c3" * 36


@pytest.fixture
def lans(host_bpffs):
    # gro: NAPI for the XDP redirects into the hosts; tx off: checksums complete,
    # as from a wire (a veth hands its peer checksums still to be filled in).
    with two_lans("ul0", "lan0", X, Y,
                  host_setup=[("ethtool", "-K", "eth0", "gro", "on", "tx", "off")]) as hosts:
        yield hosts


def gateway(g, ul, peer_ul, lan, me, peer, far_lan, spi_out, spi_in, k_out, k_in):
    for dev, addr in (("ul0", ul), ("lan0", lan)):
        g("ip", "addr", "add", f"{addr}/24", "dev", dev)
        g("ip", "link", "set", dev, "up")
    # mtu 1400: a full-sized TCP segment from a veth arrives in an skb with
    # too little tailroom for the ESP trailer, and such frames take the
    # kernel's path (docs/DATAPATH.md); a NIC's receive buffers have room.
    ctl(g, "ipsec0", "create", "tunnel", ul, peer_ul, "inet", f"{me}/32", peer, "xdpfwd",
        "mtu", "1400")
    ctl(g, "lan", "add", "lan0")
    r = setkey(g, f"add {ul} {peer_ul} esp {spi_out} -m tunnel -u 1 -E chacha20-poly1305 {k_out};\n"
                  f"add {peer_ul} {ul} esp {spi_in} -m tunnel -u 1 -E chacha20-poly1305 {k_in};\n")
    assert r.returncode == 0, r.stderr
    g("ip", "route", "add", far_lan, "dev", "ipsec0")


def test_line_rate_path_through_the_agent(lans):
    x, a, b, y = lans
    gateway(a, "192.0.2.1", "192.0.2.2", "10.100.0.1", "172.16.100.1", "172.16.200.1",
            "10.200.0.0/24", 0x1000, 0x2000, KEY_AB, KEY_BA)
    gateway(b, "192.0.2.2", "192.0.2.1", "10.200.0.1", "172.16.200.1", "172.16.100.1",
            "10.100.0.0/24", 0x2000, 0x1000, KEY_BA, KEY_AB)
    r = x("ping", "-c", "5", "-i", "0.2", "-W", "2", Y, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(int(t) == 62 for t in re.findall(r"ttl=(\d+)", r.stdout)), r.stdout
    transfer(x, y, Y, size=10 * 1000 * 1000)
    transfer(y, x, X, size=10 * 1000 * 1000)
    for g in (a, b):
        shown = json.loads(ctl(g, "-j").stdout)
        s = shown["interfaces"][0]
        assert shown["lan"] == ["lan0"] and "xdpfwd" in s["flags"]
        # The first packets may find no neighbour entry yet: the kernel's path.
        assert s["fast"] > 0.9 * s["packets"] > 2000, s
        assert not any(s["drops"].values()), s
        assert f"fast {s['fast']}" in ctl(g, "ipsec0").stdout
