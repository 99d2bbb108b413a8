# SPDX-License-Identifier: GPL-2.0-only
"""Fixtures shared by the test modules."""
import atexit
import os
import shutil
import subprocess
import tempfile

import pytest

from agents import BPFFS, is_bpffs, remove_made

# The agents' sequence-number store (daemon/seqstore.c) is the machine's,
# in /var/lib/ipsecif, and outlives everything: the tests' agents keep
# theirs in a folder of this run's (one a namespace: agents.store_dir), so
# that the keys the tests reuse never touch the machine's, and each run
# starts from nothing.
LIB_DIR = tempfile.mkdtemp(prefix="ipsecif-lib-")
os.environ["IPSECIF_LIB_DIR"] = LIB_DIR
atexit.register(shutil.rmtree, LIB_DIR, True)
# Every save checks that each change to an SA was said (daemon/state.h):
# an agent that finds one not said stops, and the test with it.
os.environ["IPSECIF_STATE_VERIFY"] = "1"


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
    remove_made(made)
