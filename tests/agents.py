# SPDX-License-Identifier: GPL-2.0-only
"""Running ipsecif-agent in test namespaces."""
import contextlib
import json
import os
import subprocess
import tempfile
import time

import bpfsys
from dp import ROOT
from netns import Netns

AGENT = os.path.join(ROOT, "build", "ipsecif-agent")
BPFFS = "/run/ipsecif/bpf"
MAGIC = 0x46495349


def is_bpffs(path):
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip() == "bpf_fs"


CTL = os.path.join(ROOT, "build", "ipsecifctl")


# Each namespace is a host of its own to the tests, with a sequence-number store
# (daemon/seqstore.c) of its own under the run's IPSECIF_LIB_DIR, as two hosts
# have: one store for both ends of a tunnel keyed alike both ways would have
# one end's counter jump past the other's numbers (and drop what was in
# flight across the jump).  STORES[ns.name] names a folder a test shares.
STORES = {}


def store_dir(ns):
    base = os.environ.get("IPSECIF_LIB_DIR")
    return STORES.get(ns.name) or (os.path.join(base, ns.name) if base else None)


def remove_made(made):
    """The folders a fixture made (made: outermost first), gone: with the empty ones the
    agents leave in them (/run/ipsecif/state, emptied as they stop); a file left in one
    is a leak, and os.rmdir says so."""
    for d in reversed(made):
        if not os.path.isdir(d):
            continue
        for root, dirs, files in os.walk(d, topdown=False):
            if root != d and not files and not os.listdir(root):
                os.rmdir(root)
        os.rmdir(d)


def start_env(ns):
    """The environment an agent starting in ns is given: None, or its store folder."""
    return dict(os.environ, IPSECIF_LIB_DIR=store_dir(ns)) if store_dir(ns) else None


def run_in(ns, tool, *args, check=True):
    """Run one of our programs in ns; by default it must succeed."""
    env = start_env(ns) if tool == AGENT and args[:1] == ("start",) else None
    r = subprocess.run(["ip", "netns", "exec", ns.name, tool] + list(args),
                       capture_output=True, text=True, timeout=30, env=env)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def agent(ns, *args, check=True):
    return run_in(ns, AGENT, *args, check=check)


def ctl(ns, *args, check=True):
    return run_in(ns, CTL, *args, check=check)


def agent_pids(ns):
    """The agent processes in ns."""
    pids = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True,
                          text=True).stdout.split()
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "ipsecif-agent":
                    found.append(pid)
        except OSError:
            pass
    return found


def wait_gone(ns, timeout=5):
    """Poll until the agent no longer answers and has exited.  It closes its control
    socket first and removes its pins (stop --flush) after: a namespace made next may
    get this one's inode number, and so its pin directory, which a late removal would
    empty under the new namespace's agent."""
    end = time.time() + timeout
    while time.time() < end:
        if agent(ns, "status", check=False).returncode != 0 and not agent_pids(ns):
            return
        time.sleep(0.05)
    raise AssertionError("the agent did not stop")


def pin_dir(ns):
    ino = ns("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    return f"{BPFFS}/net-{ino}"


def setkey(ns, script):
    """ipsecifctl setkey -c with script on standard input, as setkey -c reads it."""
    return subprocess.run(["ip", "netns", "exec", ns.name, CTL, "setkey", "-c"], input=script,
                          capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def agent_sites(count, plain=0):
    """count namespaces each with a running agent, then plain ones without; all removed after."""
    nss = []
    try:
        for i in range(count + plain):
            nss.append(Netns())
            if i < count:
                agent(nss[-1], "start")
        yield nss
    finally:
        for ns in nss[:count]:
            agent(ns, "stop", "--flush", check=False)
            wait_gone(ns)
        for ns in nss:
            ns.close()


@contextlib.contextmanager
def freebsd_hosts(tool=AGENT):
    """The FreeBSD if_ipsec(4) page's two hosts, A (192.168.0.3) and B (192.168.0.5) on
    one veth, each with an agent (tool: which ipsecif-agent); all removed after."""
    a, b = Netns(), Netns()
    try:
        a("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name)
        for ns, addr in ((a, "192.168.0.3"), (b, "192.168.0.5")):
            ns("ip", "addr", "add", f"{addr}/24", "dev", "ul0")
            ns("ip", "link", "set", "ul0", "up")
            run_in(ns, tool, "start")
        yield a, b
    finally:
        for ns in (a, b):
            run_in(ns, tool, "stop", "--flush", check=False)
            wait_gone(ns)
            ns.close()


def sa_key(spi, suite="aes-gcm-16"):
    """The same key for an SPI at both ends: 20 bytes for AES-GCM, 36 for ChaCha20-Poly1305."""
    return "0x" + f"{spi:08x}" * (5 if suite == "aes-gcm-16" else 9)


def endpoint(addr, port):
    return f"{addr}[{port}]" if port else addr


def tunnel_end(ns, name, reqid, src, dst, spi_out, spi_in, inner=(), ifargs=(),
               sport=None, dport=None, proto="esp", suite="aes-gcm-16", replay=None):
    """ipsecN with reqid, tunnel src -> dst, inner addresses ("inet ADDR PEER" word lists),
    interface words ifargs, and the SA pair spi_out (src -> dst) and spi_in back, with a
    replay window of replay packets (setkey's default, 64, if None)."""
    ctl(ns, name, "create", "reqid", str(reqid))
    fam = "inet6" if ":" in src else "inet"
    ctl(ns, name, fam, "tunnel", src, dst, *ifargs)
    for words in inner:
        ctl(ns, name, *words)
    s, d = endpoint(src, sport), endpoint(dst, dport)
    r_opt = f"-r {replay // 8} " if replay else ""
    r = setkey(ns, f"add {s} {d} {proto} {spi_out} -m tunnel -u {reqid} {r_opt}"
                   f"-E {suite} {sa_key(spi_out, suite)};\n"
                   f"add {d} {s} {proto} {spi_in} -m tunnel -u {reqid} {r_opt}"
                   f"-E {suite} {sa_key(spi_in, suite)};\n")
    assert r.returncode == 0, r.stderr


def show(ns, name):
    """ipsecifctl -j NAME: the interface as JSON."""
    return json.loads(ctl(ns, "-j", name).stdout)["interfaces"][0]


def sas(ns):
    """ipsecifctl -j setkey -D: the SAs by SPI."""
    return {s["spi"]: s for s in json.loads(ctl(ns, "-j", "setkey", "-D").stdout)["sas"]}


def map_dump(ns, name):
    """The entries of one of the agent's pinned maps, as bpftool formats them.  An entry
    deleted while bpftool walks the map comes without "formatted" (its lookup failed):
    it is returned as it is, so that a poll for an empty map looks again."""
    return [e.get("formatted", e) for e in json.loads(run_in(ns, "bpftool", "-j", "map", "dump",
                                                      "pinned", f"{pin_dir(ns)}/{name}").stdout)]


MAX_SAS = 16384                 # include/ipsecif.h


def sa_slot(sa_id):
    """An SA's index in the arrays by SA slot (keys, replay, sa_ctr, sa_stats)."""
    return sa_id & (MAX_SAS - 1)


def _id_offset(ns, name):
    """Where the value's id is, in bytes, from the map's BTF; None if it has none."""
    btf = json.loads(run_in(ns, "bpftool", "-j", "btf", "dump", "map", "pinned",
                            f"{pin_dir(ns)}/{name}", "value").stdout)
    (t,) = btf["types"]
    ids = [m["bits_offset"] // 8 for m in t["members"] if m["name"] == "id"]
    return ids[0] if ids else None


def map_held(ns, name):
    """The slots an SA holds in one of the arrays by SA slot: those of keys, replay and
    sa_ctr whose id is not 0 ({"key": slot, "value": {"id": id}}); of sa_stats, whose
    entries carry no id, those with a counter not 0 ({"key": slot}).  Read by batch
    lookup: bpftool's JSON of 16,384 slots takes a second or more."""
    info = json.loads(run_in(ns, "bpftool", "-j", "map", "show", "pinned",
                             f"{pin_dir(ns)}/{name}").stdout)
    per_cpu = bpfsys.possible_cpus() if info["type"].startswith("percpu") else 0
    fd = bpfsys.obj_get(f"{pin_dir(ns)}/{name}")
    assert fd >= 0, (name, os.strerror(-fd))
    try:
        blob = bpfsys.values(fd, info["bytes_key"], info["bytes_value"], per_cpu)
    finally:
        os.close(fd)
    assert blob is not None, f"{name}: no batch lookup"
    step = len(blob) // info["max_entries"]
    off = None if per_cpu else _id_offset(ns, name)
    held = []
    for slot in range(info["max_entries"]):
        v = blob[slot * step:(slot + 1) * step]
        if off is None:
            if any(v):
                held.append({"key": slot})
        else:
            i = int.from_bytes(v[off:off + 4], "little")
            if i:
                held.append({"key": slot, "value": {"id": i}})
    return held


def sa_ctr(ns, sa_id):
    """sa_ctr at the SA's slot, checked to be its."""
    key = [f"0x{b:02x}" for b in sa_slot(sa_id).to_bytes(4, "little")]
    v = json.loads(run_in(ns, "bpftool", "-j", "map", "lookup", "pinned",
                          f"{pin_dir(ns)}/sa_ctr", "key", *key).stdout)["formatted"]["value"]
    assert v["id"] == sa_id, (sa_id, v)
    return v


def percpu_drops(entry):
    """A per-CPU struct ipsecif_stats entry's drop counters, summed over the CPUs."""
    return [sum(c["value"]["drops"][i] for c in entry["values"])
            for i in range(len(entry["values"][0]["value"]["drops"]))]


def bpf_calls(during, pid=None, argv=(), env=None):
    """The bpf(2) calls agent pid makes while during() runs; without pid, those
    argv and all it forks make (a daemon's too) until during() returns."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        # -I2: SIGINT ends strace (it detaches) even when it started argv.
        tr = subprocess.Popen(["strace", "-f", "-c", "-I2", "-e", "trace=bpf", "-o", out.name]
                              + (["-p", str(pid)] if pid else ["--", *argv]),
                              stderr=subprocess.PIPE if pid else subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, text=True, env=env)
        try:
            if pid:     # strace prints "Process N attached" once it is.
                assert "attached" in tr.stderr.readline()
            during()
        finally:
            tr.send_signal(2)
            tr.wait(timeout=30)
        rows = [l.split() for l in out.read().splitlines() if l.split()[-1:] == ["bpf"]]
    assert len(rows) == 1, rows
    return int(rows[0][3])      # % time, seconds, usecs/call, calls, [errors], syscall


def poll(cond, timeout=5, what="the condition"):
    """cond() until it returns something true, or fail after timeout seconds."""
    end = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > end:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@contextlib.contextmanager
def two_lans(ul, lan, x_addr, y_addr, host_setup=()):
    """
    X -- [lan] A [ul] -- [ul] B [lan] -- Y in four new namespaces, the
    hosts addressed (/24, default route via .1) after the host_setup
    commands, forwarding and an agent on both gateways; all removed after.
    """
    x, a, b, y = (Netns() for _ in range(4))
    try:
        a("ip", "link", "add", ul, "type", "veth", "peer", "name", ul, "netns", b.name)
        x("ip", "link", "add", "eth0", "type", "veth", "peer", "name", lan, "netns", a.name)
        y("ip", "link", "add", "eth0", "type", "veth", "peer", "name", lan, "netns", b.name)
        for h, addr in ((x, x_addr), (y, y_addr)):
            for cmd in host_setup:
                h(*cmd)
            h("ip", "addr", "add", f"{addr}/24", "dev", "eth0")
            h("ip", "link", "set", "eth0", "up")
            h("ip", "route", "add", "default", "via", addr.rsplit(".", 1)[0] + ".1")
        for g in (a, b):
            g("sysctl", "-qw", "net.ipv4.ip_forward=1")
            agent(g, "start")
        yield x, a, b, y
    finally:
        for g in (a, b):
            agent(g, "stop", "--flush", check=False)
            wait_gone(g)
        for n in (x, a, b, y):
            n.close()


@contextlib.contextmanager
def pinging(ns, dst, seconds, interval="0.01", size=None):
    """ping -q from ns to dst every interval for seconds (of size bytes of data), in the
    background.  Yields a function that waits for the end and returns (sent, received,
    ping's output); the ping is killed if the block leaves early."""
    p = subprocess.Popen(["ip", "netns", "exec", ns.name, "ping", "-q", "-i", interval,
                          "-w", str(seconds)] + (["-s", str(size)] if size else []) + [dst],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(timeout=seconds + 15):
        out = p.communicate(timeout=timeout)[0]
        lines = [x for x in out.splitlines() if "transmitted" in x]
        assert lines, out
        sent, rcvd = (int(w.split()[0]) for w in lines[0].split(",")[:2])
        return sent, rcvd, out
    try:
        yield result
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
