# SPDX-License-Identifier: GPL-2.0-only
"""Sites for the network tests: a gateway with ipsec0, data paths attached, transfers."""
import json
import os
import signal
import subprocess
import tempfile
import time

from dp import DataPath

SIZE = 100 * 1000 * 1000
PYTHON = "/usr/bin/python3"
PORT = 5001
IN_A, IN_B = "172.16.100.1", "172.16.200.1"
UL_A, UL_B = "192.0.2.1", "192.0.2.2"
MTU = 1400

SERVER = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


IN6_A, IN6_B = "fd00:100::1", "fd00:200::1"
UL6_A, UL6_B = "2001:db8:1::1", "2001:db8:1::2"


def site(ns, inner, peer_inner, ul):
    """ipsec0 with its veth peer, inner and underlay addresses of both families."""
    a_side = inner == IN_A
    ns("ip", "link", "add", "ipsec0", "type", "veth", "peer", "name", "ipsec0p")
    # ipsec0 is point-to-point in spirit: no ARP, no link-local IPv6 chatter, no
    # offloads that would hand the data path unchecksummed or oversized packets;
    # GRO gives its veth the NAPI that XDP redirects into it need.  Its peer
    # needs forwarding: the outbound route is looked up as forwarded from it.
    ns("ip", "link", "set", "ipsec0", "arp", "off", "mtu", str(MTU))
    for dev in ("ipsec0", "ipsec0p"):
        ns("sysctl", "-qw", f"net.ipv6.conf.{dev}.addr_gen_mode=1")
    ns("sysctl", "-qw", "net.ipv4.conf.ipsec0p.forwarding=1")
    ns("sysctl", "-qw", "net.ipv6.conf.ipsec0p.forwarding=1")
    ns("ethtool", "-K", "ipsec0", "tx", "off", "tso", "off", "gso", "off", "gro", "on")
    ns("ip", "link", "set", "ipsec0", "up")
    ns("ip", "link", "set", "ipsec0p", "up")
    ns("ip", "addr", "add", inner, "peer", peer_inner, "dev", "ipsec0")
    ns("ip", "-6", "addr", "add", IN6_A if a_side else IN6_B, "peer",
       IN6_B if a_side else IN6_A, "dev", "ipsec0", "nodad")
    ns("ip", "addr", "add", f"{ul}/24", "dev", "ul0")
    ns("ip", "-6", "addr", "add", f"{UL6_A if a_side else UL6_B}/64", "dev", "ul0", "nodad")
    ns("ip", "link", "set", "ul0", "up")


def mac(ns, dev):
    return ns("cat", f"/sys/class/net/{dev}/address").stdout.strip()


def start_datapaths(namespaces, lan=False):
    """One dp_fixture per gateway, its programs attached; the caller closes them."""
    dps = []
    for ns in namespaces:
        d = DataPath(netns=ns.name)
        dps.append(d)
        d.ns = ns
        d.cmd("attach xdp ul0")
        d.cmd("attach tc ipsec0p")
        if lan:
            d.cmd("attach lan lan0")
    return dps


def transfer(src, dst, dst_addr, size=SIZE):
    """size bytes over TCP from src to dst_addr on dst, content checked by hash.

    src and dst are anything with popen(argv) and __call__(*argv, check,
    timeout): a Netns, or a UML guest (tests/uml.py)."""
    seed = os.urandom(32).hex()
    srv = dst.popen([PYTHON, "-c", SERVER, dst_addr, str(PORT)])
    try:
        assert srv.stdout.readline().strip() == "listening"
        cli = src(PYTHON, "-c", CLIENT, dst_addr, str(PORT), str(size), seed,
                  check=False, timeout=300)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        got = srv.stdout.readline().split()
        srv.wait(timeout=30)
    finally:
        if srv.poll() is None:
            srv.kill()
    assert got == cli.stdout.split(), f"content differs: sent {cli.stdout}, received {got}"
    assert int(got[0]) == size


STREAM = r"""
import hashlib, os, socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
h = hashlib.sha256(); sent = 0
print("connected", flush=True)
for line in sys.stdin:
    n = int(line)
    b = os.urandom(n)
    c.sendall(b); h.update(b); sent += n
    print("sent", flush=True)
c.close(); print(sent, h.hexdigest(), flush=True)
"""


class Stream:
    """One TCP connection from src to dst_addr in dst, kept open while the test
    changes things; send(n) writes n more bytes; close() checks all arrived intact."""

    def __init__(self, src, dst, dst_addr):
        self.srv = subprocess.Popen(["ip", "netns", "exec", dst.name, "/usr/bin/python3", "-c",
                                     SERVER, dst_addr, str(PORT)], stdout=subprocess.PIPE,
                                    text=True)
        assert self.srv.stdout.readline().strip() == "listening"
        self.cli = subprocess.Popen(["ip", "netns", "exec", src.name, "/usr/bin/python3", "-c",
                                     STREAM, dst_addr, str(PORT)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
        assert self.cli.stdout.readline().strip() == "connected"

    def send(self, n):
        """Returns once the bytes are in the socket (not yet necessarily across)."""
        self.cli.stdin.write(f"{n}\n")
        self.cli.stdin.flush()
        assert self.cli.stdout.readline().strip() == "sent"

    def close(self):
        sent = self.cli.communicate(timeout=60)[0].split()
        got = self.srv.communicate(timeout=60)[0].split()
        assert sent and got == sent, (sent, got)
        return int(sent[0])

    def kill(self):
        for p in (self.cli, self.srv):
            if p.poll() is None:
                p.kill()
                p.wait()


class Capture:
    """tcpdump -w on dev in ns, from the moment it listens; packets() stops it and
    returns what it saw, read by scapy; stop() gives the file (snaplen 0: whole
    packets)."""

    def __init__(self, ns, dev, filt=(), snaplen=256):
        fd, self.path = tempfile.mkstemp(prefix="ipsecif-cap-", suffix=".pcap")
        os.close(fd)
        # Immediate mode: without it, packets wait in the kernel's ring for up to a
        # second, and those still there when tcpdump is stopped are lost.
        self.p = subprocess.Popen(["ip", "netns", "exec", ns.name, "tcpdump", "-i", dev, "-n",
                                   "--immediate-mode", "-U", "-s", str(snaplen),
                                   "-w", self.path] + list(filt),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()
        assert "listening on" in line, line

    def stop(self):
        """Stop capturing; the pcap's path (close() removes it)."""
        # What has been captured is written within moments: wait until the file is still.
        size, end = -1, time.time() + 3
        while time.time() < end and os.path.getsize(self.path) != size:
            size = os.path.getsize(self.path)
            time.sleep(0.05)
        self.p.send_signal(signal.SIGINT)
        self.p.communicate(timeout=10)
        return self.path

    def packets(self):
        from scapy.all import rdpcap
        try:
            return list(rdpcap(self.stop()))
        finally:
            os.unlink(self.path)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if os.path.exists(self.path):
            os.unlink(self.path)


def link_drops(ns, dev):
    """What the kernel counts as dropped on dev, both ways: a veth whose peer's ring
    or backlog was full counts the packet here, and nothing else ever sees it."""
    st = json.loads(ns("ip", "-j", "-s", "link", "show", "dev", dev).stdout)[0]["stats64"]
    return st["rx"]["dropped"] + st["tx"]["dropped"]


def veth(a, a_dev, b, b_dev, a_addrs=(), b_addrs=()):
    """A veth from namespace a to b, up, with addresses ("10.0.0.1/24", "2001:db8::1/64")."""
    a("ip", "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b.name)
    for ns, dev, addrs in ((a, a_dev, a_addrs), (b, b_dev, b_addrs)):
        for addr in addrs:
            ns("ip", "addr", "add", addr, "dev", dev, *(["nodad"] if ":" in addr else []))
        ns("ip", "link", "set", dev, "up")
