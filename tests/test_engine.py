# SPDX-License-Identifier: GPL-2.0-only
"""
The vector-crypto engine end to end: two hosts, A with `engine on` (its
workers, ipsecif-engine, seal and open with OpenSSL through AF_XDP), B
with BPF's cipher alone.  What A's workers seal, B's BPF opens, and the
other way round: every suite, byte-exact (a TCP transfer's hash, scapy
decrypting what crossed the wire), and the counters say which side
ciphered what.  Then the failures: a worker killed, a worker stopped
(SIGSTOP), the engine off, an agent restart; traffic goes on, the loss
bounded and printed.
"""
import json
import os
import signal
import time

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.ipsec import ESP

from agents import agent, ctl, freebsd_hosts, pinging, poll, sas, setkey, show
from dp import ROOT, SUITES, scapy_sa
from sites import Capture, Stream, transfer

ENGINE = os.path.join(ROOT, "build", "ipsecif-engine")
A, B = "192.168.0.3", "192.168.0.5"
IN_A, IN_B = "10.0.0.1", "10.0.0.2"
SPI_AB, SPI_BA = 0x1001, 0x1002

# name: (setkey words for the SA with its keys, the suite as dp.SUITES names it)
KEYS = {
    "chacha20-poly1305": ("-E chacha20-poly1305 0x" + "11" * 36, "chacha20-poly1305"),
    "aes-gcm-16": ("-E aes-gcm-16 0x" + "22" * 20, "aes-gcm-128"),
    "aes-gcm-16-256": ("-E aes-gcm-16 0x" + "77" * 36, "aes-gcm-256"),
    "aes-cbc-sha256": ("-E aes-cbc 0x" + "33" * 16 + " -A hmac-sha2-256 0x" + "44" * 32,
                       "aes-cbc+hmac-sha2-256"),
    "aes-cbc-sha1": ("-E aes-cbc 0x" + "55" * 16 + " -A hmac-sha1 0x" + "66" * 20,
                     "aes-cbc+hmac-sha1"),
}


def engine(ns):
    return json.loads(ctl(ns, "-j", "engine").stdout)


def engine_up(ns, timeout=10):
    return poll(lambda: engine(ns)["up"], timeout, "the engine up")


def tunnel(ns, local, remote, inner, peer_inner, keys):
    ctl(ns, "ipsec0", "create", "reqid", "100")
    ctl(ns, "ipsec0", "inet", "tunnel", local, remote)
    ctl(ns, "ipsec0", "inet", inner, peer_inner)
    ctl(ns, "ipsec0", "up")
    r = setkey(ns, f"add {A} {B} esp {SPI_AB} -m tunnel -u 100 {keys};\n"
                   f"add {B} {A} esp {SPI_BA} -m tunnel -u 100 {keys};\n")
    assert r.returncode == 0, r.stderr


@pytest.fixture
def hosts(host_bpffs):
    """The bpffs on the host: an agent restart must find its pins (test_agent_restart_...)."""
    with freebsd_hosts() as (a, b):
        ctl(a, "engine", "on", "workers", "2")
        engine_up(a)
        yield a, b


def counts(ns, spi):
    """An SA's packets, those the engine ciphered, and its interface's drops by name."""
    s = sas(ns)[spi]
    drops = {k: v for k, v in show(ns, "ipsec0")["drops"].items() if v}
    return s["packets"], s["engine"], drops


def scapy_key(name):
    """The keys of KEYS[name] as dp.scapy_sa wants them: (suite, key, auth key)."""
    words = KEYS[name][0].split()
    suite = next(s for s in SUITES if s.name == KEYS[name][1])
    key = bytes.fromhex(words[2][2:])
    akey = bytes.fromhex(words[5][2:]) if len(words) > 3 else b""
    return suite, key, akey


@pytest.mark.parametrize("name", list(KEYS))
def test_every_suite_through_the_engine(hosts, name):
    a, b = hosts
    keys = KEYS[name][0]
    tunnel(a, A, B, IN_A, IN_B, keys)
    tunnel(b, B, A, IN_B, IN_A, keys)
    ctl(b, "engine")        # B: off
    assert not engine(b)["on"]

    # What A's workers seal crosses the wire as scapy reads it.
    # On A's underlay, as it leaves (B's xdp_esp_in takes it before any capture there).
    cap = Capture(a, "ul0", ["esp"], snaplen=0)
    try:
        r = a("ping", "-c", "3", "-i", "0.2", "-s", "1200", "-p", "a5", IN_B, check=False)
        assert r.returncode == 0, r.stdout
        pkts = [p for p in cap.packets() if ESP in p and p[ESP].spi == SPI_AB]
    finally:
        cap.close()
    suite, key, akey = scapy_key(name)
    sa = scapy_sa(suite, SPI_AB, key, akey, A, B)
    assert len(pkts) == 3
    for p in pkts:
        inner = sa.decrypt(p[IP])
        assert inner[IP].src == IN_A and inner[IP].dst == IN_B and ICMP in inner
        assert bytes(inner[ICMP].payload)[-100:] == b"\xa5" * 100

    # Both ways, content checked: A's workers seal the data and open the other way's.
    transfer(a, b, IN_B, size=1000 * 1000)
    transfer(b, a, IN_A, size=1000 * 1000)
    out_pk, out_eng, out_drops = counts(a, SPI_AB)
    in_pk, in_eng, in_drops = counts(a, SPI_BA)
    print(f"{name}: A out {out_pk} packets, {out_eng} by the engine; "
          f"in {in_pk}, {in_eng} by the engine")
    # Every data segment is over the threshold; the ACKs, under it, are BPF's.
    assert out_eng >= 1000 * 1000 // 1400 and in_eng >= 1000 * 1000 // 1400
    assert out_eng < out_pk and in_eng < in_pk
    assert not out_drops and not in_drops, out_drops
    by_dir = {x["dir"]: x for x in show(a, "ipsec0")["sas"]}
    assert (by_dir["out"]["packets"], by_dir["out"]["engine"]) == (out_pk, out_eng)
    assert (by_dir["in"]["packets"], by_dir["in"]["engine"]) == (in_pk, in_eng)
    b_in = counts(b, SPI_AB)
    assert b_in[1] == 0 and not b_in[2], "B opened all, in BPF"
    e = engine(a)
    w = e["worker"]
    assert sum(x["sealed"] for x in w) >= out_eng and sum(x["opened"] for x in w) >= in_eng
    assert not any(x["bad_icv"] or x["no_key"] or x["bad_frame"] for x in w)
    assert e["out"]["sent"] == e["out"]["back"] and e["in"]["sent"] == e["in"]["back"]


def test_bad_icv_through_the_engine(hosts):
    """A's workers check the ICV: a forged packet is an auth drop, the window unmoved."""
    a, b = hosts
    keys = KEYS["aes-gcm-16"][0]
    tunnel(a, A, B, IN_A, IN_B, keys)
    tunnel(b, B, A, IN_B, IN_A, keys)
    suite, key, akey = scapy_key("aes-gcm-16")
    sa = scapy_sa(suite, SPI_BA, key, akey, B, A)
    from scapy.layers.l2 import Ether
    from scapy.sendrecv import sendp
    mac_a = a("cat", "/sys/class/net/ul0/address").stdout.strip()
    good = sa.encrypt(IP(src=IN_B, dst=IN_A) / ICMP() / (b"x" * 1200), seq_num=500)
    bad = bytearray(bytes(good))
    bad[-1] ^= 1
    frames = [Ether(dst=mac_a) / IP(bytes(bad)), Ether(dst=mac_a) / good]
    b(os.path.join("/usr/bin", "python3"), "-c",
      "import sys; from scapy.all import sendp, Ether; "
      "[sendp(Ether(bytes.fromhex(h)), iface='ul0', verbose=False) for h in sys.argv[1:]]",
      *[bytes(f).hex() for f in frames])
    poll(lambda: counts(a, SPI_BA)[0] >= 1, 5, "the good packet")
    pk, eng, drops = counts(a, SPI_BA)
    assert (pk, eng, drops.get("auth")) == (1, 1, 1)
    assert sum(x["bad_icv"] for x in engine(a)["worker"]) == 1


def worker_pid(ns, q=0):
    return engine(ns)["worker"][q]["pid"]


@pytest.mark.parametrize("sig", ["KILL", "STOP"])
def test_a_worker_killed_or_stopped(hosts, sig):
    """kill -9 or SIGSTOP of a worker under a 10 ms ping and a TCP transfer: BPF
    ciphers meanwhile, the worker is back, the loss bounded (and printed)."""
    a, b = hosts
    keys = KEYS["chacha20-poly1305"][0]
    tunnel(a, A, B, IN_A, IN_B, keys)
    tunnel(b, B, A, IN_B, IN_A, keys)
    before = engine(a)
    pid = worker_pid(a)
    stream = Stream(a, b, IN_B)
    try:
        with pinging(a, IN_B, 4, size=1000) as result:
            stream.send(300 * 1000)
            time.sleep(1)
            t0 = time.time()
            os.kill(pid, getattr(signal, "SIG" + sig))
            stream.send(300 * 1000)
            # Out of the path: the engine down (or already back with a new worker).
            poll(lambda: not engine(a)["up"] or worker_pid(a) != pid, 2, "the worker out")
            t_out = time.time() - t0
            stream.send(300 * 1000)
            sent, rcvd, _ = result()
        assert stream.close() == 900 * 1000, "the TCP stream's bytes, all and intact"
    finally:
        stream.kill()
    engine_up(a)
    after = engine(a)
    assert worker_pid(a) != pid
    lost = sent - rcvd
    print(f"SIG{sig}: out of the path within {t_out * 1000:.0f} ms (as polled); "
          f"ping lost {lost} of {sent}; restarts {after['worker'][0]['restarts']}")
    assert lost <= 10, f"{lost} of {sent} lost"
    if sig == "STOP":
        assert after["stuck"] == before["stuck"] + 1
    else:
        assert after["died"] == before["died"] + 1


def test_engine_off_and_on(hosts):
    """engine off: BPF ciphers all, the keys wiped from the table; on again: new SAs go
    to the engine (those installed while it was off stay BPF's)."""
    a, b = hosts
    keys = KEYS["aes-gcm-16"][0]
    tunnel(a, A, B, IN_A, IN_B, keys)
    tunnel(b, B, A, IN_B, IN_A, keys)
    assert engine(a)["keys"] == 2
    ctl(a, "engine", "off")
    e = engine(a)
    assert not e["on"] and not e["up"]
    pk0, eng0, _ = counts(a, SPI_AB)
    r = a("ping", "-c", "3", "-i", "0.2", "-s", "1200", IN_B, check=False)
    assert r.returncode == 0
    pk1, eng1, _ = counts(a, SPI_AB)
    assert pk1 == pk0 + 3 and eng1 == eng0
    ctl(a, "engine", "on", "workers", "1")
    engine_up(a)
    assert engine(a)["keys"] == 0
    r = a("ping", "-c", "3", "-i", "0.2", "-s", "1200", IN_B, check=False)
    assert r.returncode == 0
    assert counts(a, SPI_AB)[1] == eng1, "an SA keyed while the engine was off stays BPF's"


def test_engine_min_threshold(hosts):
    """engine min SUITE BYTES: below, BPF's cipher; 0, never the engine."""
    a, b = hosts
    keys = KEYS["chacha20-poly1305"][0]
    tunnel(a, A, B, IN_A, IN_B, keys)
    tunnel(b, B, A, IN_B, IN_A, keys)
    assert engine(a)["min_text"]["chacha20-poly1305"] > 0
    ctl(a, "engine", "min", "chacha20-poly1305", "1000")
    assert engine(a)["min_text"]["chacha20-poly1305"] == 1000
    for size, to_engine in ((500, False), (1200, True)):
        _, e0, _ = counts(a, SPI_AB)
        assert a("ping", "-c", "2", "-i", "0.2", "-s", str(size), IN_B,
                 check=False).returncode == 0
        assert (counts(a, SPI_AB)[1] - e0 == 2) == to_engine, size
    ctl(a, "engine", "min", "chacha20-poly1305", "0")
    _, e0, _ = counts(a, SPI_AB)
    assert a("ping", "-c", "2", "-i", "0.2", "-s", "1200", IN_B, check=False).returncode == 0
    assert counts(a, SPI_AB)[1] == e0


def test_engine_bad_commands(hosts):
    """Refused by name, and the running engine as it was: a CPU the agent may not run on
    is refused before the engine stops (once, it was taken, and its workers died at
    their start, restarted again and again)."""
    a, _ = hosts
    was = engine(a)
    off = max(os.sched_getaffinity(0)) + 1
    for words, why in ((["engine", "on", "workers", "0"], "1 to 64"),
                       (["engine", "min", "des", "5"], "the suites are"),
                       (["engine", "sideways"], "engine takes on, off or min"),
                       (["engine", "on", "cpus", f"0,{off}"],
                        f"cpus: CPU {off} is not one this agent may run on (0")):
        r = ctl(a, *words, check=False)
        assert r.returncode != 0 and why in r.stderr, r.stderr
    now = engine(a)
    assert now["up"], "a bad command changes nothing"
    assert [w["pid"] for w in now["worker"]] == [w["pid"] for w in was["worker"]], now
    assert now["died"] == was["died"], now


def test_agent_restart_keeps_the_engine(hosts):
    """An agent restart under a 10 ms ping through the engine loses nothing; the new
    agent brings the engine back as it was; the SAs it adopts are BPF's (their keys went
    with the old workers), the next SA is the engine's again."""
    a, b = hosts
    keys = KEYS["aes-gcm-16"][0]
    tunnel(a, A, B, IN_A, IN_B, keys)
    tunnel(b, B, A, IN_B, IN_A, keys)
    ctl(a, "engine", "min", "aes-gcm-16", "200")
    with pinging(a, IN_B, 5, size=1000) as result:
        time.sleep(1.5)
        agent(a, "stop")
        agent(a, "start")
        sent, rcvd, _ = result()
    print(f"agent restart: ping lost {sent - rcvd} of {sent}")
    assert rcvd == sent, f"{sent - rcvd} of {sent} lost"
    e = engine_up(a) and engine(a)
    assert e["on"] and e["workers"] == 2 and e["min_text"]["aes-gcm-16"] == 200
    assert e["keys"] == 0
    _, eng0, _ = counts(a, SPI_AB)
    assert a("ping", "-c", "2", "-i", "0.2", "-s", "1000", IN_B, check=False).returncode == 0
    assert counts(a, SPI_AB)[1] == eng0, "an adopted SA is BPF's"
    r = setkey(a, f"add {A} {B} esp 0x2001 -m tunnel -u 100 {keys};\n"
                  f"add {B} {A} esp 0x2002 -m tunnel -u 100 {keys};\n")
    assert r.returncode == 0, r.stderr
    assert engine(a)["keys"] == 2
