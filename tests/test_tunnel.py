# SPDX-License-Identifier: GPL-2.0-only
"""
Two sites joined by the data path alone, attached for real (the minimal
loader in dp_fixture; the agent comes later):

     ns A                                              ns B
  172.16.100.1                                      172.16.200.1
  [ipsec0]--veth--[ipsec0p]                [ipsec0p]--veth--[ipsec0]
          tc_esp_out (ingress)              tc_esp_out (ingress)
                     ^ xdp redirect       xdp redirect ^
                     |                                 |
  [ul0] 192.0.2.1 xdp_esp_in ---- veth ---- xdp_esp_in 192.0.2.2 [ul0]

A ping and a 100 MB TCP transfer each way for every suite, the content
checked by hash, and the SA counters on both sides agreeing exactly.
"""
import hashlib
import os
import subprocess
import time

import pytest

from dp import DataPath, SUITES, F_INET6
from netns import Netns

SIZE = 100 * 1000 * 1000
PORT = 5001
IN_A, IN_B = "172.16.100.1", "172.16.200.1"
UL_A, UL_B = "192.0.2.1", "192.0.2.2"
MTU = 1400

SERVER = r"""
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""

CLIENT = r"""
import hashlib, os, socket, sys
size, seed = int(sys.argv[3]), bytes.fromhex(sys.argv[4])
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
h = hashlib.sha256(); sent = 0; block = seed * (65536 // len(seed))
while sent < size:
    b = block[: min(len(block), size - sent)]
    c.sendall(b); h.update(b); sent += len(b)
    block = hashlib.sha256(block[:32]).digest() * 2048
c.close(); print(sent, h.hexdigest(), flush=True)
"""


def site(ns, inner, peer_inner, ul):
    for dev in ("ipsec0",):
        ns("ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p")
    # ipsec0 is point-to-point in spirit: no ARP, no IPv6 noise, no offloads that
    # would hand the data path unchecksummed or oversized packets; GRO gives
    # its veth the NAPI that XDP redirects into it need.
    ns("ip", "link", "set", "ipsec0", "arp", "off", "mtu", str(MTU))
    ns("sysctl", "-qw", "net.ipv6.conf.ipsec0.disable_ipv6=1")
    ns("sysctl", "-qw", "net.ipv6.conf.ipsec0p.disable_ipv6=1")
    ns("sysctl", "-qw", "net.ipv4.conf.ipsec0p.forwarding=1")
    ns("ethtool", "-K", "ipsec0", "tx", "off", "tso", "off", "gso", "off", "gro", "on")
    ns("ip", "link", "set", "ipsec0", "up")
    ns("ip", "link", "set", "ipsec0p", "up")
    ns("ip", "addr", "add", inner, "peer", peer_inner, "dev", "ipsec0")
    ns("ip", "addr", "add", f"{ul}/24", "dev", "ul0")
    ns("ip", "link", "set", "ul0", "up")


def mac(ns, dev):
    return ns("cat", f"/sys/class/net/{dev}/address").stdout.strip()


@pytest.fixture(scope="module")
def sites():
    a, b = Netns(), Netns()
    dps = []
    try:
        a("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name)
        site(a, IN_A, IN_B, UL_A)
        site(b, IN_B, IN_A, UL_B)
        for ns in (a, b):
            d = DataPath(netns=ns.name)
            dps.append(d)
            d.ns = ns
            d.cmd("attach xdp ul0")
            d.cmd("attach tc ipsec0p")
        yield dps
    finally:
        for d in dps:
            d.close()
        a.close()
        b.close()


def configure(dps, suite, n):
    """Keys and SAs for suite on both sites; A->B SPI 0x100+n, B->A 0x200+n."""
    a, b = dps
    key_ab, key_ba = os.urandom(suite.klen), os.urandom(suite.klen)
    ak_ab = os.urandom(suite.aklen) if suite.aklen else b""
    ak_ba = os.urandom(suite.aklen) if suite.aklen else b""
    reqid = 10 + n
    out_id, in_id = 100 + 2 * n, 101 + 2 * n
    for d, local, peer, kout, akout, kin, akin, spi_out, spi_in in (
            (a, UL_A, UL_B, key_ab, ak_ab, key_ba, ak_ba, 0x100 + n, 0x200 + n),
            (b, UL_B, UL_A, key_ba, ak_ba, key_ab, ak_ab, 0x200 + n, 0x100 + n)):
        ifindex = d.ns.ifindex("ipsec0")
        d.key(out_id, suite, kout, akout)
        d.key(in_id, suite, kin, akin)
        d.iface(reqid, F_INET6, 4, local, peer, ifindex=ifindex,
                peer_ifindex=d.ns.ifindex("ipsec0p"), mtu=MTU,
                mac=mac(d.ns, "ipsec0"), peer_mac=mac(d.ns, "ipsec0p"))
        d.sa("out", out_id, spi_out, reqid, 0, 4, local, peer)
        d.sa("in", in_id, spi_in, reqid, 0, 4, peer, local)
    return out_id, in_id, reqid


def transfer(src, dst, dst_addr):
    seed = os.urandom(32).hex()
    srv = subprocess.Popen(["ip", "netns", "exec", dst.name, "/usr/bin/python3", "-c", SERVER,
                            dst_addr, str(PORT)], stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening"
        cli = subprocess.run(["ip", "netns", "exec", src.name, "/usr/bin/python3", "-c", CLIENT,
                              dst_addr, str(PORT), str(SIZE), seed],
                             capture_output=True, text=True, timeout=300)
        assert cli.returncode == 0, cli.stderr
        got = srv.stdout.readline().split()
        srv.wait(timeout=30)
    finally:
        if srv.poll() is None:
            srv.kill()
    assert got == cli.stdout.split(), "content differs"
    assert int(got[0]) == SIZE


@pytest.mark.parametrize("n,suite", list(enumerate(SUITES)), ids=[s.name for s in SUITES])
def test_ping_and_tcp(sites, n, suite):
    a, b = sites
    out_id, in_id, reqid = configure(sites, suite, n)
    r = a.ns("ping", "-c", "3", "-i", "0.2", "-W", "2", IN_B, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    t0 = time.time()
    transfer(a.ns, b.ns, IN_B)
    transfer(b.ns, a.ns, IN_A)
    print(f"{suite.name}: 2 x 100 MB in {time.time() - t0:.1f} s")
    for x, y in ((a, b), (b, a)):
        sent, got = x.stats("sa", out_id), y.stats("sa", in_id)
        assert sent["packets"] == got["packets"] and sent["bytes"] == got["bytes"]
        assert got["bytes"] > 2 * SIZE // 2     # both transfers' data crossed
        for st in (sent, got):
            assert all(v == 0 for k, v in st.items() if k not in ("packets", "bytes")), st
