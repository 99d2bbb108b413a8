# SPDX-License-Identifier: GPL-2.0-only
"""Network namespaces for tests: random names, removed afterwards."""
import contextlib
import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000


def sh(*args, ns=None, check=True, timeout=None):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)


class Netns:
    def __init__(self, prefix="ipsecif-t"):
        self.name = f"{prefix}-{os.urandom(4).hex()}"
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "set", "lo", "up", ns=self.name)

    def __call__(self, *args, check=True, timeout=None):
        return sh(*args, ns=self.name, check=check, timeout=timeout)

    def popen(self, argv):
        """argv in the background, its stdout a pipe."""
        return subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv),
                                stdout=subprocess.PIPE, text=True)

    def ifindex(self, dev):
        return int(self("cat", f"/sys/class/net/{dev}/ifindex").stdout)

    def close(self):
        sh("ip", "netns", "del", self.name, check=False)



@contextlib.contextmanager
def in_netns(ns):
    """This process in ns's network namespace for a moment: sockets made
    there stay there (abstract socket names are per network namespace)."""
    libc = ctypes.CDLL(None, use_errno=True)
    old = os.open("/proc/self/ns/net", os.O_RDONLY)
    new = os.open(f"/run/netns/{ns.name}", os.O_RDONLY)
    try:
        assert libc.setns(new, CLONE_NEWNET) == 0, ctypes.get_errno()
        yield
    finally:
        assert libc.setns(old, CLONE_NEWNET) == 0, ctypes.get_errno()
        os.close(old)
        os.close(new)
