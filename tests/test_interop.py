# SPDX-License-Identifier: GPL-2.0-only
"""
Interoperability with the Linux kernel's ESP: a UML guest (kernel 6.1,
esp4/esp6, keyed with `ip xfrm`) is the far site of an ipsecif tunnel.

  ns X (host)               ns A (gateway, ipsecif-agent)          UML guest
  eth0 10.100.0.2   ---  wm1 10.100.0.1                         lo 10.200.0.1
       fd00:100::2           fd00:100::1                           fd00:200::1
                             ipsec0 == ESP ==  ul0 192.0.2.1 --- vec0 192.0.2.2
                                                 2001:db8:1::1       2001:db8:1::2

For every suite, with and without ESN, over IPv4 and IPv6 outer, with
IPv4 and IPv6 inner (one SA pair carries both, as an ipsecif interface's
does): a ping and 5 MB over TCP each way, content checked; then our
counters (`ipsecifctl -j setkey -D`) and the kernel's (`ip -s xfrm state`)
agree packet for packet, with no replay or integrity failure on either
side.  The same with NAT-T (UDP 4500 both ends, `encap espinudp`).
"""
import json
import os

import pytest

from agents import agent, ctl, poll, sas, show, wait_gone
from netns import Netns
from sites import Capture, transfer
from test_freebsd import setkey
from uml import Guest, xfrm_errors, xfrm_states

BULK = 5 * 1000 * 1000     # a TCP transfer each way, per inner family
X4, X6 = "10.100.0.2", "fd00:100::2"
G4, G6 = "10.200.0.1", "fd00:200::1"
OUTER = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8:1::1", "2001:db8:1::2")}

ENCAP_SOCKET = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 100, 2)    # UDP_ENCAP, UDP_ENCAP_ESPINUDP
s.bind(("0.0.0.0", 4500))
time.sleep(1e6)
"""


class KernelSuite:
    """A suite as setkey names it here and as `ip xfrm state` takes it."""

    def __init__(self, name, setkey_alg, klen, xfrm, auth=None, aklen=0, tshark=None):
        self.name, self.setkey_alg, self.klen = name, setkey_alg, klen
        self.xfrm, self.auth, self.aklen = xfrm, auth, aklen
        self.tshark = tshark            # (encryption, authentication) as Wireshark names them

    def __repr__(self):
        return self.name

    def keys(self):
        return os.urandom(self.klen).hex(), os.urandom(self.aklen).hex()

    def setkey_algs(self, k, ak):
        s = f"-E {self.setkey_alg} 0x{k}"
        return s + (f" -A {self.auth[0]} 0x{ak}" if self.auth else "")

    def xfrm_algs(self, k, ak):
        s = self.xfrm.format(key=f"0x{k}")
        return s + (f" auth-trunc '{self.auth[1]}' 0x{ak} {self.auth[2]}" if self.auth else "")


SUITES = [
    KernelSuite("chacha20-poly1305", "chacha20-poly1305", 36,
                "aead 'rfc7539esp(chacha20,poly1305)' {key} 128"),
    KernelSuite("aes-gcm-128", "aes-gcm-16", 20, "aead 'rfc4106(gcm(aes))' {key} 128",
                tshark=("AES-GCM with 16 octet ICV [RFC4106]", "NULL")),
    KernelSuite("aes-gcm-256", "aes-gcm-16", 36, "aead 'rfc4106(gcm(aes))' {key} 128",
                tshark=("AES-GCM with 16 octet ICV [RFC4106]", "NULL")),
    KernelSuite("aes-cbc+hmac-sha2-256", "aes-cbc", 16, "enc 'cbc(aes)' {key}",
                ("hmac-sha2-256", "hmac(sha256)", 128), 32,
                tshark=("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]")),
    KernelSuite("aes-cbc+hmac-sha1", "aes-cbc", 16, "enc 'cbc(aes)' {key}",
                ("hmac-sha1", "hmac(sha1)", 96), 20,
                tshark=("AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]")),
]


@pytest.fixture(scope="module")
def site(host_bpffs):
    x, a = Netns(), Netns()
    guest = None
    try:
        x("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "wm1", "netns", a.name)
        x("ip", "addr", "add", f"{X4}/24", "dev", "eth0")
        x("ip", "-6", "addr", "add", f"{X6}/64", "dev", "eth0", "nodad")
        x("ip", "link", "set", "eth0", "up")
        x("ip", "route", "add", "default", "via", "10.100.0.1")
        x("ip", "-6", "route", "add", "default", "via", "fd00:100::1")
        a("ip", "addr", "add", "10.100.0.1/24", "dev", "wm1")
        a("ip", "-6", "addr", "add", "fd00:100::1/64", "dev", "wm1", "nodad")
        a("ip", "link", "set", "wm1", "up")
        a("sysctl", "-qw", "net.ipv4.ip_forward=1")
        a("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        guest = Guest(a, "ul0")
        guest.sh("for m in esp4 esp6 xfrm_user chacha20poly1305 gcm; do modprobe $m; done")
        guest.sh(f"ip addr add {OUTER[4][1]}/24 dev vec0 && "
                 f"ip -6 addr add {OUTER[6][1]}/64 dev vec0 nodad && ip link set vec0 up && "
                 f"ip addr add {G4}/32 dev lo && ip -6 addr add {G6}/128 dev lo && "
                 f"ip route add 10.100.0.0/24 via {OUTER[4][0]} src {G4} && "
                 f"ip -6 route add fd00:100::/64 via {OUTER[6][0]} src {G6}")
        a("ip", "addr", "add", f"{OUTER[4][0]}/24", "dev", "ul0")
        a("ip", "-6", "addr", "add", f"{OUTER[6][0]}/64", "dev", "ul0", "nodad")
        a("ip", "link", "set", "ul0", "up")
        # The kernel decapsulates ESP in UDP only on a socket that asks for
        # it (UDP_ENCAP_ESPINUDP), as an IKE daemon's would.
        guest.popen(["/usr/bin/python3", "-c", ENCAP_SOCKET])
        agent(a, "start")
        ctl(a, "ipsec0", "create")
        ctl(a, "ipsec0", "inet", "172.16.100.1/32", "172.16.200.1")
        a("ip", "route", "add", "10.200.0.0/24", "dev", "ipsec0")
        a("ip", "-6", "route", "add", "fd00:200::/64", "dev", "ipsec0")
        yield x, a, guest
    finally:
        agent(a, "stop", "--flush", check=False)
        try:
            wait_gone(a)
        finally:
            if guest:
                guest.close()
            x.close()
            a.close()


def configure(a, guest, suite, esn, outer, spi_out, spi_in, natt=False):
    """One SA pair on both sides, and the guest's tunnel policies for both
    inner families (one SA pair carries both, as on ipsecif).  Returns the
    keys by SPI."""
    local, peer = OUTER[outer]
    ctl(a, "ipsec0", "tunnel", local, peer)
    if natt:
        ctl(a, "ipsec0", "link0")
    else:
        ctl(a, "ipsec0", "-link0")
    k_out, ak_out = suite.keys()
    k_in, ak_in = suite.keys()
    # Windows of 1024 packets both ways: two CPUs seal one SA here
    # (docs/DATAPATH.md, "Replay windows").
    flags = "-f esn -r 128 " if esn else "-r 128 "
    ports = ("[4500]", "[4500]") if natt else ("", "")
    r = setkey(a, "flush;\n"
               f"add {local}{ports[0]} {peer}{ports[1]} esp {spi_out} -m tunnel -u 1 {flags}"
               f"{suite.setkey_algs(k_out, ak_out)};\n"
               f"add {peer}{ports[1]} {local}{ports[0]} esp {spi_in} -m tunnel -u 1 {flags}"
               f"{suite.setkey_algs(k_in, ak_in)};\n")
    assert r.returncode == 0, r.stderr
    # af-unspec: the state carries both inner families (else its selector
    # takes the outer family and the other inner family finds no state).
    extra = "replay-window 1024 flag af-unspec" + (" flag esn" if esn else "")
    encap = " encap espinudp 4500 4500 0.0.0.0" if natt else ""
    cmds = ["ip xfrm state flush", "ip xfrm policy flush"]
    for src, dst, spi, k, ak in ((local, peer, spi_out, k_out, ak_out),
                                 (peer, local, spi_in, k_in, ak_in)):
        cmds.append(f"ip xfrm state add src {src} dst {dst} proto esp spi {spi:#x} "
                    f"mode tunnel reqid 1 {extra} {suite.xfrm_algs(k, ak)}{encap}")
    for fam, near, far in ((4, "10.200.0.0/24", "10.100.0.0/24"),
                           (6, "fd00:200::/64", "fd00:100::/64")):
        cmds.append(f"ip -{fam} xfrm policy add src {near} dst {far} dir out "
                    f"tmpl src {peer} dst {local} proto esp reqid 1 mode tunnel")
        cmds.append(f"ip -{fam} xfrm policy add src {far} dst {near} dir in "
                    f"tmpl src {local} dst {peer} proto esp reqid 1 mode tunnel")
    guest.sh(" && ".join(cmds))
    return {spi_out: (local, peer, k_out, ak_out), spi_in: (peer, local, k_in, ak_in)}


def counters(a, guest, spi_out, spi_in):
    ours, theirs = sas(a), xfrm_states(guest)
    return {"ours_out": ours[spi_out], "ours_in": ours[spi_in],
            "kernel_in": theirs[spi_out], "kernel_out": theirs[spi_in]}


def exchange(x, a, guest, spi_out, spi_in, pings=10):
    """A ping and 5 MB each way for both inner families, then counted pings.

    The guest is slower than the host and drops some of a TCP burst
    (its raw socket and backlog), so TCP's retransmissions make the bulk
    counters differ by what was lost; what crossed is checked by content.
    The counted pings afterwards cross without loss, and there both sides'
    SA counters must move by exactly the same number of packets."""
    drops = show(a, "ipsec0")["drops"]
    errors = xfrm_errors(guest)     # since the guest's boot: this exchange's part
    for inner_x, inner_g in ((X4, G4), (X6, G6)):
        r = x("ping", "-c", "3", "-i", "0.2", "-W", "3", inner_g, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        transfer(x, guest, inner_g, size=BULK)
        transfer(guest, x, inner_x, size=BULK)
    before = counters(a, guest, spi_out, spi_in)
    assert before["ours_out"]["bytes"] > 2 * BULK and before["ours_in"]["bytes"] > 2 * BULK
    assert before["kernel_in"]["packets"] <= before["ours_out"]["packets"]
    for inner_g in (G4, G6):
        r = x("ping", "-c", str(pings), "-i", "0.05", "-W", "3", inner_g, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    after = counters(a, guest, spi_out, spi_in)
    moved = {k: after[k]["packets"] - before[k]["packets"] for k in after}
    assert moved == dict.fromkeys(after, 2 * pings), moved
    # Ours count inner bytes: ICMP echo of 56 bytes is 84 in IPv4, 104 in IPv6.
    assert after["ours_out"]["bytes"] - before["ours_out"]["bytes"] == pings * (84 + 104)
    for k in ("kernel_in", "kernel_out"):
        assert after[k]["too_old"] == after[k]["replay"] == after[k]["failed"] == 0, after[k]
    assert xfrm_errors(guest) == errors, (errors, xfrm_errors(guest))
    assert show(a, "ipsec0")["drops"] == drops


CASES = [(s, esn, outer) for s in SUITES for esn in (False, True) for outer in (4, 6)]


@pytest.mark.parametrize("n,suite,esn,outer", [(n,) + c for n, c in enumerate(CASES)],
                         ids=[f"{s.name}-{'esn' if e else 'noesn'}-outer{o}"
                              for s, e, o in CASES])
def test_kernel_esp(site, n, suite, esn, outer):
    x, a, guest = site
    spi_out, spi_in = 0x1000 + n, 0x2000 + n
    configure(a, guest, suite, esn, outer, spi_out, spi_in)
    exchange(x, a, guest, spi_out, spi_in)


@pytest.mark.parametrize("n,suite", list(enumerate(SUITES)), ids=[s.name for s in SUITES])
def test_kernel_natt(site, n, suite):
    """ESP in UDP 4500 (RFC 3948) with the kernel's espinudp encapsulation."""
    x, a, guest = site
    spi_out, spi_in = 0x3000 + n, 0x4000 + n
    configure(a, guest, suite, False, 4, spi_out, spi_in, natt=True)
    exchange(x, a, guest, spi_out, spi_in)


# An AEAD of each kind, ESN on and off, each outer family (make check's time is
# short); test_engine.py has every suite against BPF's and scapy.
ENGINE_CASES = [(SUITES[1], True, 4), (SUITES[0], False, 6)]


@pytest.mark.parametrize("n,suite,esn,outer", [(n,) + c for n, c in enumerate(ENGINE_CASES)],
                         ids=[f"{s.name}-{'esn' if e else 'noesn'}-outer{o}"
                              for s, e, o in ENGINE_CASES])
def test_kernel_esp_engine(site, n, suite, esn, outer):
    """The same through the engine's workers (OpenSSL) against the kernel's ESP: what
    they seal the kernel opens, what the kernel seals they open, byte for byte (the
    transfers' hashes), the counters exact."""
    x, a, guest = site
    spi_out, spi_in = 0x5000 + n, 0x6000 + n
    ctl(a, "engine", "on", "workers", "1")
    try:
        poll(lambda: json.loads(ctl(a, "-j", "engine").stdout)["up"], 10, "the engine up")
        configure(a, guest, suite, esn, outer, spi_out, spi_in)
        exchange(x, a, guest, spi_out, spi_in)
        ours = sas(a)
        print(suite.name, "engine", ours[spi_out]["engine"], "of", ours[spi_out]["packets"],
              "out;", ours[spi_in]["engine"], "of", ours[spi_in]["packets"], "in")
        assert ours[spi_out]["engine"] > 1000 and ours[spi_in]["engine"] > 1000
        e = json.loads(ctl(a, "-j", "engine").stdout)
        assert not any(w["bad_icv"] or w["no_key"] or w["bad_frame"] for w in e["worker"])
    finally:
        ctl(a, "engine", "off")


TSHARK_SUITES = [s for s in SUITES if s.tshark]


@pytest.mark.parametrize("n,suite,outer",
                         [(n, s, o) for n, s in enumerate(TSHARK_SUITES) for o in (4, 6)],
                         ids=[f"{s.name}-outer{o}" for s in TSHARK_SUITES for o in (4, 6)])
def test_tshark_decrypts(site, n, suite, outer):
    """An independent dissector, given the SAs' keys, reads our ESP (and the
    kernel's answers) as the inner pings they are, every ICV correct.

    Wireshark 4.0 (bookworm) has no ChaCha20-Poly1305 for ESP and no ESN, so
    those are proven by scapy and the kernel alone.  The capture is taken on
    the guest's end of the link: XDP on ul0 takes inbound ESP before any
    packet tap there."""
    x, a, guest = site
    spi_out, spi_in = 0x5000 + 2 * n + outer, 0x6000 + 2 * n + outer
    keys = configure(a, guest, suite, False, outer, spi_out, spi_in)
    cap = Capture(a, guest.raw, ["esp"], snaplen=0)
    try:
        for inner in (G4, G6):
            r = x("ping", "-c", "3", "-i", "0.05", "-W", "3", inner, check=False)
            assert r.returncode == 0, r.stdout + r.stderr
        pcap = cap.stop()
        tshark_check(a, suite, outer, keys, pcap, spi_out, spi_in)
    finally:
        cap.close()


def tshark_check(a, suite, outer, keys, pcap, spi_out, spi_in):
    uat = []
    for spi, (src, dst, k, ak) in keys.items():
        enc, auth = suite.tshark
        uat += ["-o", f'uat:esp_sa:"IPv{outer}","{src}","{dst}","{spi:#010x}","{enc}",'
                      f'"0x{k}","{auth}","{"0x" + ak if ak else ""}"']
    r = a("tshark", "-n", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
          "-o", "esp.enable_authentication_check:TRUE", *uat, "-T", "fields", "-E",
          "occurrence=l", "-e", "esp.spi", "-e", "esp.icv_good", "-e", "esp.icv_bad",
          "-e", "icmp.type", "-e", "icmpv6.type", timeout=60)
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    # Every ESP packet on the wire was opened, its ICV correct ...
    assert rows and all(good == "1" and bad != "1" for _, good, bad, _, _ in rows), \
        r.stdout + r.stderr + a("tcpdump", "-nr", pcap, check=False).stdout
    # ... and inside were the pings: 3 echo requests out and 3 replies back,
    # ICMP and ICMPv6 (anything else, e.g. MLD from ipsec0, may ride along).
    seen = sorted((int(spi, 16), icmp or icmp6) for spi, _, _, icmp, icmp6 in rows
                  if (icmp or icmp6) in ("0", "8", "128", "129"))
    assert seen == sorted([(spi_out, "8")] * 3 + [(spi_out, "128")] * 3 +
                          [(spi_in, "0")] * 3 + [(spi_in, "129")] * 3), r.stdout
