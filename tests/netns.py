# SPDX-License-Identifier: GPL-2.0-only
"""Network namespaces for tests: random names, removed afterwards."""
import os
import signal
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


class Capture:
    """tcpdump on dev in ns, writing path, while the with-block runs."""

    def __init__(self, ns, dev, path, filt=""):
        # --immediate-mode: without it the packets in the ring's current
        # block are lost when tcpdump is interrupted.
        self.argv = ["ip", "netns", "exec", ns.name, "tcpdump", "-i", dev, "-U",
                     "--immediate-mode", "-Z", "root", "-w", path] + filt.split()

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()        # "listening on DEV ...": capturing
        if "listening" not in line:
            self.proc.kill()
            raise RuntimeError(f"tcpdump did not start: {line}")
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)     # flushes the file and exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
