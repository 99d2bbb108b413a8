# SPDX-License-Identifier: GPL-2.0-only
"""
No map holds a key.  The AES keys live in the kernel's crypto contexts;
what the data path needs besides (the ChaCha20 key, the HMAC key's inner
and outer states) is stored sealed under a wrap key only the kernel holds
(bpf/wrap.h), and GCM's GHASH key H is not stored at all.  Opened, they
live in objects of the program's own type (the key_cache map's kptrs),
which no lookup shows.  A raw dump of every BPF map on the machine (the
pinned ones, and each agent load's private ones: per-CPU scratch,
keystream, the cache), while traffic flows, shows none of: the configured
keys, the ChaCha20 key words, H and what the older layout derived from it
(its halves, the Karatsuba middle term, the bit-reversed copies, their
bit-interleaved parts), the HMAC states.  Each is looked for as 8-byte
pieces, so a partial copy is caught too.  And the agent still installs and
removes keys, across a restart that adopts the maps: a kptr to an object
of the program's own in the pinned map, tried before, broke exactly there.
Two agents, the FreeBSD example's two hosts.
"""
import json
import os
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import bpfsys
from agents import ctl, pin_dir, poll, run_in, setkey, map_held
from test_freebsd import hosts  # noqa: F401  (fixture)
from test_restart import restart

PAGE = [
    "add 192.168.0.3 192.168.0.5 esp {spi} -m tunnel -u {reqid} {alg1};",
    "add 192.168.0.5 192.168.0.3 esp {spi1} -m tunnel -u {reqid} {alg2};",
]

# SHA-256's compression function (FIPS 180-4 §6.2.2): hashlib hides the
# chaining state, and the HMAC states are exactly that.
_K = [int(x, 16) for x in """
428a2f98 71374491 b5c0fbcf e9b5dba5 3956c25b 59f111f1 923f82a4 ab1c5ed5 d807aa98 12835b01
243185be 550c7dc3 72be5d74 80deb1fe 9bdc06a7 c19bf174 e49b69c1 efbe4786 0fc19dc6 240ca1cc
2de92c6f 4a7484aa 5cb0a9dc 76f988da 983e5152 a831c66d b00327c8 bf597fc7 c6e00bf3 d5a79147
06ca6351 14292967 27b70a85 2e1b2138 4d2c6dfc 53380d13 650a7354 766a0abb 81c2c92e 92722c85
a2bfe8a1 a81a664b c24b8b70 c76c51a3 d192e819 d6990624 f40e3585 106aa070 19a4c116 1e376c08
2748774c 34b0bcb5 391c0cb3 4ed8aa4a 5b9cca4f 682e6ff3 748f82ee 78a5636f 84c87814 8cc70208
90befffa a4506ceb bef9a3f7 c67178f2""".split()]
_IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & 0xffffffff


def sha256_state(block):
    """The chaining state after one 64-byte block from the initial one."""
    w = list(struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = _rotr(w[i - 15], 7) ^ _rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = _rotr(w[i - 2], 17) ^ _rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & 0xffffffff)
    a, b, c, d, e, f, g, h = _IV
    for i in range(64):
        t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g))
              + _K[i] + w[i]) & 0xffffffff
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c)))
        a, b, c, d, e, f, g, h = (t1 + t2) & 0xffffffff, a, b, c, (d + t1) & 0xffffffff, e, f, g
    return [(x + y) & 0xffffffff for x, y in zip(_IV, (a, b, c, d, e, f, g, h))]


def rev64(x):
    return int(f"{x:064b}"[::-1], 2)


def secrets_of(suite, enc, auth):
    """The byte strings that must appear in no map: keys and what derives from them."""
    out = [enc]
    if suite == "aes-gcm-16":
        e = Cipher(algorithms.AES(enc[:-4]), modes.ECB()).encryptor()
        h = e.update(bytes(16)) + e.finalize()
        hi, lo = struct.unpack(">QQ", h)
        out.append(h)
        for v in (lo, hi, lo ^ hi, rev64(lo), rev64(hi), rev64(lo) ^ rev64(hi)):
            out.append(struct.pack("<Q", v))
            out += [struct.pack("<Q", v & (0x1111111111111111 << m)) for m in range(4)]
    if auth:
        out.append(auth)
        blk = auth.ljust(64, b"\0")
        for pad in (0x36, 0x5c):
            out.append(struct.pack("=8I", *sha256_state(bytes(x ^ pad for x in blk))))
    return out


def pieces(secret):
    """Its 8-byte pieces that could not be anything else: not a single repeated byte (zero
    padding, say), and with 6 bits set or more.  A masked piece of the GHASH key (one bit
    a nibble) may keep only a bit or two, and 0x200 is in many a map: such a piece, found,
    says nothing."""
    return {p for p in (secret[i:i + 8] for i in range(0, len(secret) - 7))
            if len(set(p)) > 1 and bin(int.from_bytes(p, "little")).count("1") >= 6}


def batch_values(m):
    """A map's values through the batch lookup (the SA arrays hold 16,384 slots each,
    megabytes that bpftool's JSON takes minutes over); None where it has none."""
    if m.get("type") not in ("array", "percpu_array", "hash", "percpu_hash", "lru_hash"):
        return None
    fd = bpfsys.map_fd_by_id(m["id"])
    if fd < 0:
        return None
    try:
        return bpfsys.values(fd, m["bytes_key"], m["bytes_value"],
                             bpfsys.possible_cpus() if m["type"].startswith("percpu") else 0)
    finally:
        os.close(fd)


def raw_maps():
    """Every BPF map's every value, raw (all CPUs' for per-CPU maps), by "name#id"."""
    seen = {}
    for m in json.loads(subprocess.run(["bpftool", "-j", "map", "show"], check=True,
                                       capture_output=True, text=True).stdout):
        if m.get("type") == "xskmap":
            continue      # AF_XDP sockets (the engine's): no value user space can read
        blob = batch_values(m)
        if blob is not None:
            seen[f"{m.get('name', '?')}#{m['id']}"] = blob
            continue
        r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(m["id"])],
                           capture_output=True, text=True)
        if r.returncode:
            continue      # a map type without lookups (ring buffer, program array)
        blob = bytearray()
        for e in json.loads(r.stdout):
            vals = [e["value"]] if "value" in e else [v["value"] for v in e.get("values", [])]
            for v in vals:
                blob += bytes(int(x, 16) for x in v)
        seen[f"{m.get('name', '?')}#{m['id']}"] = bytes(blob)
    return seen


def cache_slots(ns):
    """The key cache's slots in use in ns's agent load: {slot: key id}.  The kptr itself
    reads as zero; the id beside it is what the agent clears."""
    prog = json.loads(run_in(ns, "bpftool", "-j", "prog", "show", "pinned",
                             f"{pin_dir(ns)}/prog_xdp_esp_in").stdout)
    for mid in prog["map_ids"]:
        m = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(mid)],
                                      check=True, capture_output=True, text=True).stdout)
        if m.get("name") == "key_cache":
            dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(mid)],
                                             check=True, capture_output=True,
                                             text=True).stdout)
            return {e["key"]: e["value"]["id"] for e in (x["formatted"] for x in dump)
                    if e["value"]["id"]}
    raise AssertionError("no key_cache map among xdp_esp_in's")


def leaks(secrets, maps=None):
    """The secrets' pieces found in maps (raw_maps() taken now, by default)."""
    found = []
    for name, blob in (maps or raw_maps()).items():
        for s in secrets:
            hit = [p.hex() for p in pieces(s) if p in blob]
            if hit:
                found.append((name, s.hex(), hit[:3]))
    return found


SUITES = {
    "chacha20-poly1305": (36, 0, "-E chacha20-poly1305 0x{enc}"),
    "aes-gcm-16": (20, 0, "-E aes-gcm-16 0x{enc}"),
    "hmac-sha2-256": (16, 32, "-E rijndael-cbc 0x{enc} -A hmac-sha2-256 0x{auth}"),
}


def keys_up(a, b, suite, spi=10000):
    """The example's tunnel on both hosts (created once), SAs with fresh random keys."""
    elen, alen, fmt = SUITES[suite]
    ks = [(os.urandom(elen), os.urandom(alen)) for _ in range(2)]
    algs = [fmt.format(enc=e.hex(), auth=u.hex()) for e, u in ks]
    for ns, reqid, me, peer, inner_me, inner_peer in (
            (a, 100, "192.168.0.3", "192.168.0.5", "172.16.0.3", "172.16.0.5"),
            (b, 200, "192.168.0.5", "192.168.0.3", "172.16.0.5", "172.16.0.3")):
        if spi == 10000:
            ctl(ns, "ipsec0", "create", "reqid", str(reqid))
            ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
            ctl(ns, "ipsec0", "inet", f"{inner_me}/16", inner_peer)
        r = setkey(ns, "\n".join(PAGE).format(spi=spi, spi1=spi + 1, reqid=reqid,
                                              alg1=algs[0], alg2=algs[1]) + "\n")
        assert r.returncode == 0, r.stderr
    return [x for e, u in ks for x in secrets_of(suite, e, u or None)]


def ping(a, n=3):
    r = a("ping", "-c", str(n), "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("suite", list(SUITES))
def test_no_key_in_any_map(hosts, suite):
    a, b = hosts
    secrets = keys_up(a, b, suite)
    # Dumped while a flood crosses, so per-packet scratch is caught in use.
    flood = subprocess.Popen(["ip", "netns", "exec", a.name, "ping", "-q", "-f", "-w", "4",
                              "-s", "1200", "172.16.0.5"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(2):
            found = leaks(secrets)
            assert not found, found
    finally:
        flood.wait(timeout=10)
    ping(a)
    seen = raw_maps()
    assert any(n.startswith("keys#") and v for n, v in seen.items()), "no keys map read"
    assert any(n.startswith("scratch_map#") for n in seen), "no scratch read"
    found = leaks(secrets, seen)
    assert not found, found
    # The opened keys are cached (both of B's SAs carried packets), out of sight.
    assert sorted(cache_slots(b).values()) == sorted(e["value"]["id"] for e in map_held(b, "keys"))


def test_keys_install_and_go_across_adoption(hosts):
    a, b = hosts
    old = keys_up(a, b, "chacha20-poly1305")
    ping(a)
    assert len(cache_slots(b)) == 2
    restart(b, "stop")
    # The adopted wrap key still opens the sealed keys, into the new load's cache.
    ping(a)
    assert len(cache_slots(b)) == 2
    # The adopting agent seals new ones and removes the old, their cache slots too.
    for ns in (a, b):
        r = setkey(ns, "flush;\n")
        assert r.returncode == 0, r.stderr
    poll(lambda: map_held(b, "keys") == [], 2, "keys free after flush")
    assert cache_slots(b) == {}
    new = keys_up(a, b, "chacha20-poly1305", spi=20000)
    ping(a)
    assert map_held(b, "keys") and not leaks(old + new)
    assert "key_cache" not in os.listdir(pin_dir(b))
