#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""
The network benchmark (make bench; docs/BENCHMARKS.md): ipsecif beside
what a user would pick instead, on one machine, in one run, through one
topology of four network namespaces:

  src 10.100.0.5 --veth-- [lan0] A [ul0] --veth-- [ul0] B [lan0] --veth-- sink 10.200.0.5
      eth0                  10.100.0.1  192.0.2.1   192.0.2.2  10.200.0.1        eth0
                            gateway A (site A)      gateway B (site B)

LAN MTU 1400, underlay MTU 1500; the hosts send with checksum offload off
(as from a wire).  Every case rebuilds the namespaces and configures the
gateways its way; then, each for --seconds and --reps times (median, min,
max reported):

  pps   64-byte UDP frames from build/bench_gen (tests/bench_gen.c: XDP
        live frames, as xdp-trafficgen sends them; Debian's xdp-trafficgen
        1.3.1 no longer loads on this kernel) on src's eth0, counted and
        dropped at sink's eth0 by xdp_sink (bpf/bench.bpf.c);
  tcp   iperf3 TCP, one flow, src -> sink;
  udp   iperf3 UDP, 1400-byte IP datagrams (-l 1372), unlimited rate;
        the receiver's goodput, and what reached its UDP layer and what
        its socket dropped (the receiver shares these CPUs: flagged above 5 %);
  cost  per site, CPU per packet (the pps run) and per GB (the tcp run),
        from one more run of each with BPF statistics on (they slow cheap
        programs down, so the rates are measured without them):
        the BPF run time of the site's programs (kernel BPF statistics)
        for ipsecif, the process's CPU time for wireguard-go and charon;
        and the whole machine's busy CPU (/proc/stat), which includes
        whatever else runs on it.

Scaling cases (suffix -1core / -2core) use veths with two queues and four
TCP flows from two iperf3 clients, pinned both to CPU 0 or one to each
CPU, and bench_gen with one thread on CPU 0 or two threads, one on each.

The generator reports how idle its CPU was while it sent (/proc/stat);
above GEN_IDLE_WARN the pps figure measures the generator's duty cycle,
not the path: the run is flagged.  --gen runs another generator binary
(an older build, to compare).

Output: a table, JSON (--json, default build/bench/bench.json) and a PNG
chart (--png, default build/bench/bench.png).  --smoke: one short run of
every case, for make check: it proves each case yields a figure.
"""
import argparse
import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from netns import Netns  # noqa: E402

BUILD = os.path.join(ROOT, "build")
AGENT = os.path.join(BUILD, "ipsecif-agent")
CTL = os.path.join(BUILD, "ipsecifctl")
BENCH_OBJ = os.path.join(BUILD, "bench.bpf.o")
GEN = os.path.join(BUILD, "bench_gen")
BPFFS = "/run/ipsecif/bpf"

SRC, SINK = "10.100.0.5", "10.200.0.5"
LAN_A, LAN_B = "10.100.0.1", "10.200.0.1"
UL_A, UL_B = "192.0.2.1", "192.0.2.2"
IN_A, IN_B = "172.16.100.1", "172.16.200.1"
NET_SRC, NET_SINK = "10.100.0.0/24", "10.200.0.0/24"
LAN_MTU = 1400
UDP_PAYLOAD = LAN_MTU - 28
PORT = 5201
GEN_IDLE_WARN = 0.05            # a generator's CPU idler than this: flagged
SOCK_DROP_WARN = 0.05           # a UDP receiver's socket dropping more than this: flagged
# The paced UDP runs (udp_paced): how many offered rates are tried, and the
# loss below which the next is 20 % higher (above it, 15 % lower).
UDP_PACED_STEPS = 4
UDP_PACED_LOSS = 0.02
# The UDP receiver's socket buffer (iperf3 -w, both ends): the default 208 KiB
# holds 150 datagrams, a few milliseconds that a receiver sharing two CPUs with
# both gateways is often kept from running; its socket then drops, and goodput is
# the scheduler's.  The kernel caps it at net.core.rmem_max (of the first
# namespace: the others' cannot be raised), which bench.py reads and reports.
UDP_RCVBUF = 2 << 20
METRICS = ("pps", "tcp", "udp", "udp-paced")    # what --metrics may name

SUITES = {
    "chacha": "-E chacha20-poly1305 0x{k36}",
    "gcm": "-E aes-gcm-16 0x{k20}",
    "cbc-sha256": "-E aes-cbc 0x{k16} -A hmac-sha2-256 0x{k32}",
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*args, check=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


# -- BPF run-time statistics (BPF_ENABLE_STATS: on while the fd is open) --

@contextlib.contextmanager
def bpf_stats(on=True):
    """
    BPF programs' run time counted while inside (BPF_ENABLE_STATS, as long
    as its fd is open).  It reads the clock twice per program run, which
    is a sixth of a cheap XDP program's time: rates are measured without.
    """
    fd = -1
    if on:
        libc = ctypes.CDLL(None, use_errno=True)
        attr = (ctypes.c_uint32 * 4)(0)       # enable_stats.type = BPF_STATS_RUN_TIME
        fd = libc.syscall(321, 32, attr, ctypes.sizeof(attr))  # __NR_bpf, BPF_ENABLE_STATS
        if fd < 0:
            raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS")
    try:
        yield
    finally:
        if fd >= 0:
            os.close(fd)


def prog_runtime(ns, prog_id):
    """ns the program has run for while BPF statistics were on."""
    j = json.loads(ns("bpftool", "-j", "prog", "show", "id", str(prog_id)).stdout)
    return j.get("run_time_ns", 0)


def xdp_prog_id(ns, dev):
    info = json.loads(ns("ip", "-j", "-d", "link", "show", dev).stdout)[0]
    return info.get("xdp", {}).get("prog", {}).get("id")


def cpu_busy():
    """Busy CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_times():
    """(idle, total) jiffies of each CPU so far (/proc/stat)."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = [int(x) for x in line.split()[1:9]]
                out.append((v[3] + v[4], sum(v)))
    return out


def idle_since(c0):
    """The fraction of the time since c0 that each CPU was idle."""
    return [round((i1 - i0) / (t1 - t0), 4) if t1 > t0 else None
            for (i0, t0), (i1, t1) in zip(c0, cpu_times())]


def gen_report(out):
    """{cpu: idle fraction} from bench_gen's "cpu C idle F steal F" lines."""
    idle = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) == 6 and w[0] == "cpu" and w[2] == "idle":
            idle[int(w[1])] = float(w[3])
    return idle


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


# -- the topology --

class Topo:
    """src, A, B, sink; veths with queues queues each (2: RSS over 2 CPUs)."""

    def __init__(self, progs, queues=1):
        self.progs = progs
        self.procs = []                      # Popen objects to stop
        self.site_pids = {}                  # site -> pid of its user-space data path
        self.site_progs = {}                 # site -> [(netns, prog id, name)]
        self.tmp = None
        self.src, self.a, self.b, self.sink = (Netns("ipsecif-bench") for _ in range(4))
        try:
            self.build(queues)
        except Exception:
            self.close()
            raise

    def build(self, queues):
        q = ["numtxqueues", str(queues), "numrxqueues", str(queues)]
        self.src("ip", "link", "add", "eth0", *q, "type", "veth", "peer", "name", "lan0", *q,
                 "netns", self.a.name)
        self.a("ip", "link", "add", "ul0", *q, "type", "veth", "peer", "name", "ul0", *q,
               "netns", self.b.name)
        self.sink("ip", "link", "add", "eth0", *q, "type", "veth", "peer", "name", "lan0", *q,
                  "netns", self.b.name)
        for h, addr, gw in ((self.src, SRC, LAN_A), (self.sink, SINK, LAN_B)):
            h("ethtool", "-K", "eth0", "tx", "off")
            h("ip", "link", "set", "eth0", "mtu", str(LAN_MTU), "up")
            h("ip", "addr", "add", f"{addr}/24", "dev", "eth0")
            h("ip", "route", "add", "default", "via", gw)
        for g, lan, ul in ((self.a, LAN_A, UL_A), (self.b, LAN_B, UL_B)):
            g("sysctl", "-qw", "net.ipv4.ip_forward=1")
            g("ip", "link", "set", "lan0", "mtu", str(LAN_MTU), "up")
            g("ip", "addr", "add", f"{lan}/24", "dev", "lan0")
            g("ip", "link", "set", "ul0", "up")
            g("ip", "addr", "add", f"{ul}/24", "dev", "ul0")
        # Transmit queue i for CPU i (XPS): a flow's packets then stay on
        # the queue, and so the NAPI, of the CPU that sends them, hop after
        # hop, instead of wherever the flow's hash puts them.
        for ns, devs in ((self.src, ["eth0"]), (self.a, ["lan0", "ul0"]),
                         (self.b, ["ul0", "lan0"]), (self.sink, ["eth0"])):
            for dev in devs:
                for i in range(queues if queues > 1 else 0):
                    ns("sh", "-c", f"echo {1 << i:x} > /sys/class/net/{dev}/queues/tx-{i}/xps_cpus")
        self.attach(self.sink, "eth0", "xdp_sink")

    def attach(self, ns, dev, prog):
        ns("bpftool", "net", "attach", "xdpdrv", "pinned", f"{self.progs}/p/{prog}", "dev", dev)

    def spawn(self, ns, argv, private_run=False, env=None, **kw):
        """A process in ns (with private_run: its own mount namespace and /run)."""
        cmd = ["ip", "netns", "exec", ns.name]
        if env:
            cmd += ["env"] + [f"{k}={v}" for k, v in env.items()]
        if private_run:
            cmd += ["unshare", "-m", "sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$@"', "-"]
        p = subprocess.Popen(cmd + argv, **kw)
        self.procs.append(p)
        return p

    def tmpdir(self):
        """A folder for this case's files (configurations, logs), removed with it."""
        if not self.tmp:
            self.tmp = tempfile.mkdtemp(prefix="ipsecif-bench-")
        return self.tmp

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for g in (self.a, self.b):      # an agent, if the case started one
            sh("ip", "netns", "exec", g.name, AGENT, "stop", "--flush", check=False)
        for n in (self.src, self.a, self.b, self.sink):
            n.close()
        if self.tmp and not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def sink_count(self):
        j = json.loads(sh("bpftool", "-j", "map", "lookup", "pinned", f"{self.progs}/m/sink_count",
                          "key", "0", "0", "0", "0").stdout)
        # Formatted when bpftool has the map's BTF, otherwise bytes in hex.
        return sum(v["value"] if isinstance(v["value"], int) else
                   int.from_bytes(bytes(int(x, 16) for x in v["value"]), "little")
                   for v in j["values"])


def in_private(pid, argv, check=True):
    """Run argv in the network and mount namespaces of process pid."""
    return sh("nsenter", "-t", str(pid), "-m", "-n", *argv, check=check)


def wait_private(p, argv, what):
    """Poll until argv succeeds beside process p, which must live meanwhile."""
    def ok():
        if p.poll() is not None:
            raise RuntimeError(f"{what}: the process exited ({p.returncode})")
        return in_private(p.pid, argv, check=False).returncode == 0
    wait_for(ok, what)


def wait_for(cond, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


# -- the cases: each configures the gateways of a fresh topology --

def routes(t):
    t.a("ip", "route", "add", NET_SINK, "via", UL_B)
    t.b("ip", "route", "add", NET_SRC, "via", UL_A)


def case_plain(t):
    """Plain routing, offloads off: the same path without a tunnel."""
    for g in (t.a, t.b):
        for dev in ("lan0", "ul0"):
            g("ethtool", "-K", dev, "gro", "off", "tso", "off", "gso", "off")
    t.attach(t.a, "lan0", "xdp_pass")        # NAPI for the generator's XDP frames
    routes(t)


def case_plain_offload(t):
    """Plain routing with TSO/GSO at the hosts and GRO at the gateways."""
    for h in (t.src, t.sink):
        h("ethtool", "-K", "eth0", "tx", "on", "tso", "on", "gso", "on")
    for g in (t.a, t.b):
        for dev in ("lan0", "ul0"):
            g("ethtool", "-K", dev, "gro", "on")
    routes(t)


def case_xdp_fwd(t):
    """IPv4 forwarding in XDP, no cryptography: the ceiling of XDP redirection."""
    for g in (t.a, t.b):
        for dev in ("lan0", "ul0"):
            t.attach(g, dev, "xdp_fwd_plain")
    t.attach(t.src, "eth0", "xdp_pass")      # redirects back into src need NAPI
    routes(t)
    prog = xdp_prog_id(t.a, "lan0")
    t.site_progs = {"A+B": [(t.a, prog, "xdp_fwd_plain")]}  # one program, both sites


def engine_up(g):
    def up():
        r = sh("ip", "netns", "exec", g.name, CTL, "-j", "engine", check=False)
        return r.returncode == 0 and json.loads(r.stdout)["up"]
    wait_for(up, "the engine up")


def ipsecif(t, suite, xdp, engine=False):
    """engine: the vector-crypto engine on at both gateways, ENGINE_WORKERS workers each
    (default 1: two gateways share the machine's CPUs)."""
    alg = {d: SUITES[suite].format(**{f"k{n}": os.urandom(n).hex() for n in (16, 20, 32, 36)})
           for d in ("ab", "ba")}
    for g, me, peer, ul, peer_ul, far, out, inn in (
            (t.a, IN_A, IN_B, UL_A, UL_B, NET_SINK, "ab", "ba"),
            (t.b, IN_B, IN_A, UL_B, UL_A, NET_SRC, "ba", "ab")):
        sh("ip", "netns", "exec", g.name, AGENT, "start")
        if engine:
            sh("ip", "netns", "exec", g.name, CTL, "engine", "on", "workers",
               os.environ.get("ENGINE_WORKERS", "1"))
            engine_up(g)
        cmd = ["ipsec0", "create", "tunnel", ul, peer_ul, "inet", f"{me}/32", peer]
        sh("ip", "netns", "exec", g.name, CTL, *cmd + (["xdpfwd"] if xdp else []))
        if xdp:
            sh("ip", "netns", "exec", g.name, CTL, "lan", "add", "lan0")
        script = (f"add {ul} {peer_ul} esp 0x{1000 + (out == 'ab')} -m tunnel -u 1 {alg[out]};\n"
                  f"add {peer_ul} {ul} esp 0x{1000 + (inn == 'ab')} -m tunnel -u 1 {alg[inn]};\n")
        sh("ip", "netns", "exec", g.name, CTL, "setkey", "-c", input=script)
        g("ip", "route", "add", far, "dev", "ipsec0")
    if xdp:
        t.attach(t.src, "eth0", "xdp_pass")  # xdpfwd redirects into src
    else:
        t.attach(t.a, "lan0", "xdp_pass")    # NAPI for the generator's XDP frames
    for site, g in (("A", t.a), ("B", t.b)):
        ino = g("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
        ids = []
        for p in ("xdp_esp_in", "tc_esp_out", "xdp_lan") + \
                (("tc_eng_back", "tc_eng_fallback", "xdp_eng_wrk") if engine else ()):
            j = json.loads(g("bpftool", "-j", "prog", "show", "pinned",
                             f"{BPFFS}/net-{ino}/prog_{p}").stdout)
            ids.append((g, j["id"], p))
        t.site_progs[site] = ids


# make bench runs bookworm-backports' wireguard-go, pinned (WG_GO, WG_GO_VERSION);
# run by hand (or --smoke in make check), the one on PATH.
WG_GO = os.environ.get("WG_GO", "wireguard-go")


def wg_go_version():
    pinned = os.environ.get("WG_GO_VERSION")
    if pinned and WG_GO != "wireguard-go":
        return f"{pinned} (bookworm-backports)"
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "wireguard-go"],
                       capture_output=True, text=True)
    return f"{r.stdout.strip() or 'unknown'} (on PATH)"


def case_wireguard(t):
    """wireguard-go (user space, TUN), with wg(8): bookworm-backports' under make bench."""
    keys = {}
    for site in ("A", "B"):
        priv = sh("wg", "genkey").stdout.strip()
        keys[site] = (priv, sh("wg", "pubkey", input=priv).stdout.strip())
    tmp = t.tmpdir()
    for site, g, peer_site, peer_ul, far in (("A", t.a, "B", UL_B, NET_SINK),
                                              ("B", t.b, "A", UL_A, NET_SRC)):
        p = t.spawn(g, [WG_GO, "wg0"], private_run=True,
                    env={"WG_PROCESS_FOREGROUND": "1", "LOG_LEVEL": "error"},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        key = os.path.join(tmp, site)
        with open(key, "w") as f:
            f.write(keys[site][0])
        wait_private(p, ["wg", "show", "wg0"], "wireguard-go's wg0")
        in_private(p.pid, ["wg", "set", "wg0", "private-key", key, "listen-port", "51820",
                           "peer", keys[peer_site][1], "endpoint", f"{peer_ul}:51820",
                           "allowed-ips", far])
        g("ip", "link", "set", "wg0", "up")
        g("ip", "route", "add", far, "dev", "wg0")
        t.site_pids[site] = p.pid
    t.attach(t.a, "lan0", "xdp_pass")


# openssl first: the first plugin to offer an algorithm provides it, and
# OpenSSL's AES-GCM and ChaCha20-Poly1305 use the CPU's vector units
# (strongSwan's own aes and gcm plugins are plain C, ten times slower).
CHARON_PLUGINS = ["random", "nonce", "openssl", "aes", "sha1", "sha2", "hmac", "gcm", "chapoly",
                  "curve25519", "kdf", "pem", "pkcs1", "x509", "pubkey", "kernel-libipsec",
                  "kernel-netlink", "socket-default", "vici"]

CHARON_CONF = """
charon {{
  load = {plugins}
  install_virtual_ip = no
  filelog {{
    log {{
      path = {log}
      default = 1
    }}
  }}
}}
"""

SWANCTL_CONF = """
connections {{
  bench {{
    version = 2
    local_addrs = {ul}
    remote_addrs = {peer_ul}
    encap = yes
    proposals = aes128gcm16-prfsha256-x25519
    local {{
      auth = psk
      id = {me}
    }}
    remote {{
      auth = psk
      id = {peer}
    }}
    children {{
      net {{
        local_ts = {near}
        remote_ts = {far}
        esp_proposals = {esp}
        mode = tunnel
      }}
    }}
  }}
}}
secrets {{
  ike-bench {{
    id-a = a.bench
    id-b = b.bench
    secret = {psk}
  }}
}}
"""


def case_strongswan(t, esp):
    """strongSwan's charon with kernel-libipsec: ESP in user space over TUN, in UDP 4500."""
    tmp = t.tmpdir()
    psk = "0s" + os.urandom(24).hex()
    pids = {}
    for site, g, ul, peer_ul, me, peer, near, far in (
            ("A", t.a, UL_A, UL_B, "a.bench", "b.bench", NET_SRC, NET_SINK),
            ("B", t.b, UL_B, UL_A, "b.bench", "a.bench", NET_SINK, NET_SRC)):
        conf = os.path.join(tmp, f"strongswan-{site}.conf")
        with open(conf, "w") as f:
            f.write(CHARON_CONF.format(log=os.path.join(tmp, f"charon-{site}.log"),
                                       plugins=" ".join(CHARON_PLUGINS)))
        with open(os.path.join(tmp, f"swanctl-{site}.conf"), "w") as f:
            f.write(SWANCTL_CONF.format(ul=ul, peer_ul=peer_ul, me=me, peer=peer, near=near,
                                        far=far, esp=esp, psk=psk))
        p = t.spawn(g, ["/usr/lib/ipsec/charon"], private_run=True,
                    env={"STRONGSWAN_CONF": conf}, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
        pids[site] = p.pid
        wait_private(p, ["test", "-S", "/run/charon.vici"], f"charon ({site}; logs in {tmp})")
        in_private(p.pid, ["swanctl", "--load-all", "--noprompt", "--file",
                           os.path.join(tmp, f"swanctl-{site}.conf")])
        t.site_pids[site] = p.pid
    in_private(pids["A"], ["swanctl", "--initiate", "--child", "net", "--timeout", "10"])
    t.attach(t.a, "lan0", "xdp_pass")


CASES = {
    "plain": case_plain,
    "plain-offload": case_plain_offload,
    "xdp-fwd": case_xdp_fwd,
    **{f"ipsecif-{s}": (lambda t, s=s: ipsecif(t, s, False)) for s in SUITES},
    **{f"ipsecif-{s}-xdp": (lambda t, s=s: ipsecif(t, s, True)) for s in SUITES},
    **{f"ipsecif-{s}-engine": (lambda t, s=s: ipsecif(t, s, False, True)) for s in SUITES},
    "ipsecif-chacha-xdp-engine": lambda t: ipsecif(t, "chacha", True, True),
    "wireguard-go": case_wireguard,
    "strongswan-chacha": lambda t: case_strongswan(t, "chacha20poly1305"),
    "strongswan-gcm": lambda t: case_strongswan(t, "aes128gcm16"),
}

# One core against two: these cases again, on two-queue veths.
SCALING = ["plain", "ipsecif-chacha", "ipsecif-chacha-xdp"]


# -- measurements --

def cost_start(t):
    return {"busy": cpu_busy(),
            "bpf": {s: [prog_runtime(ns, i) for ns, i, _ in v]
                    for s, v in t.site_progs.items()},
            "proc": {s: proc_cpu(p) for s, p in t.site_pids.items()}}


def cost_end(t, c0, units):
    """
    CPU seconds per unit: the machine's ("machine"), each site's BPF
    programs ("site A bpf", and each program: "prog A xdp_lan") and
    processes ("site A proc").
    """
    out = {"machine": (cpu_busy() - c0["busy"]) / units}
    for s, v in t.site_progs.items():
        runs = [prog_runtime(ns, i) - r0 for (ns, i, _), r0 in zip(v, c0["bpf"][s])]
        out[f"site {s} bpf"] = sum(runs) / 1e9 / units
        for (_, _, name), r in zip(v, runs):
            out[f"prog {s} {name}"] = r / 1e9 / units
    for s, p in t.site_pids.items():
        out[f"site {s} proc"] = (proc_cpu(p) - c0["proc"][s]) / units
    return out


def measure_pps(t, seconds, threads=None, cpus=None, perf=None, gen_bin=GEN):
    """
    Packets per second at the sink, ns per packet (cost), and how idle the
    CPUs were: the generator's own ("gen", {cpu: fraction}, over its whole
    run) and each CPU's over the measured window ("cpus").
    """
    gen = [gen_bin, "-t", str(threads or 1), "eth0", mac(t.a, "lan0"), SRC, SINK]
    if cpus:
        gen = ["taskset", "-c", cpus] + gen
    p = t.spawn(t.src, gen, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = ""
    try:
        wait_for(lambda: t.sink_count() > 0 or p.poll() is not None, "the first packets at sink")
        if p.poll() is not None:
            raise RuntimeError(p.stderr.read().strip())
        time.sleep(min(0.5, seconds / 2))     # past the neighbour resolution
        c0, n0, t0 = cost_start(t), t.sink_count(), time.time()
        idle0 = cpu_times()
        if perf:
            # Software clock samples of every CPU (no PMU in most VMs); JITed
            # BPF programs show as bpf_prog_TAG_NAME.
            sh("perf", "record", "-q", "-a", "-e", "cpu-clock", "-F", "1999", "-o", perf,
               "--", "sleep", str(seconds))
        else:
            time.sleep(seconds)
        n1, t1 = t.sink_count(), time.time()
        cpus_idle = idle_since(idle0)
        cost = cost_end(t, c0, max(n1 - n0, 1))
    finally:
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=10)[0]
    idle = {"gen": gen_report(out), "cpus": cpus_idle}
    return (n1 - n0) / (t1 - t0), {k: v * 1e9 for k, v in cost.items()}, idle  # ns per packet


def iperf(t, seconds, udp=False, flows=1, clients=1, cpus=None, payload=None, rate="0"):
    """Gbit/s received, and CPU s per GB; seconds 0: a smoke run of a few MB.  payload:
    UDP's datagram size (UDP_PAYLOAD if None), rate its bit rate (0: as fast as it goes)."""
    servers, clis = [], []
    for i in range(clients):
        srv = ["iperf3", "-s", "-1", "-p", str(PORT + i)]
        if cpus:
            srv = ["taskset", "-c", cpus[i % len(cpus)]] + srv
        servers.append(t.spawn(t.sink, srv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_for(lambda: all(f":{PORT + i} " in t.sink("ss", "-ltn").stdout for i in range(clients)),
             "iperf3 servers")
    c0 = cost_start(t)
    for i in range(clients):
        cmd = ["iperf3", "-c", SINK, "-p", str(PORT + i), "-J", "-P", str(flows)]
        cmd += ["-t", str(seconds)] if seconds else ["-n", "1M" if udp else "4M"]
        if udp:
            # A smoke run's megabyte unpaced leaves in 3 ms, and iperf3's end of test
            # (its TCP connection, small packets: BPF's path) overtakes what the engine
            # still holds: the receiver counts a few datagrams.  Paced, it counts them all.
            cmd += ["-u", "-b", rate if seconds or rate != "0" else "200M",
                    "-l", str(payload or UDP_PAYLOAD), "-w", str(udp_rcvbuf())]
        if cpus:
            cmd = ["taskset", "-c", cpus[i % len(cpus)]] + cmd
        clis.append(t.spawn(t.src, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True))
    udp0 = udp_counts(t.sink) if udp else None
    bps = nbytes = 0
    secs, done = [], []
    for c in clis:
        out, err = c.communicate(timeout=seconds + 60)
        j = json.loads(out) if out.strip().startswith("{") else {"error": err}
        if "error" in j:
            raise RuntimeError(f"iperf3: {j['error']}")
        done.append(j)
        bps += j["end"]["sum_received"]["bits_per_second"]
        nbytes += j["end"]["sum_received"]["bytes"]
        secs.append(j["end"]["sum_received"]["seconds"])
    for s in servers:
        s.wait(timeout=10)
    gb = max(nbytes / 1e9, 1e-9)
    cost = cost_end(t, c0, gb)
    if not udp:
        return bps / 1e9, cost                              # Gbit/s, CPU s per GB
    sent = sum(j["end"]["sum_sent"]["bytes"] for j in done)
    # What reached the receiver's UDP layer, and what its socket then
    # dropped for want of room (the receiver short of CPU): on one machine
    # the receiver shares the CPUs with both gateways, so goodput can be
    # its figure rather than the tunnel's.
    got, dropped = (b - a for a, b in zip(udp0, udp_counts(t.sink)))
    sock = {"reached": got + dropped, "dropped": dropped,
            "drop": dropped / max(got + dropped, 1),
            "gbps": (got + dropped) * (payload or UDP_PAYLOAD) * 8 / max(max(secs), 1e-3) / 1e9}
    return bps / 1e9, cost, {"sock": sock, "loss": 1 - nbytes / max(sent, 1)}


def udp_paced(t, seconds, start):
    """UDP goodput with the sender paced, RFC 2544 §26.1's way (the rate the
    path carries, not what an unpaced sender leaves of it): up to
    UDP_PACED_STEPS offered rates, the first start Gbit/s (what reached the
    receiver unpaced), each next 20 % higher while less than UDP_PACED_LOSS
    was lost, 15 % lower when more was.  Unpaced, on one machine, the
    sender's datagrams that a full ring or socket drops later took CPU from
    the gateways and the receiver; paced, each rate is offered no faster.
    The best goodput, and each offered rate with its goodput and loss."""
    tries, rate = [], max(start, 0.05)
    for _ in range(UDP_PACED_STEPS if seconds else 1):
        got, cost, more = iperf(t, seconds, udp=True, rate=f"{rate * 1000:.0f}M")
        tries.append({"offered": rate, "gbps": got, "loss": more["loss"]})
        rate *= 1.2 if more["loss"] < UDP_PACED_LOSS else 0.85
    return max(x["gbps"] for x in tries), cost, {"paced": tries}


def udp_rcvbuf():
    """The UDP socket buffer the runs ask for: UDP_RCVBUF, or net.core.rmem_max if lower."""
    with open("/proc/sys/net/core/rmem_max") as f:
        return min(UDP_RCVBUF, int(f.read()))


def udp_counts(ns):
    """The namespace's UDP datagrams delivered to sockets, and dropped at full ones."""
    rows = [line.split() for line in ns("cat", "/proc/net/snmp").stdout.splitlines()
            if line.startswith("Udp:")]
    udp = dict(zip(rows[0][1:], map(int, rows[1][1:])))
    return udp["InDatagrams"], udp["RcvbufErrors"]


def mac(ns, dev):
    return ns("cat", f"/sys/class/net/{dev}/address").stdout.strip()


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def run_case(name, setup, progs, args, queues=1, scaling=None):
    """Every metric of one case, args.reps times each; None where it failed."""
    res = {"metrics": {}, "cost": {}, "errors": [], "warnings": [],
           "idle": {"gen": [], "cpus": []}, "udp_socket": []}
    try:
        t = Topo(progs, queues)
    except Exception as e:                  # noqa: BLE001 -- recorded, the run goes on
        res["errors"].append(f"topology: {e}")
        return res
    try:
        setup(t)
        # A first packet each way: neighbours resolved, SAs negotiated.
        wait_for(lambda: t.src("ping", "-c", "1", "-W", "1", SINK, check=False).returncode == 0,
                 "a ping across", timeout=20)
        perf = os.path.join(os.path.dirname(args.json), f"perf-{name}.data") \
            if name in args.perf.split(",") and not scaling else None
        # Each: (metric, function(profile?), is a cost measured).
        if scaling == "1core":
            plan = [("pps", lambda p: measure_pps(t, args.pps_seconds, 1, "0",
                                                  gen_bin=args.gen), True),
                    ("tcp", lambda p: iperf(t, args.seconds, flows=2, clients=2,
                                            cpus=["0", "0"]), True)]
        elif scaling == "2core":
            plan = [("pps", lambda p: measure_pps(t, args.pps_seconds, 2, gen_bin=args.gen),
                     True),
                    ("tcp", lambda p: iperf(t, args.seconds, flows=2, clients=2,
                                            cpus=["0", "1"]), True)]
        else:
            plan = [("pps", lambda p: measure_pps(t, args.pps_seconds, perf=p and perf,
                                                  gen_bin=args.gen), True),
                    ("tcp", lambda p: iperf(t, args.seconds), True),
                    ("udp", lambda p: iperf(t, args.seconds, udp=True), False),
                    ("udp-paced", lambda p: udp_paced(t, args.seconds, paced_start(res)),
                     False)]
        plan = [x for x in plan if not args.metrics or x[0] in args.metrics.split(",")]
        for metric, fn, costed in plan:
            vals, cost = [], None
            # The smoke run's one run gives both; otherwise the costs come
            # from one more run, with BPF statistics on.
            for i in range(args.reps + (costed and not args.smoke)):
                try:
                    with bpf_stats(args.smoke or i == args.reps):
                        v, c, *more = fn(i == 0)
                    if i < args.reps:
                        vals.append(v)
                        if more and "gen" in more[0]:
                            note_idle(res, name, i, more[0])
                        if more and "sock" in more[0]:
                            note_sock(res, name, i, more[0]["sock"])
                        if more and "paced" in more[0]:
                            res.setdefault("udp_paced", []).append(more[0]["paced"])
                    if args.smoke or i == args.reps:
                        cost = c
                except Exception as e:     # noqa: BLE001 -- recorded, the run goes on
                    res["errors"].append(f"{metric}: {e}")
            res["metrics"][metric] = summary(vals)
            if cost and costed:
                res["cost"][metric] = cost
    except Exception as e:                  # noqa: BLE001
        res["errors"].append(f"setup: {e}")
    finally:
        t.close()
    return res


def paced_start(res):
    """The paced UDP runs' first rate: the median of what reached the receiver unpaced."""
    v = [x["gbps"] for x in res["udp_socket"]]
    return statistics.median(v) if v else 0.2


def paced_fmt(r):
    """The best paced UDP goodput, Gbit/s, with the rate offered and the loss at it."""
    best = [max(tries, key=lambda x: x["gbps"]) for tries in r.get("udp_paced", [])]
    if not best:
        return "-"
    b = sorted(best, key=lambda x: x["gbps"])[(len(best) - 1) // 2]
    return f"{b['gbps']:.2f} (at {b['offered']:.2f}, {b['loss']:.0%} lost)"


def note_idle(res, name, i, idle):
    """Record a pps run's idle fractions; warn when the generator's CPU idled."""
    gen = max(idle["gen"].values()) if idle["gen"] else None
    res["idle"]["gen"].append(gen)
    res["idle"]["cpus"].append(idle["cpus"])
    if gen is not None and gen > GEN_IDLE_WARN:
        w = (f"pps run {i + 1}: the generator's CPU was idle {gen:.0%} of the time: "
             "the figure is the generator's duty cycle, not the path's")
        res["warnings"].append(w)
        log(f"bench: {name}: warning: {w}")


def note_sock(res, name, i, sock):
    """Record a UDP run's datagrams at the receiver; warn when its socket dropped many."""
    res["udp_socket"].append(sock)
    if sock["drop"] > SOCK_DROP_WARN:
        w = (f"udp run {i + 1}: the receiving socket dropped {sock['drop']:.0%} of the "
             f"{sock['reached']} datagrams that reached it ({sock['gbps']:.2f} Gbit/s): the "
             "receiver was short of CPU, the goodput is its figure, not the path's")
        res["warnings"].append(w)
        log(f"bench: {name}: warning: {w}")


def sock_fmt(r):
    """What reached the receiver's UDP layer, Gbit/s, and the share its socket dropped."""
    v = r.get("udp_socket", [])
    if not v:
        return "-"
    return (f"{statistics.median(x['gbps'] for x in v):.2f} "
            f"({max(x['drop'] for x in v):.0%} dropped)")


def idle_fmt(r):
    """The generator CPU's highest idle fraction over a case's pps runs, flagged when high."""
    v = [x for x in r.get("idle", {}).get("gen", []) if x is not None]
    if not v:
        return "-"
    return f"{max(v):.1%}" + (" (!)" if max(v) > GEN_IDLE_WARN else "")


# -- targets, output --

def median(res, case, metric):
    m = res.get(case, {}).get("metrics", {}).get(metric)
    return m["median"] if m else None


TARGETS = [
    ("ipsecif ChaCha20-Poly1305 TCP >= 5 x wireguard-go", "ipsecif-chacha", "wireguard-go",
     "tcp", 5.0),
    ("ipsecif ChaCha20-Poly1305 TCP >= 4 x strongSwan kernel-libipsec", "ipsecif-chacha",
     "strongswan-chacha", "tcp", 4.0),
    ("ipsecif ChaCha20-Poly1305 TCP >= 0.4 x plain routing, offloads off", "ipsecif-chacha",
     "plain", "tcp", 0.4),
    ("XDP line-rate path 64-byte pps >= 0.5 x no-crypto XDP forward", "ipsecif-chacha-xdp",
     "xdp-fwd", "pps", 0.5),
    # The engine (#17): ratios within one run.
    ("engine: ChaCha20-Poly1305 TCP >= 2.5 x wireguard-go", "ipsecif-chacha-engine",
     "wireguard-go", "tcp", 2.5),
    ("engine: ChaCha20-Poly1305 TCP >= 0.6 x plain routing", "ipsecif-chacha-engine",
     "plain", "tcp", 0.6),
    ("engine: AES-GCM-128 TCP >= 3 x in BPF", "ipsecif-gcm-engine", "ipsecif-gcm", "tcp", 3.0),
    ("engine: AES-GCM-128 UDP 1400 B >= 0.6 x plain routing", "ipsecif-gcm-engine", "plain",
     "udp", 0.6),
    ("engine: AES-GCM-128 UDP 1400 B, senders paced, >= 0.6 x plain routing paced",
     "ipsecif-gcm-engine", "plain", "udp-paced", 0.6),
    ("engine: 64-byte pps >= 0.95 x without (the crossover sends them to BPF)",
     "ipsecif-chacha-engine", "ipsecif-chacha", "pps", 0.95),
    ("two cores >= 1.7 x one core, ipsecif, 4 TCP flows", "ipsecif-chacha-2core",
     "ipsecif-chacha-1core", "tcp", 1.7),
    ("two cores >= 1.7 x one core, XDP line-rate path, 64-byte pps", "ipsecif-chacha-xdp-2core",
     "ipsecif-chacha-xdp-1core", "pps", 1.7),
]


def targets(res):
    out = []
    for what, a, b, metric, want in TARGETS:
        x, y = median(res, a, metric), median(res, b, metric)
        ratio = x / y if x and y else None
        out.append({"target": what, "ratio": ratio, "want": want,
                    "met": None if ratio is None else ratio >= want})
    return out


def fmt(m, scale=1.0, digits=2):
    if not m:
        return "-"
    return f"{m['median'] * scale:.{digits}f} ({m['min'] * scale:.{digits}f}-{m['max'] * scale:.{digits}f})"


def table(res, tg):
    lines = [f"{'case':26} {'64B Mpps':>20} {'gen idle':>9} {'TCP Gbit/s':>20} "
             f"{'UDP 1400B Gbit/s':>20} {'UDP paced':>26}  CPU ns/pkt (64B), per site"]
    for case, r in res.items():
        m = r["metrics"]
        cost = r["cost"].get("pps", {})
        sites = ", ".join(f"{k.replace('site ', '')} {v:.0f}" for k, v in cost.items()
                          if k.startswith("site "))
        lines.append(f"{case:26} {fmt(m.get('pps'), 1e-6, 3):>20} {idle_fmt(r):>9} "
                     f"{fmt(m.get('tcp')):>20} {fmt(m.get('udp')):>20} {paced_fmt(r):>26}  "
                     f"{sites}")
        for e in r["errors"]:
            lines.append(f"{'':26} error: {e}")
        for w in r.get("warnings", []):
            lines.append(f"{'':26} warning: {w}")
    lines.append("")
    for x in tg:
        state = "n/a" if x["met"] is None else ("met" if x["met"] else "NOT met")
        ratio = "-" if x["ratio"] is None else f"{x['ratio']:.2f}"
        lines.append(f"{x['target']}: {ratio} ({state})")
    return "\n".join(lines)


def markdown(out):
    """The figures as docs/BENCHMARKS.md tabulates them (build/bench/bench.md)."""
    m, res = out["machine"], out["cases"]
    lines = [f"Run of {out['started']}: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
             f"load average {out['load_before'][0]:.2f} before, {m['load'][0]:.2f} at the end; "
             f"--reps {out['params']['reps']}, "
             f"--seconds {out['params']['seconds']}, --pps-seconds {out['params']['pps_seconds']}, "
             f"UDP socket buffers {out['params']['udp_rcvbuf'] >> 10} KiB"
             f"{' (smoke)' if out['params']['smoke'] else ''}; wireguard-go "
             f"{m.get('wireguard_go', 'unknown')}.", "",
             "| case | 64-byte Mpps | generator CPU idle | TCP Gbit/s | UDP 1400 B Gbit/s | "
             "UDP at the receiver's socket | UDP paced: best (offered, lost) | "
             "site A, B: ns/packet (64 B) | site A, B: CPU s/GB (TCP) | machine: CPU s/GB (TCP) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case, r in res.items():
        me = r["metrics"]
        pps, tcp = r["cost"].get("pps", {}), r["cost"].get("tcp", {})
        site = lambda c, f: ", ".join(f.format(v) for k, v in c.items() if k.startswith("site "))
        lines.append(f"| `{case}` | {fmt(me.get('pps'), 1e-6, 3)} | {idle_fmt(r)} | "
                     f"{fmt(me.get('tcp'))} | "
                     f"{fmt(me.get('udp'))} | {sock_fmt(r)} | {paced_fmt(r)} | {site(pps, '{:.0f}') or '-'} | "
                     f"{site(tcp, '{:.2f}') or '-'} | "
                     f"{'%.2f' % tcp['machine'] if 'machine' in tcp else '-'} |")
    lines += ["", "| target | ratio | met |", "|---|---:|---|"]
    for x in out["targets"]:
        lines.append(f"| {x['target']} | {'-' if x['ratio'] is None else '%.2f' % x['ratio']} | "
                     f"{'-' if x['met'] is None else ('yes' if x['met'] else 'no')} |")
    return "\n".join(lines) + "\n"


def chart(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = list(res)
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.35 * len(cases) + 2), sharey=True)
    for ax, metric, scale, label in ((axes[0], "tcp", 1, "TCP Gbit/s (UDP 1400 B: hatched)"),
                                     (axes[1], "pps", 1e-6, "64-byte Mpps")):
        y = range(len(cases))
        for off, met, hatch in ((0.2, metric, None), (-0.2, "udp" if metric == "tcp" else None, "//")):
            if not met:
                continue
            vals = [(res[c]["metrics"].get(met) or {}).get("median", 0) * scale for c in cases]
            lo = [v - (res[c]["metrics"].get(met) or {}).get("min", 0) * scale
                  for c, v in zip(cases, vals)]
            hi = [(res[c]["metrics"].get(met) or {}).get("max", 0) * scale - v
                  for c, v in zip(cases, vals)]
            ax.barh([i + off for i in y], vals, height=0.4, xerr=[lo, hi], hatch=hatch,
                    color="#4c72b0" if hatch is None else "#dd8452")
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(cases)))
    axes[0].set_yticklabels(cases)
    axes[0].invert_yaxis()
    fig.suptitle("ipsecif and alternatives, one machine, one run (median, min-max)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)   # run without make bench
    fig.savefig(path, dpi=100)


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
            "load": os.getloadavg(), "wireguard_go": wg_go_version()}


def bench_progs():
    """The agents' bpffs mounted where an agent would mount it (and leave it), here, so
    that every later "ip netns exec" sees the same one (each exec has a mount namespace
    of its own: an agent's own mount is its alone); this run's programs (BENCH_OBJ)
    loaded into a folder of it, PROGS/p and PROGS/m: PROGS."""
    os.makedirs(BPFFS, exist_ok=True)
    if sh("stat", "-f", "-c", "%T", BPFFS).stdout.strip() != "bpf_fs":
        sh("mount", "-t", "bpf", "bpf", BPFFS)
    progs = f"{BPFFS}/bench-{os.urandom(4).hex()}"
    os.makedirs(progs)
    try:
        sh("bpftool", "prog", "loadall", BENCH_OBJ, f"{progs}/p", "pinmaps", f"{progs}/m",
           "type", "xdp")
    except BaseException:
        shutil.rmtree(progs, ignore_errors=True)
        raise
    return progs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="per TCP or UDP run")
    ap.add_argument("--pps-seconds", type=float, default=5)
    ap.add_argument("--cases", default="", help="comma-separated names (default: all)")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--metrics", default="", metavar="LIST",
                    help=f"comma-separated: of {', '.join(METRICS)} (default: all)")
    ap.add_argument("--smoke", action="store_true", help="one short run of each case")
    ap.add_argument("--perf", default="", metavar="CASES",
                    help="profile these cases' 64-byte runs: build/bench/perf-CASE.{data,txt}")
    ap.add_argument("--gen", default=GEN, metavar="PATH",
                    help="the 64-byte generator (default build/bench_gen)")
    ap.add_argument("--json", default=os.path.join(BUILD, "bench", "bench.json"))
    ap.add_argument("--png", default=os.path.join(BUILD, "bench", "bench.png"))
    args = ap.parse_args()
    if args.smoke:
        args.reps, args.seconds, args.pps_seconds = 1, 0, 0.3
    names = [c for c in args.cases.split(",") if c] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown cases: {', '.join(unknown)} (known: {', '.join(CASES)})")
    bad = set(filter(None, args.metrics.split(","))) - set(METRICS)
    if bad:
        ap.error(f"unknown metrics: {', '.join(sorted(bad))} (known: {', '.join(METRICS)})")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    if udp_rcvbuf() < UDP_RCVBUF:
        log(f"bench: warning: net.core.rmem_max is {udp_rcvbuf()}: the UDP receivers' "
            f"socket buffers are that, not {UDP_RCVBUF} (their drops count as loss)")

    progs = bench_progs()
    res = {}
    started, load_before = time.time(), os.getloadavg()
    try:
        runs = [(n, n, 1, None) for n in names]
        if not args.no_scaling:
            runs = [r for n in names for r in [(n, n, 1, None)] + (
                [(f"{n}-{sc}", n, 2, sc) for sc in ("1core", "2core")] if n in SCALING else [])]
        for label, name, queues, sc in runs:
            t0 = time.time()
            res[label] = run_case(name, CASES[name], progs, args, queues, sc)
            log(f"bench: {label} ({time.time() - t0:.1f} s)")
    finally:
        shutil.rmtree(progs, ignore_errors=True)
    for name in filter(None, args.perf.split(",")):
        data = os.path.join(os.path.dirname(args.json), f"perf-{name}.data")
        if os.path.exists(data):
            # Who ran (the machine's other load included), then the symbols
            # of the contexts that carry the packets: the generator's (softirqs
            # on its way out of the kernel), ksoftirqd, the user-space VPNs.
            rep = sh("perf", "report", "-i", data, "--stdio", "--sort", "comm",
                     "--percent-limit", "1", check=False).stdout
            rep += sh("perf", "report", "-i", data, "--stdio", "--sort", "sym", "--comm",
                      "bench_gen,ksoftirqd/0,ksoftirqd/1,wireguard-go,charon",
                      "--percentage", "relative", "--percent-limit", "0.5", check=False).stdout
            with open(data[:-5] + ".txt", "w") as f:
                f.write(rep)
    tg = targets(res)
    out = {"machine": machine(), "load_before": load_before, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                          time.gmtime(started)),
           "seconds": time.time() - started,
           "params": {"reps": args.reps, "seconds": args.seconds,
                      "pps_seconds": args.pps_seconds, "smoke": args.smoke, "gen": args.gen,
                      "lan_mtu": LAN_MTU, "udp_payload": UDP_PAYLOAD,
                      "udp_rcvbuf": udp_rcvbuf()},
           "cases": res, "targets": tg}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.splitext(args.json)[0] + ".md", "w") as f:
        f.write(markdown(out))
    print(table(res, tg))
    try:
        chart(res, args.png)
        log(f"bench: {args.json} (and .md), {args.png}")
    except ImportError as e:
        log(f"bench: no chart ({e}); {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
