# SPDX-License-Identifier: GPL-2.0-only
"""
The NetBSD ipsecif(4) example's four hosts, with the page's addresses,
ifconfig replaced by ipsecifctl and "route add" by ip route:

  Host_X 10.100.0.2 -- wm1 10.100.0.1 [NetBSD_A] wm0 192.168.0.1
                                         ipsec0 172.16.100.1 == tunnel ==
  Host_Y 10.200.0.2 -- wm1 10.200.0.1 [NetBSD_B] wm0 192.168.0.2
                                         ipsec0 172.16.200.1

SAs set manually (the page: "start IKE daemon or set security associates
manually"), ChaCha20-Poly1305; inner IPv4 only, so link2 is turned off
as the page suggests.  Host_X pings Host_Y and sends it 5 MB over TCP.
"""
import json

import pytest

from agents import ctl, map_dump, sa_ctr, two_lans
from sites import transfer
from agents import setkey

KEY_AB, KEY_BA = "0x" + "5a" * 36, "0x" + "a5" * 36


@pytest.fixture
def page(host_bpffs):
    with two_lans("wm0", "wm1", "10.100.0.2", "10.200.0.2") as hosts:
        yield hosts


def gateway(g, wm0, peer_wm0, wm1, me, peer, far_lan, spi_out, spi_in, k_out, k_in):
    g("ip", "addr", "add", f"{wm0}/24", "dev", "wm0")          # ifconfig wm0 inet ...
    g("ip", "link", "set", "wm0", "up")
    ctl(g, "ipsec0", "create")
    ctl(g, "ipsec0", "tunnel", wm0, peer_wm0)
    ctl(g, "ipsec0", "inet", f"{me}/32", peer)
    ctl(g, "ipsec0", "-link2")
    r = setkey(g, f"add {wm0} {peer_wm0} esp {spi_out} -m tunnel -u 1 "
                  f"-E chacha20-poly1305 {k_out};\n"
                  f"add {peer_wm0} {wm0} esp {spi_in} -m tunnel -u 1 "
                  f"-E chacha20-poly1305 {k_in};\n")
    assert r.returncode == 0, r.stderr
    g("ip", "addr", "add", f"{wm1}/24", "dev", "wm1")          # ifconfig wm1 inet ...
    g("ip", "link", "set", "wm1", "up")
    g("ip", "route", "add", far_lan, "via", peer)               # route add ...


def test_netbsd_example(page):
    x, a, b, y = page
    gateway(a, "192.168.0.1", "192.168.0.2", "10.100.0.1", "172.16.100.1", "172.16.200.1",
            "10.200.0.0/24", 0x1000, 0x2000, KEY_AB, KEY_BA)
    gateway(b, "192.168.0.2", "192.168.0.1", "10.200.0.1", "172.16.200.1", "172.16.100.1",
            "10.100.0.0/24", 0x2000, 0x1000, KEY_BA, KEY_AB)
    shown = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]
    assert shown["reqid"] == 1 and shown["flags"] == [] and shown["tunnel"]["dst"] == "192.168.0.2"
    r = x("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.200.0.2", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    transfer(x, y, "10.200.0.2", size=5 * 1000 * 1000)
    # A's outbound SA carried it, and B's inbound one received as much: the
    # SAs by reqid in sa_out and sa_in, their counters at their slots in sa_ctr.
    out_id = map_dump(a, "sa_out")[0]["value"]["id"]
    in_id = [e["value"]["id"] for e in map_dump(b, "sa_in") if e["value"]["reqid"] == 1][0]
    sent, got = sa_ctr(a, out_id), sa_ctr(b, in_id)
    assert sent["bytes"] > 5 * 1000 * 1000 and sent["seq"] == sent["packets"]
    assert got["packets"] == sent["packets"] and got["bytes"] == sent["bytes"]
    # The policies of the interface, as setkey -DP would list them.
    spd = setkey(a, "spddump;\n").stdout
    assert "192.168.0.1 192.168.0.2 ipv4 -P out ipsec" in spd
    assert "192.168.0.2 192.168.0.1 ipv6 -P in discard" in spd
