# SPDX-License-Identifier: GPL-2.0-only
"""
The engine worker, ipsecif-engine, on a veth pair in a namespace.  The
test plays BPF's part (frames out, frames back) and tests/eng_fixture.c
the agent's (key table, status block, the xsks map's descriptor):

    this test: AF_PACKET on engb          eng_fixture, one per worker:
      | frames: ESP + trailer              memfds, pinned xsks map's fd
      v                                     | fork, exec
    engb ========== veth ========== enga    v
      ^                              |  XDP eng_redirect: xsks[rx queue]
      |                              +--> queue 0: ipsecif-engine --index 0
      |                              +--> queue 1: ipsecif-engine --index 1
      +----- the same frames, done, from the workers' tx rings

engb's XPS puts what CPU sender(q) sends on tx queue q, which the veth
hands to enga's rx queue q: each worker's counters must show its own
frames.  The sender for a queue runs on the other CPU than its worker.
Every byte that comes back is checked against a reference computed here
(cryptography's ChaCha20Poly1305 and AESGCM; AES-CBC and HMAC).
"""
import hashlib
import hmac
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from agents import BPFFS
from dp import ROOT
from netns import Netns, in_netns

ENGINE = os.path.join(ROOT, "build", "ipsecif-engine")
FIXTURE = os.path.join(ROOT, "build", "eng_fixture")
PROG = os.path.join(ROOT, "build", "eng_redirect.bpf.o")

MAGIC = 0x676e6569
SEAL, OPEN, SEALED, OPENED, BAD_ICV, NO_KEY, BAD_FRAME = range(1, 8)
ENC_CBC, ENC_GCM, ENC_CHACHA = 1, 2, 3
AUTH_SHA256 = 1
ETH_P = 0x88b5          # IEEE local experimental: no stack takes these
SO_RCVBUFFORCE = 33      # <asm-generic/socket.h>: root may pass rmem_max
# struct ipsecif_eng_trailer (include/ipsecif_engine.h), 72 bytes
TRAILER = struct.Struct("<12sIQHHBBBBIIIHBB16sII")
STATUS = ("heartbeat_ns", "pid", "queue", "cpu", "bound", "frames", "sealed", "opened",
          "bad_icv", "no_key", "bad_frame", "tx_full", "rx_depth", "tx_depth", "rx_dropped",
          "rx_ring_full")
CPUS = sorted(os.sched_getaffinity(0))


def worker_cpu(queue):
    return CPUS[queue % len(CPUS)]


def sender_cpu(queue):
    return CPUS[(queue + 1) % len(CPUS)]


class Suite:
    def __init__(self, name, key_id, enc, auth, klen, aklen, icv):
        self.name, self.key_id, self.enc, self.auth, self.icv = name, key_id, enc, auth, icv
        self.key = os.urandom(klen)
        self.salt = os.urandom(4) if enc != ENC_CBC else b""
        self.akey = os.urandom(aklen) if aklen else b""
        self.ivlen = 16 if enc == ENC_CBC else 8

    def __repr__(self):
        return self.name

    def seal(self, hdr, aad, iv, seq, text):
        """What BPF's path seals: (iv, ciphertext | ICV)."""
        if self.enc == ENC_CHACHA:
            return iv, ChaCha20Poly1305(self.key).encrypt(self.salt + iv, text, aad)
        if self.enc == ENC_GCM:
            return iv, AESGCM(self.key).encrypt(self.salt + iv, text, aad)
        # bpf/esp_out.h cbc_iv: AES-ECB_K(be64(seq) | "secif iv")
        ecb = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        iv = ecb.update(struct.pack(">Q", seq) + b"secif iv") + ecb.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        ct = enc.update(text) + enc.finalize()
        mac = hmac.new(self.akey, hdr + iv + ct, hashlib.sha256).digest()[:self.icv]
        return iv, ct + mac


SUITES = [
    Suite("chacha20-poly1305", 11, ENC_CHACHA, 0, 32, 0, 16),
    Suite("aes-gcm-128", 12, ENC_GCM, 0, 16, 0, 16),
    Suite("aes-cbc-128+hmac-sha2-256", 13, ENC_CBC, AUTH_SHA256, 16, 32, 16),
]

_seq = [1000]


def next_seq():
    _seq[0] += 1
    return _seq[0]


class Frame:
    """One frame as BPF builds it: Ethernet, ESP header, IV, text, ICV, trailer."""

    def __init__(self, eth, suite, op, text, seq=None, iv=None, icv=None, key_id=None,
                 magic=MAGIC):
        self.suite, self.seq = suite, seq or next_seq()
        self.hdr = struct.pack(">II", 0x5000 + suite.key_id, self.seq)
        self.aad = self.hdr
        self.iv = iv or (os.urandom(8) if suite.enc != ENC_CBC else bytes(16))
        self.text = text
        self.icv = icv if icv is not None else bytes(suite.icv)
        self.trailer = TRAILER.pack(self.aad.ljust(12, b"\0"), key_id or suite.key_id, self.seq,
                                    len(eth), len(text), op, suite.enc, suite.icv, len(self.aad),
                                    7, len(text), 0, 2, 0, 0, bytes(16), 0, magic)
        self.eth = eth

    def bytes(self):
        return self.eth + self.hdr + self.iv + self.text + self.icv + self.trailer

    def expect(self, op, iv=None, body=None):
        """The frame as it must come back: body replaced, op set, all else as sent."""
        t = bytearray(self.trailer)
        t[28] = op
        return (self.eth + self.hdr + (iv or self.iv) + (body if body is not None else
                self.text + self.icv) + bytes(t))


def sealed_frame(eth, suite, text, flip=False):
    """An OPEN frame of text sealed by the reference (its ICV flipped)."""
    seq = next_seq()
    probe = Frame(eth, suite, OPEN, b"", seq=seq)
    iv, sealed = suite.seal(probe.hdr, probe.aad, probe.iv, seq, text)
    body = bytearray(sealed)
    if flip:
        body[len(text)] ^= 0x20
    n = len(text)
    return Frame(eth, suite, OPEN, bytes(body[:n]), seq=seq, iv=iv, icv=bytes(body[n:]))


def seq_of(data):
    return struct.unpack(">I", data[18:22])[0] if len(data) >= 22 else None


class Worker:
    """An eng_fixture and its worker on one rx queue of enga."""

    def __init__(self, ns, pin, queue):
        self.queue = queue
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, FIXTURE, pin, str(queue), "--", ENGINE,
             "--dev", "enga", "--queue", str(queue), "--cpu", str(worker_cpu(queue))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "ready", line
        self.pid = int(line[1])
        for s in SUITES:
            self.cmd(f"key {s.key_id} {s.enc} {s.auth} {s.icv} {s.key.hex()} "
                     f"{s.salt.hex() or '-'} {s.akey.hex() or '-'}")

    def cmd(self, line, timeout=10):
        """One command, one answer, which must come within timeout seconds."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"eng_fixture: no answer to {line.split()[0]} in {timeout} s"
        out = self.proc.stdout.readline().strip()
        assert not out.startswith("err"), out
        return out

    def status(self):
        return dict(zip(STATUS, (int(v) for v in self.cmd("status").split()[1:])))

    def cpu_ns(self):
        """Time on a CPU so far (the scheduler's count, in ns)."""
        with open(f"/proc/{self.pid}/schedstat") as f:
            return int(f.read().split()[0])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()     # the fixture ends its worker and itself
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class Env:
    def __init__(self, ns, pin):
        self.ns, self.pin = ns, pin
        self.map_pin = f"{pin}/maps/xsks"
        self.workers = []
        link = ns("cat", "/sys/class/net/enga/address").stdout.strip()
        peer = ns("cat", "/sys/class/net/engb/address").stdout.strip()
        self.eth = (bytes.fromhex(link.replace(":", "")) + bytes.fromhex(peer.replace(":", "")) +
                    struct.pack(">H", ETH_P))
        self.socks = {}

    def sock(self, queue):
        """A packet socket on engb; sent from sender_cpu(queue), its frames leave on tx
        queue `queue` (XPS)."""
        if queue not in self.socks:
            with in_netns(self.ns):
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P))
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
                s.bind(("engb", 0))
            s.settimeout(0.2)
            self.socks[queue] = s
        return self.socks[queue]

    def exchange(self, frames, queue=0, timeout=3.0):
        """Send frames from queue's CPU; what comes back, by sequence number."""
        s = self.sock(queue)
        mask = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {sender_cpu(queue)})
        try:
            for f in frames:
                s.send(f)
        finally:
            os.sched_setaffinity(0, mask)
        back, end = {}, time.time() + timeout
        want = {seq_of(f) for f in frames}
        while not want <= back.keys() and time.time() < end:
            try:
                data, addr = s.recvfrom(65536)
            except socket.timeout:
                continue
            if addr[2] != socket.PACKET_OUTGOING:
                back[seq_of(data)] = data
        return back

    def drain(self):
        """Throw away what the sockets hold (a burst's frames)."""
        for s in self.socks.values():
            s.setblocking(False)
            try:
                while True:
                    s.recv(65536)
            except BlockingIOError:
                pass
            s.settimeout(0.2)

    def unbound(self):
        """eng_redirect's count, per queue, of frames that found no socket in xsks."""
        out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", f"{self.pin}/maps/unbound"],
                             capture_output=True, text=True, check=True).stdout
        return {int(e["key"][0], 16): int.from_bytes(bytes(int(b, 16) for b in e["value"]),
                                                      "little")
                for e in json.loads(out) if int(e["key"][0], 16) < 2}

    def bound(self, queue):
        """Whether xsks holds a socket at queue: a probe frame that comes back, or the
        program's count of frames with none there."""
        before = self.unbound()[queue]
        f = Frame(self.eth, SUITES[0], SEAL, bytes(16))
        back = self.exchange([f.bytes()], queue, timeout=0.5)
        missed = self.unbound()[queue] - before
        assert (f.seq in back) != bool(missed), (back.keys(), missed)
        return f.seq in back


@pytest.fixture(scope="module")
def env(host_bpffs):
    if len(CPUS) < 2:
        pytest.skip("XPS steers each queue's frames by CPU: two CPUs needed")
    ns = Netns()
    pin = f"{BPFFS}/eng-test-{os.urandom(4).hex()}"
    e = None
    try:
        ns("ip", "link", "add", "enga", "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
           "peer", "name", "engb", "numrxqueues", "2", "numtxqueues", "2")
        ns("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        for dev in ("enga", "engb"):
            ns("ip", "link", "set", dev, "mtu", "3000", "up")
        for q in (0, 1):
            ns("sh", "-c", f"echo {1 << sender_cpu(q):x} > "
               f"/sys/class/net/engb/queues/tx-{q}/xps_cpus")
        os.makedirs(pin)
        subprocess.run(["bpftool", "prog", "load", PROG, f"{pin}/prog", "type", "xdp",
                        "pinmaps", f"{pin}/maps"], check=True)
        ns("ip", "link", "set", "dev", "enga", "xdpdrv", "pinned", f"{pin}/prog")
        e = Env(ns, pin)
        for q in (0, 1):
            e.workers.append(Worker(ns, e.map_pin, q))
        yield e
    finally:
        if e:
            for w in e.workers:
                w.close()
            for s in e.socks.values():
                s.close()
        ns.close()
        shutil.rmtree(pin, ignore_errors=True)


def totals(env):
    return [w.status() for w in env.workers]


def delta(before, after, field):
    return [a[field] - b[field] for b, a in zip(before, after)]


@pytest.mark.parametrize("suite", SUITES, ids=repr)
def test_seal_open_byte_exact(env, suite):
    """SEAL and OPEN come back as the reference says, on both queues; a
    flipped ICV bit comes back BAD_ICV with the text as it came; each
    worker counted its own queue's frames."""
    before = totals(env)
    for queue in (0, 1):
        frames, expect = [], {}
        for n in (64, 1400):
            n = n if suite.enc != ENC_CBC else (n + 15) & ~15
            text = os.urandom(n)
            f = Frame(env.eth, suite, SEAL, text)
            iv, sealed = suite.seal(f.hdr, f.aad, f.iv, f.seq, text)
            frames.append(f.bytes())
            expect[f.seq] = f.expect(SEALED, iv, sealed)

            g = sealed_frame(env.eth, suite, text)
            frames.append(g.bytes())
            expect[g.seq] = g.expect(OPENED, body=text + g.icv)

            h = sealed_frame(env.eth, suite, text, flip=True)
            frames.append(h.bytes())
            expect[h.seq] = h.expect(BAD_ICV)
        back = env.exchange(frames, queue)
        assert back.keys() >= expect.keys(), f"queue {queue}: {len(back)} of {len(expect)} back"
        for seq, want in expect.items():
            assert back[seq] == want, f"queue {queue} seq {seq}"
    after = totals(env)
    assert delta(before, after, "sealed") == [2, 2]
    assert delta(before, after, "opened") == [2, 2]
    assert delta(before, after, "bad_icv") == [2, 2]
    assert delta(before, after, "frames") == [6, 6]


def test_bad_frames_and_no_key(env):
    """A bad magic and a trailer past the frame come back BAD_FRAME, a
    frame too short for a trailer comes back as it was, an unknown key
    NO_KEY, a key cleared from the table NO_KEY too; nothing crashes."""
    s = SUITES[0]
    before = totals(env)
    magic = Frame(env.eth, s, SEAL, os.urandom(100), magic=0x12345678)
    long = Frame(env.eth, s, SEAL, os.urandom(100))
    raw = bytearray(long.bytes())
    struct.pack_into("<H", raw, len(raw) - TRAILER.size + 26, 3000)     # text_len
    short = env.eth + struct.pack(">II", 1, next_seq()) + bytes(40)
    nokey = Frame(env.eth, s, SEAL, os.urandom(100), key_id=99)
    frames = [magic.bytes(), bytes(raw), short, nokey.bytes()]
    back = env.exchange(frames, 0)
    assert back[magic.seq] == magic.expect(BAD_FRAME)
    want = bytearray(raw)
    want[len(raw) - TRAILER.size + 28] = BAD_FRAME
    assert back[long.seq] == bytes(want)
    assert back[seq_of(short)] == short
    assert back[nokey.seq] == nokey.expect(NO_KEY)

    w = env.workers[0]
    w.cmd(f"clear {s.key_id}")
    gone = Frame(env.eth, s, SEAL, os.urandom(64))
    assert env.exchange([gone.bytes()], 0)[gone.seq] == gone.expect(NO_KEY)
    w.cmd(f"key {s.key_id} {s.enc} {s.auth} {s.icv} {s.key.hex()} {s.salt.hex()} -")
    after = totals(env)
    assert delta(before, after, "bad_frame") == [3, 0]
    assert delta(before, after, "no_key") == [2, 0]
    assert all(w.proc.poll() is None for w in env.workers)


def test_rate(env):
    """Frames per second and the worker's CPU per frame for SEAL, under a
    burst from eng_fixture's sendmmsg loop on the other CPU (figures,
    printed and written to build/bench/engine.json)."""
    w, results = env.workers[0], []
    for suite in SUITES[:2]:
        for n in (64, 1400):
            count = 20000
            f = Frame(env.eth, suite, SEAL, os.urandom(n))
            st0, cpu0, t0 = w.status(), w.cpu_ns(), time.perf_counter()
            sent = int(env.workers[1].cmd(f"blast engb {sender_cpu(0)} {count} "
                                          f"{f.bytes().hex()}").split()[1])
            last, t1 = st0["sealed"], time.perf_counter()
            while True:     # until the worker has taken all that reached it
                time.sleep(0.02)
                now = w.status()["sealed"]
                if now == last:
                    break
                last, t1 = now, time.perf_counter()
            cpu1, st1 = w.cpu_ns(), w.status()
            got = st1["sealed"] - st0["sealed"]
            results.append({"suite": suite.name, "text": n, "sent": sent, "sealed": got,
                            "fps": round(got / (t1 - t0)),
                            "ns_per_frame": round((t1 - t0) * 1e9 / max(got, 1)),
                            "cpu_ns_per_frame": round((cpu1 - cpu0) / max(got, 1)),
                            "rx_dropped": st1["rx_dropped"] - st0["rx_dropped"],
                            "rx_ring_full": st1["rx_ring_full"] - st0["rx_ring_full"]})
            # A faster sender overflows the veth's ring ahead of the socket:
            # a measurement, so what reached the worker is what counts.
            assert sent == count and got > 0, results[-1]
            env.drain()
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", "engine.json"), "w") as out:
        json.dump(results, out, indent=1)
    for r in results:
        print(f"\n  {r['suite']:<18} {r['text']:>5} B: {r['sealed']:>5}/{r['sent']} sealed, "
              f"{r['fps']:>7} frames/s ({r['ns_per_frame']} ns a frame), worker CPU "
              f"{r['cpu_ns_per_frame']} ns a frame, rx_dropped {r['rx_dropped']}")


def test_sigstop_stops_the_heartbeat(env):
    w = env.workers[0]
    h0 = w.status()["heartbeat_ns"]
    time.sleep(0.05)
    assert w.status()["heartbeat_ns"] > h0
    os.kill(w.pid, signal.SIGSTOP)
    try:
        time.sleep(0.05)
        h1 = w.status()["heartbeat_ns"]
        time.sleep(0.2)
        assert w.status()["heartbeat_ns"] == h1
    finally:
        os.kill(w.pid, signal.SIGCONT)
    end = time.time() + 2
    while w.status()["heartbeat_ns"] == h1 and time.time() < end:
        time.sleep(0.01)
    assert w.status()["heartbeat_ns"] > h1


def test_kill_and_term(env):
    """kill -9: the kernel takes the socket's entry out of the xsks map;
    SIGTERM: the worker leaves its loop and exits 0, its entry gone too."""
    assert env.bound(0) and env.bound(1)
    w0, w1 = env.workers
    os.kill(w1.pid, signal.SIGKILL)
    assert w1.cmd("wait") == "signal 9"
    assert not env.bound(1)
    assert env.bound(0) and w0.status()["bound"] == 1
    assert w0.cmd("quit") == "exit 0"
    w0.proc.wait(timeout=5)
    assert not env.bound(0)


def test_device_gone(env):
    """The device deleted under a worker: the socket says ENETDOWN and the
    worker exits 1 within the stats period, for its supervisor to see."""
    for old in env.workers:
        old.close()
    w = Worker(env.ns, env.map_pin, 0)
    env.workers.append(w)
    t0 = time.time()
    env.ns("ip", "link", "del", "enga")
    assert w.cmd("wait", timeout=2) == "exit 1"
    assert time.time() - t0 < 2
