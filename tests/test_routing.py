# SPDX-License-Identifier: GPL-2.0-only
"""
Group addresses and a routing protocol over ipsec0 (issue 13, item 3),
gateways set up with ipsecifctl as in the README:

  X 10.100.0.5 -- lan0 [A] ul0 192.0.2.1 ------ 192.0.2.2 ul0 [B] lan0 -- Y 10.200.0.5
                      ipsec0 172.16.100.1 == tunnel == 172.16.200.1 ipsec0

Multicast (239.1.1.1) and broadcast (255.255.255.255) sent into ipsec0
cross: exact counts on A's outbound and B's inbound SA and in a capture on
B's ipsec0.  Then BIRD 2 runs OSPFv2 on both gateways (ipsec0 type ptp,
hello 1 s, dead 4 s; lan0 a stub), the far LAN is learned through ipsec0,
and X pings Y.  Each with the ordinary path and with the XDP line-rate
path (xdpfwd, lan add lan0), whose inbound side must leave group
addresses to ipsec0.  No static route to the far LAN exists: OSPF is the
only way Y can be reached.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from agents import ctl, poll, sas, setkey, show, two_lans
from sites import Capture

X, Y = "10.100.0.5", "10.200.0.5"
KEY_AB, KEY_BA = "0x" + "4b" * 36, "0x" + "b4" * 36
SITES = {   # underlay, LAN, ipsec0, OSPF router id
    "a": ("192.0.2.1", "10.100.0.1", "172.16.100.1"),
    "b": ("192.0.2.2", "10.200.0.1", "172.16.200.1"),
}
SPI_AB, SPI_BA = 0x3000, 0x4000

BIRD_CONF = """
router id {rid};
log "{log}" all;
protocol device {{ scan time 1; }}
protocol kernel {{ ipv4 {{ import none; export where source = RTS_OSPF; }}; }}
protocol ospf v2 {{
    ipv4 {{ import all; export none; }};
    area 0 {{
        interface "ipsec0" {{ type ptp; hello 1; dead 4; }};
        interface "lan0" {{ stub yes; }};
    }};
}}
"""


@pytest.fixture(params=["ordinary", "xdpfwd"])
def gateways(request, host_bpffs):
    fast = request.param == "xdpfwd"
    # For the line-rate path: NAPI on the hosts for XDP redirects into them, and
    # complete checksums, as from a wire (see test_lan).
    setup = [("ethtool", "-K", "eth0", "gro", "on", "tx", "off")] if fast else []
    with two_lans("ul0", "lan0", X, Y, host_setup=setup) as (x, a, b, y):
        for g, me, peer, out, inn, kout, kin in ((a, "a", "b", SPI_AB, SPI_BA, KEY_AB, KEY_BA),
                                                 (b, "b", "a", SPI_BA, SPI_AB, KEY_BA, KEY_AB)):
            ul, lan, inner = SITES[me]
            for dev, addr in (("ul0", ul), ("lan0", lan)):
                g("ip", "addr", "add", f"{addr}/24", "dev", dev)
                g("ip", "link", "set", dev, "up")
            ctl(g, "ipsec0", "create", "tunnel", ul, SITES[peer][0], "inet", f"{inner}/32",
                SITES[peer][2], *(["xdpfwd", "mtu", "1400"] if fast else []))
            if fast:
                ctl(g, "lan", "add", "lan0")
            r = setkey(g, f"add {ul} {SITES[peer][0]} esp {out} -m tunnel -u 1 "
                          f"-E chacha20-poly1305 {kout};\n"
                          f"add {SITES[peer][0]} {ul} esp {inn} -m tunnel -u 1 "
                          f"-E chacha20-poly1305 {kin};\n")
            assert r.returncode == 0, r.stderr
        # The tunnel works for unicast before anything else is tried.
        poll(lambda: a("ping", "-c", "1", "-W", "1", SITES["b"][2], check=False).returncode == 0,
             timeout=10, what="ping across ipsec0")
        yield x, a, b, y, fast


def sa_packets(g, spi):
    return sas(g)[spi]["packets"]


@pytest.mark.parametrize("dst,args", [("239.1.1.1", ["-t", "4"]), ("255.255.255.255", ["-b"])],
                         ids=["multicast", "broadcast"])
def test_group_addresses_cross(gateways, dst, args):
    """ping -I ipsec0 to a group address: 5 sealed by A, 5 opened by B, 5 seen
    arriving on B's ipsec0; no drop anywhere."""
    x, a, b, y, fast = gateways
    out0, in0 = sa_packets(a, SPI_AB), sa_packets(b, SPI_AB)
    cap = Capture(b, "ipsec0", ["icmp", "and", "dst", dst])
    try:
        a("ping", "-c", "5", "-i", "0.2", "-W", "1", "-I", "ipsec0", *args, dst, check=False)
        poll(lambda: sa_packets(b, SPI_AB) >= in0 + 5, what="5 packets opened by B")
        got = cap.packets()
    finally:
        cap.close()
    assert (sa_packets(a, SPI_AB) - out0, sa_packets(b, SPI_AB) - in0, len(got)) == (5, 5, 5)
    for g in (a, b):
        assert not any(show(g, "ipsec0")["drops"].values())


class Bird:
    """bird -f in ns with its own config, control socket and pid file in a temp dir."""

    def __init__(self, ns, rid):
        self.dir = tempfile.mkdtemp(prefix="ipsecif-bird-")
        self.sock = os.path.join(self.dir, "bird.ctl")
        conf = os.path.join(self.dir, "bird.conf")
        with open(conf, "w") as f:
            f.write(BIRD_CONF.format(rid=rid, log=os.path.join(self.dir, "bird.log")))
        self.ns = ns
        # ip netns exec execs bird: the child's pid is bird's.
        self.p = subprocess.Popen(["ip", "netns", "exec", ns.name, "bird", "-f", "-c", conf,
                                   "-s", self.sock, "-P", os.path.join(self.dir, "bird.pid")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def cli(self, *words):
        return self.ns("birdc", "-s", self.sock, *words, check=False).stdout

    def log(self):
        try:
            with open(os.path.join(self.dir, "bird.log")) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def learned(g, prefix):
    """The kernel route to prefix, when BIRD has put it there through ipsec0."""
    r = g("ip", "route", "show", prefix).stdout
    return r if "proto bird" in r and "dev ipsec0" in r else None


def test_ospf_over_ipsec0(gateways):
    """OSPFv2 (BIRD 2) forms a neighbour over ipsec0, each gateway learns the other's
    LAN through it, and X reaches Y (TTL 62: routed by both gateways)."""
    x, a, b, y, fast = gateways
    birds = []
    try:
        for g, me in ((a, "a"), (b, "b")):
            birds.append(Bird(g, SITES[me][2]))
        try:
            ra = poll(lambda: learned(a, "10.200.0.0/24"), timeout=30, what="A learns Y's LAN")
            rb = poll(lambda: learned(b, "10.100.0.0/24"), timeout=30, what="B learns X's LAN")
        except AssertionError:
            raise AssertionError("\n".join(bd.cli("show", "ospf", "neighbors") + bd.log()
                                           for bd in birds))
        assert "via 172.16.200.1" in ra and "via 172.16.100.1" in rb, (ra, rb)
        assert "Full" in birds[0].cli("show", "ospf", "neighbors")
        r = x("ping", "-c", "5", "-i", "0.2", "-W", "2", Y, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(int(t) == 62 for t in re.findall(r"ttl=(\d+)", r.stdout)), r.stdout
        for g in (a, b):
            s = show(g, "ipsec0")
            assert not any(s["drops"].values()), s
            if fast:
                assert s["fast"] > 0, s     # X's and Y's packets took the line-rate path
    finally:
        for bd in birds:
            bd.close()
