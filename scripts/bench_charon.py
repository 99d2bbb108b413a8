#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""
make bench-charon: N tunnels keyed by strongSwan's charon through the
kernel-ipsecif plugin, one IKE_SA each, between two gateways:

    A: ul0 10.0.0.1/16 + 10.1.x.y/32 ... -- veth -- ul0 10.0.0.2/16 :B
       ipsecN reqid N+1, tunnel 10.1.x.y -> 10.0.0.2    ipsecN reqid N+1, back
       100.64.a.b/32 -> 100.64.a.b+1                     100.64.a.b+1/32 -> ...
       charon: N connections tN, 10.1.x.y -> 10.0.0.2,   charon: N connections,
       child tN reqid N+1, /32 selectors, start_action   answering
       = start

One IKE_SA per interface, each on its own pair of addresses: an
interface's SAs run between its tunnel endpoints, two interfaces never
share a pair (ipsecif(7)), and a CHILD_SA's endpoints are its IKE_SA's,
so N children of one IKE_SA would all be for one interface.  B reaches
A's 10.1/16 through 10.0.0.1 (one neighbour entry, not N: the neighbour
table is the machine's).  The interfaces come from ipsecifctl as in
bench_scale.py (a shell script of its commands).

Printed: the time from loading A's connections until all N CHILD_SAs are
INSTALLED in both charons (swanctl --list-sas) and all 2N SAs active in
each agent (ipsecifctl -j setkey -D); the IKE retransmits and failures
and the most IKE_AUTH exchanges in flight at A (their logs); pings over a
sample of tunnels (16 spread evenly, the first and the last) with their
SAs' packet counters on both sides; charon's and the agents' RSS and CPU
time; the teardown (A's charon stopped: it deletes its IKE_SAs) until no
SA is left in either agent.  A failure is counted, the run goes on, and
the exit status is 1.

    scripts/bench_charon.py [--tunnels 1000] [--set KEY=VALUE ...] [--json FILE]

--set: one of charon's own settings (charon.KEY) for both charons, e.g.
--set ikesa_table_size=1024; the rest are tests/charon.py's.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import types

from bench_scale import (CTL, ROOT, agent_pid, close_gateways, gateway_names, gateways,
                         iface_lines, inner, own_bpffs, rss_kb, run_script, sh)

sys.path.insert(0, os.path.join(ROOT, "tests"))
from charon import Charon, swanctl_conf, wait_for  # noqa: E402

B_UL = "10.0.0.2"
ESP = "aes128gcm16-esn"
PINGS = 5
STALL_S = 30
# What went wrong in an exchange, as charon logs it.
LOG_COUNTS = {"retransmits": r"\[IKE\] retransmit \d", "gave up": r"giving up after",
              "no SPI": r"unable to allocate SPIs", "child failed": r"failed to establish CHILD_SA"}


def a_ul(n):
    """A's underlay address for tunnel n (10.1.0.1 on)."""
    return f"10.1.{(n + 1) >> 8}.{(n + 1) & 255}"


def ends(n, side):
    """Tunnel n at side "a" or "b": (its source, destination, inner address, peer's)."""
    me, peer = inner(n)
    return (a_ul(n), B_UL, me, peer) if side == "a" else (B_UL, a_ul(n), peer, me)


def conns(n_tunnels, side, psk):
    """swanctl.conf of side "a" (starting every child) or "b" (answering): one
    connection a tunnel, its child with the interface's reqid, /32 selectors, the
    addresses as identities."""
    out = []
    for n in range(n_tunnels):
        src, dst, me, peer = ends(n, side)
        out.append(swanctl_conf(src, dst, src, dst, n + 1, ESP, psk, name=f"t{n}",
                                child=f"t{n}", start="start" if side == "a" else "none",
                                local_ts=f"{me}/32", remote_ts=f"{peer}/32"))
    return "".join(out)


def sa_list(ns):
    return json.loads(sh(CTL, "-j", "setkey", "-D", ns=ns).stdout)["sas"]


def active(ns):
    return sum(s["state"] == "active" for s in sa_list(ns))


def installed(ch):
    r = ch.swanctl("--list-sas", check=False, timeout=120)
    return r.stdout.count(", INSTALLED,")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def counters(ns):
    """packets by (reqid, "ab" or "ba": the direction) from one agent's SAs."""
    out = {}
    for s in sa_list(ns):
        k = (s["reqid"], "ba" if s["src"] == B_UL else "ab")
        out[k] = out.get(k, 0) + s["packets"]
    return out


def auth_in_flight(log):
    """The most IKE_AUTH exchanges an initiator's log has open at once: each holds
    an SPI from the agent (its inbound SA's) from the request until its answer."""
    n = most = 0
    for line in log.splitlines():
        if "generating IKE_AUTH request" in line:
            n += 1
            most = max(most, n)
        elif "} established with SPIs" in line:
            n -= 1
    return most


def sample(n_tunnels):
    """16 tunnels spread evenly, the first and the last."""
    return sorted({0, n_tunnels - 1} | {(2 * k + 1) * n_tunnels // 32 for k in range(16)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tunnels", type=int, default=1000)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json")
    args = ap.parse_args()
    n_t = args.tunnels
    res = {"tunnels": n_t, "settings": args.set, "load_before": os.getloadavg()}
    settings = "\n".join(" = ".join(kv.split("=", 1)) for kv in args.set)
    a, b = gateway_names("charon")
    own_bpffs()
    charons, problems = {}, []
    try:
        gateways(a, b)
        sh("ip", "-batch", "-", ns=a,
           input="".join(f"addr add {a_ul(n)}/32 dev ul0\n" for n in range(n_t)))
        sh("ip", "route", "add", "10.1.0.0/16", "via", "10.0.0.1", "dev", "ul0", ns=b)
        t = time.monotonic()
        for ns, side in ((a, "a"), (b, "b")):
            run_script(ns, "".join(iface_lines(n, n + 1, *ends(n, side)) for n in range(n_t)))
        print(f"{2 * n_t} interfaces (ipsecifctl, both sides): {time.monotonic() - t:.1f} s",
              flush=True)
        ignore = ", ".join(f"ipsec{n}" for n in range(n_t))
        for ns in (b, a):
            charons[ns] = Charon(types.SimpleNamespace(name=ns), ignore=ignore,
                                 settings=settings)
        psk = os.urandom(16).hex()
        t = time.monotonic()
        charons[b].load(conns(n_t, "b", psk), timeout=600)
        print(f"B's {n_t} connections loaded: {time.monotonic() - t:.1f} s", flush=True)

        # Up: A's connections start their children as they load.
        t0 = time.monotonic()
        charons[a].load(conns(n_t, "a", psk), timeout=600)
        res["load_s"] = round(time.monotonic() - t0, 1)
        print(f"A's {n_t} connections loaded (start_action = start): {res['load_s']} s",
              flush=True)
        up, seen, last = {}, None, time.monotonic()
        # Until both agents have all, or nothing moved for STALL_S (a failed
        # exchange stays failed: charon gives up after about 11 s of retransmits).
        while len(up) < 2 and time.monotonic() - last < STALL_S:
            now = {ns: active(ns) for ns in (a, b)}
            for ns in (a, b):
                if ns not in up and now[ns] == 2 * n_t:
                    up[ns] = time.monotonic() - t0
            if now != seen:
                seen, last = now, time.monotonic()
            time.sleep(0.25)
        res["agent_up_s"] = {side: round(up[ns], 1) for side, ns in (("a", a), ("b", b))
                             if ns in up}
        res["agent_sas"] = {"a": seen[a], "b": seen[b]}
        when = {k: f"{v} s" for k, v in res["agent_up_s"].items()}
        print(f"up: all {2 * n_t} SAs active in A's agent at {when.get('a', 'no time')}, "
              f"in B's at {when.get('b', 'no time')} from A's load (A {seen[a]}, B {seen[b]})",
              flush=True)
        n_inst = {ns: wait_for(lambda: installed(charons[ns]) == n_t and n_t, 10, step=1) or
                  installed(charons[ns]) for ns in (a, b)}
        res["installed"] = {"a": n_inst[a], "b": n_inst[b]}
        res["auth_in_flight"] = auth_in_flight(charons[a].log())
        res["log_counts"] = {side: {k: charons[ns].count(rx) for k, rx in LOG_COUNTS.items()}
                             for side, ns in (("a", a), ("b", b))}
        print(f"swanctl --list-sas: CHILD_SAs INSTALLED A {n_inst[a]}, B {n_inst[b]} "
              f"({time.monotonic() - t0:.1f} s); at most {res['auth_in_flight']} IKE_AUTH "
              f"in flight at A (an SPI held each); in the logs: {res['log_counts']}",
              flush=True)
        if n_inst[a] != n_t or n_inst[b] != n_t or seen[a] != 2 * n_t or seen[b] != 2 * n_t:
            problems.append("not all up")

        # Traffic over a sample, and the SAs' counters on both sides.
        before = {ns: counters(ns) for ns in (a, b)}
        picks = sample(n_t)
        pings = [subprocess.Popen(["ip", "netns", "exec", a, "ping", "-q", "-c", str(PINGS),
                                   "-i", "0.2", "-W", "2", inner(n)[1]],
                                  stdout=subprocess.PIPE, text=True) for n in picks]
        replies = []
        for p in pings:
            out = p.communicate(timeout=60)[0]
            line = [x for x in out.splitlines() if "transmitted" in x][0]
            replies.append(int(line.split(",")[1].split()[0]))
        after = {ns: counters(ns) for ns in (a, b)}
        moved = [min(after[ns].get((n + 1, d), 0) - before[ns].get((n + 1, d), 0)
                     for ns in (a, b) for d in ("ab", "ba")) for n in picks]
        res["ping_tunnels"] = picks
        res["ping_replies"] = replies
        res["sa_packets_min"] = moved
        print(f"ping over {len(picks)} tunnels ({picks[0]} .. {picks[-1]}): "
              f"{sum(replies)}/{PINGS * len(picks)} replies; per tunnel, the least any of "
              f"its four SAs counted: {min(moved)} to {max(moved)} packets", flush=True)
        if not all(r == PINGS for r in replies) or min(moved) < PINGS:
            problems.append(f"pings {replies}, counters {moved}")

        pids = {"charon_a": charons[a].proc.pid, "charon_b": charons[b].proc.pid,
                "agent_a": agent_pid(a), "agent_b": agent_pid(b)}
        res["rss_kb"] = {k: rss_kb(p) for k, p in pids.items()}
        res["cpu_s"] = {k: round(cpu_s(p), 1) for k, p in pids.items()}
        print("RSS: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in res["rss_kb"].items())
              + "; CPU so far: " + ", ".join(f"{k} {v} s" for k, v in res["cpu_s"].items()),
              flush=True)

        # Down: A's charon stops, deleting its IKE_SAs (and B's with them).
        t0 = time.monotonic()
        os.killpg(charons[a].proc.pid, signal.SIGTERM)
        charons[a].proc.wait(timeout=600)
        res["charon_stop_s"] = round(time.monotonic() - t0, 1)
        left = wait_for(lambda: (active(a), active(b)) == (0, 0) or None, max(60, n_t / 10),
                        step=0.2)
        res["down_s"] = round(time.monotonic() - t0, 1)
        res["left_sas"] = {"a": active(a), "b": active(b)}
        print(f"down: A's charon stopped in {res['charon_stop_s']} s; no SA left in either "
              f"agent after {res['down_s']} s" if left else
              f"down: SAs left after {res['down_s']} s: {res['left_sas']}", flush=True)
        res["load_after"] = os.getloadavg()
        print("load average before: %.2f %.2f %.2f, after: %.2f %.2f %.2f"
              % (*res["load_before"], *res["load_after"]))
        if not left:
            problems.append("SAs left")
        res["problems"] = problems
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        for ch in charons.values():
            ch.close()
        close_gateways(a, b)
    if problems:
        print("problems: " + "; ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
