# SPDX-License-Identifier: GPL-2.0-only
"""
NAT traversal (RFC 3948) between two agent-run sites, site A behind a NAT
that rewrites A's tunnel source to its own address and another port:

  A  ul0 10.0.0.2/24 -- lan0 10.0.0.1 [NAT] wan0 198.51.100.1 -- ul0 198.51.100.2/24  B
     ipsec0 link0, 172.16.0.1 -> .2        snat udp 4500 to            ipsec0 link0,
     SAs without ports (link0: 4500)       198.51.100.1:14500;         SAs to the NAT's
                                           plain ESP dropped           198.51.100.1[14500]

Traffic crosses both ways only as ESP in UDP; B's SA sends to the NAT's
translated address and port.  NAT-keepalives and IKE (non-ESP marker)
to UDP 4500 reach a socket there byte for byte, past xdp_esp_in.
"""
import subprocess

import pytest

from agents import agent_sites, map_dump, percpu_drops, sas, show, tunnel_end
from sites import Capture, link_drops, transfer, veth

NAT_PORT = 14500
A, NAT_IN, NAT_OUT, B = "10.0.0.2", "10.0.0.1", "198.51.100.1", "198.51.100.2"

NFT = f"""
table ip nat {{
    chain post {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan0" udp sport 4500 snat to {NAT_OUT}:{NAT_PORT}
        oifname "wan0" masquerade
    }}
}}
table ip filter {{
    chain nofwd {{
        type filter hook forward priority filter; policy accept;
        ip protocol esp counter drop
    }}
}}
"""


@pytest.fixture
def natted(host_bpffs):
    with agent_sites(2, plain=1) as (a, b, nat):
        veth(a, "ul0", nat, "lan0", [f"{A}/24"], [f"{NAT_IN}/24"])
        veth(nat, "wan0", b, "ul0", [f"{NAT_OUT}/24"], [f"{B}/24"])
        # In order through the NAT, as through one NIC queue (see test_network's M).
        for dev in ("lan0", "wan0"):
            nat("ethtool", "-K", dev, "gro", "on")
        a("ip", "route", "add", "default", "via", NAT_IN)
        nat("sysctl", "-qw", "net.ipv4.ip_forward=1")
        r = subprocess.run(["ip", "netns", "exec", nat.name, "nft", "-f", "-"], input=NFT,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        # A knows only its own address and B's; B knows A as the NAT's address and port.
        tunnel_end(a, "ipsec0", 100, A, B, 0x1000, 0x2000, ifargs=["link0"],
                   inner=[["inet", "172.16.0.1/32", "172.16.0.2"]])
        tunnel_end(b, "ipsec0", 200, B, NAT_OUT, 0x2000, 0x1000, ifargs=["link0"],
                   dport=NAT_PORT, inner=[["inet", "172.16.0.2/32", "172.16.0.1"]])
        yield a, b, nat


def test_natt_through_napt(natted):
    a, b, nat = natted
    assert sas(b)[0x2000]["natt"] == [4500, NAT_PORT]
    assert sas(a)[0x1000]["natt"] == [0, 0]     # link0 supplies the ports
    # On the NAT's wan0: xdp_esp_in takes ESP before a capture on B's ul0 would see it.
    cap = Capture(nat, "wan0")
    path = ((a, "ul0"), (nat, "lan0"), (nat, "wan0"), (b, "ul0"))
    drops0 = sum(link_drops(ns, dev) for ns, dev in path)
    try:
        # A first: its packets make the NAT's mapping, which B's then use.
        for src, dst in ((a, "172.16.0.2"), (b, "172.16.0.1")):
            r = src("ping", "-c", "3", "-i", "0.05", "-W", "2", dst, check=False)
            assert r.returncode == 0, r.stdout + r.stderr
        transfer(a, b, "172.16.0.2", size=2 * 1000 * 1000)
        transfer(b, a, "172.16.0.1", size=2 * 1000 * 1000)
        pkts = cap.packets()
    finally:
        cap.close()
    from scapy.all import IP, UDP
    ip = [p[IP] for p in pkts if IP in p]
    assert not [p for p in ip if p.proto == 50], "plain ESP on the wire"
    sent = [p for p in ip if p.src == B and UDP in p]
    got = [p for p in ip if p.dst == B and UDP in p]
    assert len(sent) > 100 and len(got) > 100, (len(sent), len(got))
    # B sends to the NAT's mapping; RFC 3948 §2.1: IPv4 UDP checksum zero.
    assert {(p.dst, p[UDP].sport, p[UDP].dport, p[UDP].chksum) for p in sent} == \
        {(NAT_OUT, 4500, NAT_PORT, 0)}
    assert {(p.src, p[UDP].sport, p[UDP].dport) for p in got} == {(NAT_OUT, NAT_PORT, 4500)}
    # The NAT dropped no plain ESP: there was none to drop.
    assert "packets 0 bytes 0" in nat("nft", "list", "chain", "ip", "filter", "nofwd").stdout
    # Each SA's two ends agree exactly, but for what a veth on the way counted as dropped
    # (its peer's ring full, under load: TCP sends it again); neither end dropped any.
    sa, sb = sas(a), sas(b)
    lost = {spi: tx[spi]["packets"] - rx[spi]["packets"]
            for spi, tx, rx in ((0x1000, sa, sb), (0x2000, sb, sa))}
    dropped = sum(link_drops(ns, dev) for ns, dev in path) - drops0
    assert min(lost.values()) >= 0 and sum(lost.values()) <= dropped, (lost, dropped)
    for spi, rx in ((0x1000, sb), (0x2000, sa)):
        assert rx[spi]["packets"] > 1000, spi
        if not lost[spi]:
            assert sa[spi]["bytes"] == sb[spi]["bytes"], spi
    for ns in (a, b):
        assert not any(show(ns, "ipsec0")["drops"].values()), show(ns, "ipsec0")["drops"]


PEER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 4500)); s.settimeout(10)
print("ready", flush=True)
for line in sys.stdin:
    op, arg = line.split()
    if op == "send":
        host, port, data = arg.split(",")
        s.sendto(bytes.fromhex(data), (host, int(port)))
        print("sent", flush=True)
    else:
        data, addr = s.recvfrom(65535)
        print(data.hex(), "%s:%d" % addr, flush=True)
"""


class Peer:
    """A UDP socket on port 4500 in ns, sending and receiving on command."""

    def __init__(self, ns, addr):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns.name, "/usr/bin/python3", "-c",
                                   PEER, addr], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def _do(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().split()
        assert out, "the peer died (a receive timed out?)"
        return out

    def send(self, host, port, data):
        assert self._do(f"send {host},{port},{data.hex()}") == ["sent"]

    def recv(self):
        data, src = self._do("recv -")
        return bytes.fromhex(data), src

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def test_keepalive_and_ike_reach_the_socket(natted):
    """RFC 3948 §2.2 and §2.3: what is not ESP on UDP 4500 is the stack's, unchanged."""
    a, b, _ = natted
    for ns in (a, b):
        assert "prog/xdp" in ns("ip", "link", "show", "ul0").stdout   # xdp_esp_in is there
    ike = bytes(4) + bytes(range(8, 8 + 28)) + b"IKE_SA_INIT" * 40    # non-ESP marker
    keepalive = b"\xff"
    pa, pb = Peer(a, A), Peer(b, B)
    try:
        for data in (keepalive, ike, ike[:5]):
            pa.send(B, 4500, data)
            assert pb.recv() == (data, f"{NAT_OUT}:{NAT_PORT}")
        # Back through the NAT's mapping to A's socket, past A's xdp_esp_in.
        for data in (ike, keepalive):
            pb.send(NAT_OUT, NAT_PORT, data)
            assert pa.recv() == (data, f"{B}:4500")
    finally:
        pa.close()
        pb.close()
    # ESP still flows beside them, and nothing was counted as a drop.
    r = a("ping", "-c", "2", "-i", "0.05", "-W", "2", "172.16.0.2", check=False)
    assert r.returncode == 0, r.stdout
    for ns in (a, b):
        assert not any(show(ns, "ipsec0")["drops"].values())
        for e in map_dump(ns, "global_stats"):
            assert not any(percpu_drops(e)), e
