# SPDX-License-Identifier: GPL-2.0-only
"""
A User-Mode Linux guest as a test peer: the Linux kernel's own ESP
(esp4, esp6, xfrm_user; kernel 6.1 from Debian's user-mode-linux) where
the host kernel has none.

The guest boots read-only from the host's filesystem (hostfs) inside a
test network namespace; its one NIC, vec0, is the far end of a veth pair
there (UML's raw transport: a packet socket on the hidden end), so the
host end, `link`, is an ordinary veth that takes native XDP.  (The tap
transport stops sending once the guest's IPv6 is up: vec0 counts a TX
drop and goes quiet.)  Its init (written below) mounts what a kernel needs,
makes the UML modules loadable, and then serves commands on the console:
one line "ID BASE64(command)" in, one line "@@ID RC BASE64(output)" out,
so nothing the tty does to bytes can corrupt either.  The guest sees the
host's files (scripts, keys) but writes only to its own /run.

    g = Guest(ns, "ul0")     # boots; returns once the guest answers (or: with Guest(...) as g)
    g("ip", "xfrm", "state") # like Netns: argv, check, .stdout
    g.sh("modprobe esp4 && lsmod")
    p = g.popen([...])       # background, Popen-like (stdout.readline)
    g.close()                # poweroff, then kill the process group
"""
import base64
import collections
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time

UML = "/usr/bin/linux.uml"
MODULES = "/lib/modules"

INIT = r"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /lib/modules
ln -s /usr/lib/uml/modules/$(uname -r) /lib/modules/$(uname -r)
dmesg -n 1
stty -echo -onlcr 2>/dev/null
ip link set lo up
echo "@@READY 0 $(uname -r | base64 -w0)"
while IFS= read -r line; do
	id=${line%% *}
	cmd=$(printf %s "${line#* }" | base64 -d)
	# "x" and the status after the output keep its trailing newlines.
	out=$(sh -c "$cmd" 2>&1 </dev/null; echo "x$?")
	rc=${out##*x}
	out=${out%x*}
	echo "@@$id $rc $(printf %s "$out" | base64 -w0)"
done
poweroff -f
"""


class Result:
    """What subprocess.run returns, as far as the tests use it."""

    def __init__(self, returncode, stdout):
        self.returncode, self.stdout, self.stderr = returncode, stdout, ""


class GuestError(AssertionError):
    pass


def unbootable_here(console):
    """Whether the guest died as UML 6.1 does on a host whose XSAVE area exceeds its
    4,096-byte buffer (AMX: TILEDATA alone is 8 KiB): the kernel then refuses UML's
    PTRACE_SETREGSET of a short NT_X86_XSTATE buffer, and the first process dies."""
    with open("/proc/cpuinfo") as f:
        amx = any(l.startswith("flags") and " amx_tile" in l for l in f)
    return amx and any("put_fp_registers" in l for l in console)


class Guest:
    """A booted UML guest whose NIC is reached through veth `link` in ns."""

    def __init__(self, ns, link, mem="256M", timeout=60):
        self.ns, self.link = ns, link
        self.raw = raw = f"{link[:11]}-uml"
        self.dir = tempfile.mkdtemp(prefix="ipsecif-uml-")
        self.made_modules = not os.path.exists(MODULES)
        self.replies = queue.Queue()
        self.console = collections.deque(maxlen=200)     # the last lines, for a death
        self.seq = 0
        self.procs = 0
        self.proc = None
        self.lock = threading.Lock()
        init = os.path.join(self.dir, "init")
        with open(init, "w") as f:
            f.write(INIT)
        os.chmod(init, 0o755)
        # The guest mounts a tmpfs over /lib/modules; the mount point has
        # to exist on the host (read-only root).
        os.makedirs(MODULES, exist_ok=True)
        ns("ip", "link", "add", link, "type", "veth", "peer", "name", raw)
        # In order, as from one NIC queue: without NAPI on the raw end the
        # veth hands each packet to the backlog of the CPU that sent it,
        # and two CPUs sending one SA's packets reorder them by dozens
        # (measured: up to 70), past a 32-packet replay window; with ESN
        # such a packet even fails its ICV (RFC 4303 Appendix A2.2).  GRO
        # gives the raw end NAPI, one ring for all CPUs; and the veth
        # passes skbs from a TSO-capable sender around NAPI, so not link.
        ns("ethtool", "-K", raw, "gro", "on")
        ns("ethtool", "-K", link, "tso", "off", "gso", "off")
        ns("ip", "link", "set", raw, "up")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, UML, f"mem={mem}", "root=/dev/root",
             "rootfstype=hostfs", "rootflags=/", "ro", "quiet", f"init={init}", "con=null",
             "con0=fd:0,fd:1", f"vec0:transport=raw,ifname={raw}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            rc, out = self._reply("READY", timeout)
            self.release = out.strip()
        except GuestError:
            self.close()
            if unbootable_here(self.console):
                import pytest
                pytest.skip("UML 6.1 cannot run a process on this CPU: its FPU state (AMX) is "
                            "larger than the 4,096 bytes UML saves, so PTRACE_SETREGSET fails "
                            "and the guest's init dies in put_fp_registers")
            raise
        except BaseException:
            self.close()
            raise

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            self.console.append(line)
            at = line.find("@@")
            if at < 0:
                continue
            parts = line[at + 2:].split(" ", 2)
            if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
                out = base64.b64decode(parts[2]) if len(parts) == 3 else b""
                self.replies.put((parts[0], int(parts[1]), out.decode(errors="replace")))
        self.replies.put((None, None, None))

    def _reply(self, want, timeout):
        end = time.time() + timeout
        while True:
            try:
                rid, rc, out = self.replies.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                raise GuestError(f"UML guest: no answer to {want} within {timeout} s")
            if rid is None:
                raise GuestError("UML guest: the console closed (the guest died)")
            if rid == want:
                return rc, out
            if time.time() > end:
                raise GuestError(f"UML guest: no answer to {want} within {timeout} s")

    def sh(self, cmd, check=True, timeout=60, idempotent=False):
        """Run a shell command line in the guest; output is stdout and stderr.

        idempotent: a command safe to run twice (a look, not a change) is
        sent again if no answer comes within 5 s; under heavy host load a
        line written to the console has been seen to go unanswered."""
        with self.lock:
            self.seq += 1
            rid = str(self.seq)
            line = f"{rid} {base64.b64encode(cmd.encode()).decode()}\n".encode()
            # The console is a tty in canonical mode: a line is at most 4095 bytes.
            if len(line) > 4000:
                raise GuestError("UML guest: command too long for the console; use a file")
            end = time.time() + timeout
            while True:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
                left = end - time.time()
                try:
                    rc, out = self._reply(rid, min(left, 5) if idempotent else left)
                    break
                except GuestError:
                    if not idempotent or time.time() >= end or self.proc.poll() is not None:
                        raise
        if check and rc != 0:
            raise GuestError(f"UML guest: `{cmd}` failed ({rc}): {out}")
        return Result(rc, out)

    def __call__(self, *args, check=True, timeout=60, idempotent=False):
        return self.sh(shlex.join(args), check=check, timeout=timeout, idempotent=idempotent)

    def popen(self, argv):
        """argv in the background; a Popen-like handle on its output."""
        self.procs += 1
        out = f"/run/proc.{self.procs}"
        pid = int(self.sh(f"{shlex.join(argv)} >{out} 2>&1 & echo $!").stdout)
        return GuestProc(self, pid, out)

    def file(self, name, text):
        """A host file the guest can read (hostfs), e.g. a script."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"0 " + base64.b64encode(b"poweroff -f") + b"\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc:
            # UML runs as several host processes in the group we started.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.made_modules:
            try:
                os.rmdir(MODULES)
            except OSError:
                pass            # another guest still uses it


# /proc/net/xfrm_stat's input errors: what a refused or unknown packet moves.
XFRM_IN_ERRORS = ("XfrmInError", "XfrmInHdrError", "XfrmInNoStates", "XfrmInStateProtoError",
                  "XfrmInStateSeqError", "XfrmInStateInvalid", "XfrmInNoPols",
                  "XfrmInTmplMismatch")


def xfrm_errors(guest, names=XFRM_IN_ERRORS):
    """The guest's xfrm input error counters (since its boot) by name."""
    stat = dict(line.split() for line in guest("cat", "/proc/net/xfrm_stat").stdout.splitlines())
    return {k: int(stat[k]) for k in names}


def xfrm_states(guest):
    """`ip -s xfrm state` by SPI: packets, bytes, and the three input errors: too_old
    (left of the replay window, "replay-window"), replay (seen before) and failed
    (integrity).  With ESN a packet from left of the window counts as failed: the
    kernel takes it for the next 2^32 subspace (RFC 4303 Appendix A2.2)."""
    out = guest("ip", "-s", "xfrm", "state").stdout
    states = {}
    for block in re.split(r"\n(?=src )", out.strip()):
        spi = re.search(r"spi (0x[0-9a-f]+)", block)
        cur = re.search(r"lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)", block)
        st = re.search(r"replay-window (\d+) replay (\d+) failed (\d+)", block)
        if spi and cur and st:
            states[int(spi.group(1), 16)] = {
                "bytes": int(cur.group(1)), "packets": int(cur.group(2)),
                "too_old": int(st.group(1)), "replay": int(st.group(2)),
                "failed": int(st.group(3))}
    return states


class GuestProc:
    """A background process in the guest, read like subprocess.Popen's stdout."""

    def __init__(self, guest, pid, out):
        self.guest, self.pid, self.out, self.seen = guest, pid, out, 0
        self.stdout = self
        self.returncode = None

    def readline(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            # Whether it has exited, before reading: a line written just
            # before the exit is then in what is read.
            done = self.poll() is not None
            lines = self.guest.sh(f"cat {self.out}", check=False,
                                  idempotent=True).stdout.splitlines(True)
            if len(lines) > self.seen and (lines[self.seen].endswith("\n") or done):
                self.seen += 1
                return lines[self.seen - 1]
            if done:
                return ""
            time.sleep(0.05)
        raise GuestError(f"UML guest: no output from process {self.pid} in {timeout} s")

    def poll(self):
        if self.returncode is None and self.guest.sh(f"kill -0 {self.pid}", check=False,
                                                     idempotent=True).returncode:
            self.returncode = 0
        return self.returncode

    def wait(self, timeout=30):
        end = time.time() + timeout
        while self.poll() is None:
            if time.time() > end:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def kill(self):
        self.guest.sh(f"kill -9 {self.pid}", check=False)
