# SPDX-License-Identifier: GPL-2.0-only
"""Running ipsecif-agent in test namespaces."""
import contextlib
import os
import subprocess
import time

from dp import ROOT
from netns import Netns

AGENT = os.path.join(ROOT, "build", "ipsecif-agent")
BPFFS = "/run/ipsecif/bpf"
MAGIC = 0x46495349


def is_bpffs(path):
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip() == "bpf_fs"


CTL = os.path.join(ROOT, "build", "ipsecifctl")


def run_in(ns, tool, *args, check=True):
    """Run one of our programs in ns; by default it must succeed."""
    r = subprocess.run(["ip", "netns", "exec", ns.name, tool] + list(args),
                       capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def agent(ns, *args, check=True):
    return run_in(ns, AGENT, *args, check=check)


def ctl(ns, *args, check=True):
    return run_in(ns, CTL, *args, check=check)


def wait_gone(ns, timeout=5):
    """Poll until the agent no longer answers."""
    end = time.time() + timeout
    while time.time() < end:
        if agent(ns, "status", check=False).returncode != 0:
            return
        time.sleep(0.05)
    raise AssertionError("the agent did not stop")


def pin_dir(ns):
    ino = ns("stat", "-L", "-c", "%i", "/proc/self/ns/net").stdout.strip()
    return f"{BPFFS}/net-{ino}"


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
