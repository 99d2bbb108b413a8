#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""
make bench-scale: thousands of tunnels on one agent, set up the way a
script would, one ipsecifctl command per step:

    A: ul0 10.0.0.1/16 ------ veth ------ ul0 10.0.0.2/16 :B
       ipsec0    reqid 1  -> 10.0.0.2            ipsec0 reqid 1 -> 10.0.0.1
       ipsecN    reqid N+1 -> 10.1.x.y (no one)  (the far end of ipsec0 only)

For each interface: "ipsecN create reqid R", "ipsecN inet tunnel SRC DST",
"ipsecN inet ADDR/32 PEER", and "setkey -c" adding its SA pair.  Printed:
ms per interface for the last 64 at each checkpoint; the time of
"ipsecifctl -j" and "ipsecifctl -j setkey -D" at the end; the BPF maps'
memory and the agent's RSS; an agent restart (stop, start: adoption) with
a ping running over ipsec0, whose loss must be 0; and "stop --flush".

    scripts/bench_scale.py [--max 4096] [--checkpoints 64,512,1024,2048,4096]
                           [--json FILE]

With charon keying the tunnels instead (1,000 through the kernel-ipsecif
plugin, one IKE_SA each): scripts/bench_charon.py, make bench-charon, on
the helpers here.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("IPSECIF_BUILD", os.path.join(ROOT, "build"))
AGENT = os.path.join(BUILD, "ipsecif-agent")
CTL = os.path.join(BUILD, "ipsecifctl")
BPFFS = "/run/ipsecif/bpf"
BATCH = 64
SUITE = "aes-gcm-16"


def sh(*args, ns=None, check=True, input=None, timeout=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def far(n):
    """ipsec0's far end is B; the others' are addresses no one has."""
    return "10.0.0.2" if n == 0 else f"10.1.{n >> 8}.{n & 255}"


def inner(n):
    """ipsecN's inner /32 and its peer's, four addresses apart in 100.64/16."""
    v = (100 << 24) | (64 << 16) | (n * 4)
    q = lambda x: ".".join(str(x >> s & 255) for s in (24, 16, 8, 0))
    return q(v + 1), q(v + 2)


def key(spi):
    return "0x" + f"{spi:08x}" * 5


def sa_pair(n, src, dst, reqid, out_spi, in_spi):
    return (f"add {src} {dst} esp {out_spi} -m tunnel -u {reqid} -E {SUITE} {key(out_spi)};\n"
            f"add {dst} {src} esp {in_spi} -m tunnel -u {reqid} -E {SUITE} {key(in_spi)};\n")


def iface_lines(n, reqid, src, dst, me, peer):
    """ipsecN's three commands (reqid, tunnel src -> dst, inner me -> peer), as a shell
    script's lines."""
    return (f"{CTL} ipsec{n} create reqid {reqid}\n"
            f"{CTL} ipsec{n} inet tunnel {src} {dst}\n"
            f"{CTL} ipsec{n} inet {me}/32 {peer}\n")


def iface_script(n):
    """The four commands of interface n, as a shell script's lines."""
    me, peer = inner(n)
    r = n + 1
    return (iface_lines(n, r, "10.0.0.1", far(n), me, peer) +
            f"{CTL} setkey -c <<'EOF'\n"
            + sa_pair(n, "10.0.0.1", far(n), r, 0x10000 + n, 0x20000 + n) + "EOF\n")


def run_script(ns, text):
    """A shell script in ns (a script's way of setting up); seconds taken."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write("set -e\n" + text)
    try:
        t = time.monotonic()
        sh("sh", f.name, ns=ns)
        return time.monotonic() - t
    finally:
        os.unlink(f.name)


def run_batch(ns, lo, hi):
    """Interfaces lo..hi-1 through one shell; seconds taken."""
    return run_script(ns, "".join(iface_script(n) for n in range(lo, hi)))


def own_bpffs():
    """
    A bpffs of the benchmark's own where every "ip netns exec" sees it (else a
    restart adopts nothing: each exec has a mount namespace of its own), in a
    mount namespace of its own: another's bpffs mounted or unmounted meanwhile
    changes nothing here, and it goes with the benchmark.  The first call runs
    the script again in there and does not return.
    """
    if os.environ.get("BENCH_SCALE_MNTNS") != "1":
        os.environ["BENCH_SCALE_MNTNS"] = "1"
        os.makedirs(BPFFS, exist_ok=True)
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private", sys.executable]
                  + sys.argv)
    sh("mount", "-t", "bpf", "bpf", BPFFS)


def gateway_names(kind):
    """Names for namespaces A and B, random (another run's stay untouched)."""
    tag = os.urandom(3).hex()
    return f"ipsecif-{kind}-a-{tag}", f"ipsecif-{kind}-b-{tag}"


def gateways(a, b, start=("start",)):
    """Namespaces a (ul0 10.0.0.1/16) and b (10.0.0.2/16) on one veth, an agent in each
    started with the arguments start."""
    for ns in (a, b):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", "ul0", "netns", a, "type", "veth", "peer", "ul0", "netns", b)
    for ns, addr in ((a, "10.0.0.1/16"), (b, "10.0.0.2/16")):
        sh("ip", "addr", "add", addr, "dev", "ul0", ns=ns)
        sh("ip", "link", "set", "ul0", "up", ns=ns)
        sh(AGENT, *start, ns=ns)


def close_gateways(a, b):
    """Both agents stopped with their devices, both namespaces gone (also half made)."""
    for ns in (a, b):
        sh(AGENT, "stop", "--flush", ns=ns, check=False, timeout=600)
        sh("ip", "netns", "del", ns, check=False)


def agent_pid(ns):
    return json.loads(sh(AGENT, "status", "-j", ns=ns).stdout)["pid"]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pin_dir(ns):
    ino = sh("stat", "-L", "-c", "%i", "/proc/self/ns/net", ns=ns).stdout.strip()
    return f"{BPFFS}/net-{ino}"


def map_memory(ns):
    """max_entries and bytes_memlock of each map the agent's programs use."""
    d, out = pin_dir(ns), {}
    if os.environ.get("BENCH_DEBUG"):
        print(d, os.path.exists(d), sh(AGENT, "status", "-j", ns=ns).stdout)
    ids = set()
    for prog in ("prog_tc_esp_out", "prog_xdp_esp_in", "prog_key_install"):
        r = sh("bpftool", "-j", "prog", "show", "pinned", f"{d}/{prog}", check=False)
        if r.returncode == 0:
            ids |= set(json.loads(r.stdout).get("map_ids", []))
    for i in sorted(ids):
        m = json.loads(sh("bpftool", "-j", "map", "show", "id", str(i)).stdout)
        out[m.get("name", str(i))] = (m.get("max_entries", 0), m.get("bytes_memlock", 0))
    return out


def cpu_s(pid):
    """A process's CPU time so far (user and system), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clients_s():
    """CPU time of the waited-for children (the scripts and their ipsecifctl)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn):
    t = time.monotonic()
    v = fn()
    return time.monotonic() - t, v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=int, default=4096)
    ap.add_argument("--checkpoints", default="64,512,1024,2048,4096")
    ap.add_argument("--json")
    ap.add_argument("--no-restart", action="store_true")
    ap.add_argument("--tc-hook", choices=("link", "filter", "block"), default="link",
                    help="ipsecif-agent start --tc-hook: tc_esp_out's hook on the peers")
    args = ap.parse_args()
    start = ("start", "--tc-hook", args.tc_hook)
    points = sorted({int(c) for c in args.checkpoints.split(",") if int(c) <= args.max}
                    | {args.max})
    res = {"interfaces": args.max, "tc_hook": args.tc_hook, "ms_per_iface": {}}
    a, b = gateway_names("scale")
    ping = None
    own_bpffs()
    try:
        gateways(a, b, start)
        print(f"tc_esp_out on the peers as a {args.tc_hook}", flush=True)
        # B: the far end of ipsec0 alone.
        me, peer = inner(0)
        sh(CTL, "ipsec0", "create", "reqid", "1", ns=b)
        sh(CTL, "ipsec0", "inet", "tunnel", "10.0.0.2", "10.0.0.1", ns=b)
        sh(CTL, "ipsec0", "inet", f"{peer}/32", me, ns=b)
        sh(CTL, "setkey", "-c", ns=b,
           input=sa_pair(0, "10.0.0.1", "10.0.0.2", 1, 0x10000, 0x20000))

        # Wall time is the target; CPU time (the agent's, the clients') says
        # what grew on a machine shared with other work, which moves the wall.
        done, total, pid = 0, 0.0, agent_pid(a)
        res["agent_cpu_ms_per_iface"], res["client_cpu_ms_per_iface"] = {}, {}
        for p in points:
            while done < p:
                hi = min(p, done + BATCH)
                c0, k0 = cpu_s(pid), clients_s()
                dt = run_batch(a, done, hi)
                total += dt
                last = (dt, hi - done, cpu_s(pid) - c0, clients_s() - k0)
                done = hi
            ms, agent_ms, client_ms = (1000 * v / last[1] for v in (last[0], last[2], last[3]))
            res["ms_per_iface"][p] = round(ms, 2)
            res["agent_cpu_ms_per_iface"][p] = round(agent_ms, 2)
            res["client_cpu_ms_per_iface"][p] = round(client_ms, 2)
            print(f"{p:6d} interfaces: {ms:8.2f} ms per interface (the last {last[1]}), "
                  f"{total:7.1f} s in all; CPU {agent_ms:.2f} ms agent, "
                  f"{client_ms:.2f} ms clients", flush=True)
        res["setup_s"] = round(total, 1)

        t, r = timed(lambda: sh(CTL, "-j", ns=a))
        n_if = len(json.loads(r.stdout)["interfaces"])
        res["show_s"] = round(t, 3)
        t, r = timed(lambda: sh(CTL, "-j", "setkey", "-D", ns=a))
        n_sa = len(json.loads(r.stdout)["sas"])
        res["setkey_D_s"] = round(t, 3)
        print(f"ipsecifctl -j: {res['show_s']:.3f} s ({n_if} interfaces); "
              f"ipsecifctl -j setkey -D: {res['setkey_D_s']:.3f} s ({n_sa} SAs)")
        assert n_if == args.max and n_sa == 2 * args.max, (n_if, n_sa)

        mem = map_memory(a)
        total_mem = sum(v[1] for v in mem.values())
        pid = agent_pid(a)
        res["bpf_map_bytes"] = total_mem
        res["bpf_maps"] = {k: v for k, v in mem.items()}
        res["agent_rss_kb"] = rss_kb(pid)
        print(f"BPF maps: {total_mem / 2**20:.1f} MiB memlock; agent RSS "
              f"{res['agent_rss_kb'] / 1024:.1f} MiB")
        for k, (n, by) in sorted(mem.items(), key=lambda kv: -kv[1][1]):
            print(f"    {k:14s} max_entries {n:6d}  {by / 2**20:8.2f} MiB")

        if not args.no_restart:
            sh("ping", "-c", "3", "-w", "5", peer, ns=a)
            ping = subprocess.Popen(["ip", "netns", "exec", a, "ping", "-q", "-i", "0.01",
                                     peer], stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            t_stop, _ = timed(lambda: sh(AGENT, "stop", ns=a, timeout=300))
            t_start, _ = timed(lambda: sh(AGENT, *start, ns=a, timeout=600))
            st = json.loads(sh(AGENT, "status", "-j", ns=a).stdout)
            time.sleep(0.5)
            ping.send_signal(signal.SIGINT)
            out = ping.communicate(timeout=10)[0]
            ping = None
            stats = [l for l in out.splitlines() if "transmitted" in l][0].split(",")
            sent, got = int(stats[0].split()[0]), int(stats[1].split()[0])
            res.update(restart_stop_s=round(t_stop, 2), adopt_s=round(t_start, 2),
                       ping_sent=sent, ping_lost=sent - got)
            print(f"restart: stop {t_stop:.2f} s, start adopting {st['interfaces']} interfaces "
                  f"and {st['sas']} SAs {t_start:.2f} s; ping over ipsec0 {sent} sent, "
                  f"{sent - got} lost")
            assert st["interfaces"] == args.max

        t, _ = timed(lambda: sh(AGENT, "stop", "--flush", ns=a, timeout=600))
        res["flush_s"] = round(t, 2)
        left = [l["ifname"] for l in json.loads(sh("ip", "-j", "link", ns=a).stdout)
                if l["ifname"].startswith("ipsec")]
        print(f"stop --flush: {t:.2f} s; {len(left)} ipsec devices left")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        if ping:
            ping.kill()
        close_gateways(a, b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
