# SPDX-License-Identifier: GPL-2.0-only
"""Running ipsecif-agent in test namespaces."""
import os
import subprocess
import time

from dp import ROOT

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
