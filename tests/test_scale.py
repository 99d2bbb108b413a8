# SPDX-License-Identifier: GPL-2.0-only
"""
The cost of one more interface does not grow with the interfaces there
are: 512 of them set up the way a script would (scripts/bench_scale.py
does the same to 4,096), and the 512th costs no more than 3 times the 10th.

    ul0 10.0.0.1/16 (a veth, its far end nowhere)
    ipsecN  reqid N+1, tunnel 10.0.0.1 -> 10.1.x.y, 100.64.x.y/32 -> peer, an SA pair

Each interface takes four commands: create with a reqid, the tunnel, the
inner addresses, and setkey -c adding its SA pair.  Those around #10 and
#512 are timed inside the namespace (no "ip netns exec" in the figure) and
the medians compared: a ratio within one run, robust to a busy machine.
The ones between are made by two shells at once, untimed.
"""
import json
import os
import statistics
import subprocess
import tempfile

from agents import CTL, agent_pids, agent_sites, bpf_calls, ctl, setkey
from netns import sh

N = int(os.environ.get("IPSECIF_SCALE_N", 512))   # another: to try old builds briefly
SAMPLES = 9          # interfaces timed around #10 and around #N
RATIO = 3.0

# Inside the namespace: each interface's four commands timed, one line of ms each.
TIMER = r"""
import subprocess, sys, time
ctl = sys.argv[1]
for n in map(int, sys.argv[2:]):
    cmds = [l.split("\t") for l in sys.stdin.readline().rstrip("\n").split("\x1e")]
    t = time.monotonic()
    for c in cmds:
        inp = c[-1].replace("\x1f", "\n") if c[0] == "setkey" else None
        argv = [ctl] + (c[:-1] if c[0] == "setkey" else c)
        r = subprocess.run(argv, input=inp, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{argv}: {r.stderr}")
    print((time.monotonic() - t) * 1000, flush=True)
"""


def far(n):
    return f"10.1.{n >> 8}.{n & 255}"


def inner(n):
    v = (100 << 24) | (64 << 16) | (n * 4)
    q = lambda x: ".".join(str(x >> s & 255) for s in (24, 16, 8, 0))
    return q(v + 1), q(v + 2)


def pair(n):
    r, key = n + 1, lambda spi: "0x" + f"{spi:08x}" * 5
    return "".join(f"add {s} {d} esp {spi} -m tunnel -u {r} -E aes-gcm-16 {key(spi)};\n"
                   for s, d, spi in (("10.0.0.1", far(n), 0x10000 + n),
                                     (far(n), "10.0.0.1", 0x20000 + n)))


def commands(n):
    """Interface n's four commands: argument lists, setkey's with its script last."""
    me, peer = inner(n)
    return [[f"ipsec{n}", "create", "reqid", str(n + 1)],
            [f"ipsec{n}", "inet", "tunnel", "10.0.0.1", far(n)],
            [f"ipsec{n}", "inet", f"{me}/32", peer],
            ["setkey", "-c", pair(n)]]


def timed(ns, first, count):
    """Interfaces first..first+count-1, each timed inside ns: ms each."""
    lines = "".join("\x1e".join("\t".join(c).replace("\n", "\x1f") for c in commands(n)) + "\n"
                    for n in range(first, first + count))
    r = subprocess.run(["ip", "netns", "exec", ns.name, "/usr/bin/python3", "-c", TIMER, CTL]
                       + [str(n) for n in range(first, first + count)],
                       input=lines, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [float(x) for x in r.stdout.split()]


def untimed(ns, ranges):
    """Interfaces of each range through a shell of its own, all shells at once."""
    files, procs = [], []
    try:
        for lo, hi in ranges:
            f = tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False)
            f.write("set -e\n")
            for n in range(lo, hi):
                for c in commands(n)[:3]:
                    f.write(f"{CTL} {' '.join(c)}\n")
                f.write(f"{CTL} setkey -c <<'EOF'\n{pair(n)}EOF\n")
            f.close()
            files.append(f.name)
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns.name, "sh", f.name],
                                          stderr=subprocess.PIPE, text=True))
        for p in procs:
            assert p.wait(timeout=600) == 0, p.stderr.read()
    finally:
        for name in files:
            os.unlink(name)


def test_512th_interface_costs_as_the_10th(host_bpffs):
    with agent_sites(1) as (a,):
        sh("ip", "link", "add", "ul0", "type", "veth", "peer", "ul1", ns=a.name)
        sh("ip", "addr", "add", "10.0.0.1/16", "dev", "ul0", ns=a.name)
        for d in ("ul0", "ul1"):
            sh("ip", "link", "set", d, "up", ns=a.name)
        lo = 10 - 1 - SAMPLES // 2             # #6..#14: around the 10th
        hi = N - SAMPLES                       # #504..#512
        untimed(a, [(0, lo)])
        early = timed(a, lo, SAMPLES)
        mid = lo + SAMPLES
        half = (mid + hi) // 2
        untimed(a, [(mid, half), (half, hi)])
        late = timed(a, hi, SAMPLES)
        st = json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]
        assert len(st) == 2 * N and {s["state"] for s in st} == {"active"}
        ratio = statistics.median(late) / statistics.median(early)
        print(f"ms per interface: #10 {statistics.median(early):.1f}, "
              f"#{N} {statistics.median(late):.1f}; ratio {ratio:.2f}")
        assert ratio <= RATIO, (early, late)


def setkey_c(ns, script):
    r = setkey(ns, script)
    assert r.returncode == 0, r.stderr


def test_deleting_a_reqids_sas_costs_each_the_same(host_bpffs):
    """One reqid's SAs deleted one by one: each delete touches the maps for its own
    SA, and the script syncs the reqid once at its end.  Each used to sync the whole
    reqid again: N² map calls (1,000 inbound SAs, 8.75 s)."""
    n = 300
    with agent_sites(1) as (a,):
        sh("ip", "link", "add", "ul0", "type", "veth", "peer", "ul1", ns=a.name)
        sh("ip", "addr", "add", "10.0.0.1/16", "dev", "ul0", ns=a.name)
        for d in ("ul0", "ul1"):
            sh("ip", "link", "set", d, "up", ns=a.name)
        for c in commands(0)[:3]:
            ctl(a, *c)
        spis = range(0x30000, 0x30000 + n)
        add = "".join(f"add {far(0)} 10.0.0.1 esp {spi} -m tunnel -u 1 -E aes-gcm-16 "
                      f"0x{spi:08x}{'11' * 16};\n" for spi in spis)
        setkey_c(a, add)
        st = json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]
        assert len(st) == n and {s["state"] for s in st} == {"active"}
        (pid,) = agent_pids(a)
        script = "".join(f"delete {far(0)} 10.0.0.1 esp {spi};\n" for spi in spis)
        calls = bpf_calls(lambda: setkey_c(a, script), pid)
        print(f"bpf(2) calls deleting {n} SAs of one reqid: {calls}, {calls / n:.1f} each")
        assert json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"] == []
        assert calls <= 20 * n, calls
