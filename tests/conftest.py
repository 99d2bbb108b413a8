# SPDX-License-Identifier: GPL-2.0-only
"""Fixtures shared by the test modules."""
import os
import subprocess

import pytest

from agents import BPFFS, is_bpffs


@pytest.fixture(scope="module")
def host_bpffs():
    """The agents' bpffs, mounted where every later "ip netns exec" sees it."""
    made = [d for d in (os.path.dirname(BPFFS), BPFFS) if not os.path.exists(d)]
    mounted = False
    os.makedirs(BPFFS, exist_ok=True)
    if not is_bpffs(BPFFS):
        subprocess.run(["mount", "-t", "bpf", "bpf", BPFFS], check=True)
        mounted = True
    yield
    if mounted:
        subprocess.run(["umount", BPFFS], check=False)
    for d in reversed(made):
        os.rmdir(d)
