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


def test_a_tunnels_underlay_is_not_a_lan_device(host_bpffs):
    """lan add of a device a tunnel starts at is refused by the interface's name, even
    before an SA puts xdp_esp_in there (it was taken, and kept xdp_esp_in off: no
    inbound ESP).  A LAN device that a tunnel came to start at meanwhile gets
    xdp_esp_in once lan del takes xdp_lan off it (it was left with none)."""
    from agents import agent_sites
    key = "0x" + "5a" * 20
    with agent_sites(1) as (a,):
        for dev, peer, addr in (("ul0", "ul9", "10.60.0.1"), ("lan0", "lan9", "10.61.0.1")):
            a("ip", "link", "add", dev, "type", "veth", "peer", "name", peer)
            a("ip", "addr", "add", f"{addr}/24", "dev", dev)
            for d in (dev, peer):
                a("ip", "link", "set", d, "up")
        ctl(a, "ipsec0", "create", "reqid", "1", "tunnel", "10.60.0.1", "10.60.0.2")
        r = ctl(a, "lan", "add", "ul0", check=False)
        assert r.returncode != 0 and "ul0: ipsec0's tunnel starts here" in r.stderr, r.stderr
        assert json.loads(ctl(a, "-j").stdout)["lan"] == []
        assert "xdp" not in a("ip", "-d", "link", "show", "ul0").stdout
        ctl(a, "lan", "add", "lan0")
        ctl(a, "ipsec1", "create", "reqid", "2", "tunnel", "10.61.0.1", "10.61.0.2")
        r = setkey(a, f"add 10.61.0.2 10.61.0.1 esp 7002 -m tunnel -u 2 -E aes-gcm-16 {key};\n")
        assert r.returncode == 0, r.stderr
        shown = json.loads(ctl(a, "-j", "ipsec1").stdout)["interfaces"][0]
        assert shown["attached"]["xdp_esp_in"] is None, shown
        ctl(a, "lan", "del", "lan0")
        shown = json.loads(ctl(a, "-j", "ipsec1").stdout)["interfaces"][0]
        assert shown["attached"]["xdp_esp_in"] == "lan0", shown
        assert "xdp_esp_in" in a("ip", "-d", "link", "show", "lan0").stdout
