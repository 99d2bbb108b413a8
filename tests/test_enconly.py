# SPDX-License-Identifier: GPL-2.0-only
"""
Encryption-only ESP (FreeBSD's if_ipsec(4) example, rijndael-cbc without
-A) has no integrity, so it gets no anti-replay window (RFC 4303 §3.4.3):
with one, a single packet carrying sequence number 0xffffffff (a captured
packet with its sequence number changed decrypts fine) would move the
window past everything the peer will send, and the SA would carry nothing.

  A 192.168.0.3 [ul0] ---- [ul0] 192.168.0.5 B
    ipsec0 172.16.0.3          ipsec0 172.16.0.5
    SA 10000 A->B, 10001 B->A: aes-cbc, no authentication
"""
import json
import socket

from agents import ctl, map_dump, poll, sa_ctr
from sites import PYTHON
from test_freebsd import VARIANTS, hosts  # noqa: F401  (fixture)
from test_restart import bring_up

FORGE = r"""
from scapy.all import ICMP, IP, send
from scapy.layers.ipsec import ESP, SecurityAssociation
sa = SecurityAssociation(ESP, spi=10000, crypt_algo="AES-CBC", crypt_key=b"VerySecureKey!!1",
                         tunnel_header=IP(src="192.168.0.3", dst="192.168.0.5"))
send(sa.encrypt(IP(src="172.16.0.3", dst="172.16.0.5") / ICMP(), seq_num=0xffffffff),
     verbose=0)
"""


def sa_packets(ns, spi):
    """The data path's packet counter of ns's inbound SA spi."""
    by_spi = {e["value"]["spi"]: e["value"]["id"] for e in map_dump(ns, "sa_in")}
    return sa_ctr(ns, by_spi[socket.htonl(spi)])["packets"]


def test_enc_only_sa_has_no_replay_window(hosts):
    a, b = hosts
    for said in bring_up(a, b, "rijndael-cbc", VARIANTS["rijndael-cbc"]):
        assert "encrypts without authentication: insecure" in said, said
    shown = {s["spi"]: s for s in json.loads(ctl(b, "-j", "setkey", "-D").stdout)["sas"]}
    assert shown[10000]["replay"] == 0 and shown[10001]["replay"] == 0, shown
    # The forged packet first, then A's own, which start at sequence number 1.
    before = sa_packets(b, 10000)
    a(PYTHON, "-c", FORGE)
    poll(lambda: sa_packets(b, 10000) == before + 1, what="B taking the forged packet")
    r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout + r.stderr
    assert sa_packets(b, 10000) == before + 4
