# SPDX-License-Identifier: GPL-2.0-only
"""Drive build/dp_fixture: SAs, interfaces and packets through the BPF programs."""
import os
import subprocess

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "build", "dp_fixture")

XDP_DROP, XDP_PASS, XDP_REDIRECT = 1, 2, 4

# enum ipsecif_drop, in order (include/ipsecif.h)
DROPS = ["no_sa", "bad_endpoint", "replay", "too_old", "auth", "bad_pad",
         "bad_next_hdr", "dummy", "inner_family", "ecn", "seq_exhausted",
         "too_big", "malformed", "crypto", "no_route", "expired", "fragment",
         "redirect_failed", "seq_unreserved"]

EV_ACQUIRE, EV_SOFT, EV_HARD, EV_SEQ = 1, 2, 3, 4

F_NATT, F_ECN, F_INET6 = 1, 2, 4

# Test addresses (documentation ranges, RFC 5737 and RFC 3849).
LOCAL4, PEER4 = "192.0.2.1", "192.0.2.2"
LOCAL6, PEER6 = "2001:db8::1", "2001:db8::2"
SA_ESN, SA_NATT = 1, 2


class Suite:
    """An ESP suite in our numbering and scapy's names."""

    def __init__(self, name, enc, auth, klen, aklen, scapy_enc, scapy_auth):
        self.name, self.enc, self.auth = name, enc, auth
        self.klen, self.aklen = klen, aklen
        self.scapy_enc, self.scapy_auth = scapy_enc, scapy_auth

    def __repr__(self):
        return self.name


SUITES = [
    Suite("chacha20-poly1305", 3, 0, 36, 0, "CHACHA20-POLY1305", None),
    Suite("aes-gcm-128", 2, 0, 20, 0, "AES-GCM", None),
    Suite("aes-gcm-256", 2, 0, 36, 0, "AES-GCM", None),
    Suite("aes-cbc+hmac-sha2-256", 1, 1, 16, 32, "AES-CBC", "SHA2-256-128"),
    Suite("aes-cbc+hmac-sha1", 1, 2, 16, 20, "AES-CBC", "HMAC-SHA1-96"),
    # Encryption only, as in FreeBSD's if_ipsec(4) example: insecure, but supported.
    Suite("aes-cbc (no auth)", 1, 0, 16, 0, "AES-CBC", None),
]

# The suites whose ICV must catch every change.
AUTH_SUITES = [s for s in SUITES if s.enc != 1 or s.auth]


class FixtureError(Exception):
    pass


class DataPath:
    """One dp_fixture process: its own copy of every map."""

    def __init__(self, netns=None):
        cmd = ["ip", "netns", "exec", netns, FIXTURE] if netns else [FIXTURE]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise FixtureError(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        if out.startswith("err"):
            raise FixtureError(out[4:])
        return out

    def key(self, sa_id, suite, key, akey=b""):
        self.cmd(f"key {sa_id} {suite.enc} {suite.auth} {key.hex()} {akey.hex()}".rstrip())

    def iface(self, reqid, flags, family, src, dst, ifindex=10, peer_ifindex=11, mtu=1400,
              mac="02:00:00:00:00:0a", peer_mac="02:00:00:00:00:0b"):
        self.cmd(f"iface {reqid} {flags} {family} {src} {dst} {ifindex} {peer_ifindex} {mtu} "
                 f"{mac} {peer_mac}")

    def sa(self, direction, sa_id, spi, reqid, flags, family, src, dst, sport=0, dport=0,
           window=64, top=0):
        self.cmd(f"sa {direction} {sa_id} {spi} {reqid} {flags} {family} {src} {dst} "
                 f"{sport} {dport} {window} {top}")

    def run(self, prog, data, ifindex=None):
        extra = f" {ifindex}" if ifindex else ""
        out = self.cmd(f"run {prog} {bytes(data).hex()}{extra}").split()
        return int(out[1]), bytes.fromhex(out[2]) if len(out) > 2 else b""

    def events(self):
        """Pending events: (type, reqid, sa_id, spi, value) tuples."""
        v = [int(x) for x in self.cmd("events").split()[1:]]
        return [tuple(v[1 + 5 * i: 6 + 5 * i]) for i in range(v[0])]

    def life(self, direction, key, soft_bytes=0, hard_bytes=0, soft_packets=0, hard_packets=0):
        self.cmd(f"life {direction} {key} {soft_bytes} {hard_bytes} {soft_packets} {hard_packets}")

    def ctr(self, sa_id):
        """sa_ctr[sa_id]: what the data path counted against the SA's lifetimes."""
        v = [int(x) for x in self.cmd(f"ctr {sa_id}").split()[1:]]
        return dict(zip(("seq", "bytes", "packets", "expired"), v))

    def stats(self, kind, key):
        v = [int(x) for x in self.cmd(f"stats {kind} {key}").split()[1:]]
        d = {"packets": v[0], "bytes": v[1], "fast": v[2]}
        d.update(zip(DROPS, v[3:]))
        d["engine"] = v[3 + len(DROPS)]
        return d

    def engine(self, ifindex, wifindex, up=True, mins=(1, 1, 1)):
        """eng_conf: the engine's link, up or not, each suite's threshold (CBC, GCM, ChaCha)."""
        self.cmd(f"engine {ifindex} {wifindex} {int(up)} {mins[0]} {mins[1]} {mins[2]}")

    def engkey(self, sa_id, held=True):
        self.cmd(f"engkey {sa_id}" + ("" if held else " del"))

    def engstats(self):
        v = [int(x) for x in self.cmd("engstats").split()[1:]]
        return {"sent": v[0:2], "back": v[2:4], "fallback": v[4:6], "bad": v[6:8]}


def save_pcap(name, frames):
    """On a failed comparison: the frames, for wireshark, under build/test-pcaps/."""
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap
    d = os.path.join(ROOT, "build", "test-pcaps")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name + ".pcap")
    wrpcap(path, [Ether(bytes(f)) for f in frames])
    return path


def family_of(addr):
    return 6 if ":" in addr else 4


def outer_header(src, dst):
    return IPv6(src=src, dst=dst) if family_of(src) == 6 else IP(src=src, dst=dst)


def scapy_sa(suite, spi, key, akey, src, dst, esn=False, esn_hi=0):
    """scapy's own ESP, tunnel mode, as the peer that sends to us."""
    return SecurityAssociation(
        ESP, spi=spi, crypt_algo=suite.scapy_enc, crypt_key=key,
        auth_algo=suite.scapy_auth, auth_key=akey or None,
        tunnel_header=outer_header(src, dst), esn_en=esn, esn=esn_hi)
