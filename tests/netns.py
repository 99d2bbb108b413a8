# SPDX-License-Identifier: GPL-2.0-only
"""Network namespaces for tests: random names, removed afterwards."""
import os
import subprocess


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

