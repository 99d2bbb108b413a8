#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""
Where the engine starts to pay (docs/ENGINE.md, docs/BENCHMARKS.md "The
engine"): in make bench's topology, both gateways with the engine on, UDP
at a fixed packet rate (--pps, below what either path saturates at: a
saturated machine's CPU per packet is only its inverse rate, losses
included), for each suite and datagram size, with every packet on the
engine (engine min SUITE 1) and on BPF's cipher (engine min SUITE 0),
alternated, twice each.  The figure that decides is the path's CPU time
per packet received: the BPF programs' run time (bpf_stats) at both
gateways and the workers' own CPU time (/proc/PID/stat: user and system,
which includes the kernel's copy-mode transmit they run in their system
calls).  The machine's busy time per packet was tried first and is noise
here (2 shared vCPUs: 7 to 175 µs a packet at 8,000 a second).  The
crossover is the smallest size from which the engine costs less.

    scripts/bench_crossover.py [--suites chacha,gcm,cbc-sha256]
                               [--sizes 64,128,256,512,1024,1400] [--seconds 3] [--pps 8000]
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

NAME = {"chacha": "chacha20-poly1305", "gcm": "aes-gcm-16", "cbc-sha256": "aes-cbc"}
HDRS = 28   # IPv4 and UDP: the inner packet is the datagram and these


def set_min(t, suite, n):
    for g in (t.a, t.b):
        bench.sh("ip", "netns", "exec", g.name, bench.CTL, "engine", "min", NAME[suite], str(n))


def measure(t, seconds, size, pps):
    gbps, cost, _ = bench.iperf(t, seconds, udp=True, payload=size, rate=str(pps * size * 8))
    pps = gbps * 1e9 / 8 / size
    path = sum(v for k, v in cost.items() if k.startswith("site "))    # CPU s per GB
    return pps, path * size                          # CPU ns per packet received


def worker_pids(t):
    """The gateways' workers, as processes the cost counts."""
    for site, g in (("A", t.a), ("B", t.b)):
        e = json.loads(bench.sh("ip", "netns", "exec", g.name, bench.CTL, "-j", "engine").stdout)
        for w in e["worker"]:
            t.site_pids[f"{site}{w['queue']}"] = w["pid"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suites", default="chacha,gcm,cbc-sha256")
    ap.add_argument("--sizes", default="64,128,256,512,1024,1400")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--pps", type=int, default=8000)
    ap.add_argument("--json", default=os.path.join(bench.BUILD, "bench", "crossover.json"))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    progs = bench.bench_progs()
    res = {}
    try:
        for suite in args.suites.split(","):
            t = bench.Topo(progs, 1)
            try:
                bench.ipsecif(t, suite, False, engine=True)
                bench.wait_for(lambda: t.src("ping", "-c", "1", "-W", "1", bench.SINK,
                                             check=False).returncode == 0, "a ping across", 20)
                worker_pids(t)
                rows = []
                for size in (int(s) for s in args.sizes.split(",")):
                    row = {"size": size, "text": size + HDRS + 2}
                    for mode, n in (("engine", 1), ("bpf", 0), ("engine2", 1), ("bpf2", 0)):
                        set_min(t, suite, n)
                        with bench.bpf_stats(True):
                            row[mode] = measure(t, args.seconds, size, args.pps)
                    for m in ("engine", "bpf"):
                        a, b = row.pop(m), row.pop(m + "2")
                        row[m] = {"pps": (a[0] + b[0]) / 2, "ns": (a[1] + b[1]) / 2}
                    bench.log(f"{suite} {size:5d} B: engine {row['engine']['ns']:7.0f} ns "
                              f"{row['engine']['pps'] / 1e3:6.1f} kpps, BPF "
                              f"{row['bpf']['ns']:7.0f} ns {row['bpf']['pps'] / 1e3:6.1f} kpps")
                    rows.append(row)
                cross = next((r["text"] for r in rows if r["engine"]["ns"] < r["bpf"]["ns"]), None)
                res[suite] = {"rows": rows, "crossover_text": cross}
                print(f"{suite}: the engine costs less from a text of {cross} bytes")
            finally:
                t.close()
    finally:
        shutil.rmtree(progs, ignore_errors=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"crossover: {args.json}")


if __name__ == "__main__":
    main()
