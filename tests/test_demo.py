# SPDX-License-Identifier: GPL-2.0-only
"""
make demo (scripts/demo.sh), the README's first command: the NetBSD page's
four hosts built, configured, pinged across and sent 20 MB, shown, and torn
down, with each suite.  What it prints is read as a person would: the pings
answered, every byte received, the counters of the SAs' two slots, and a
page or two of it, not the 16,384 slots of an array.
"""
import json
import os
import re
import subprocess

import pytest

from agents import BPFFS, is_bpffs
from dp import ROOT


def netns_left():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [l.split()[0] for l in out.splitlines() if l.startswith("ipsecif-demo-")]


@pytest.mark.parametrize("suite", ["chacha20-poly1305", "aes-gcm-16", "aes-cbc"])
def test_demo(suite):
    had_bpffs = os.path.isdir(BPFFS) and is_bpffs(BPFFS)
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh")],
                       env=dict(os.environ, SUITE=suite, KEEP="0"), capture_output=True, text=True,
                       timeout=180)
    out = r.stdout
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "3 packets transmitted, 3 received" in out, out
    assert "19988480 bytes received in" in out, out
    lines = out.splitlines()
    assert len(lines) < 400, f"{len(lines)} lines"
    # The last command: sa_ctr's held slots, B's two SAs, both of which carried packets.
    i = max(k for k, l in enumerate(lines) if "sa_ctr" in l and l.startswith("  b# bpftool"))
    held = json.loads("\n".join(lines[i + 1:]))
    assert len(held) == 2 and all(e["value"]["packets"] > 0 for e in held), held
    assert re.search(r"current: bytes=\d+ packets=\d+", out)
    assert not netns_left(), netns_left()
    assert (os.path.isdir(BPFFS) and is_bpffs(BPFFS)) == had_bpffs
