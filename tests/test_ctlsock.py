# SPDX-License-Identifier: GPL-2.0-only
"""
The control socket's two ends.  Its name is abstract (@ipsecif-agent, one
per network namespace), so no file mode guards it:

  - a process of another user may bind the name while no agent runs; the
    clients (ipsecifctl, ipsecif-agent status/stop, the charon plugin)
    must see that the listener is not root's and send it nothing, keys
    least of all, with a message saying who holds the name;
  - a caller that is not root is refused by the agent before it reads the
    request; the refusal must reach the caller every time, even when the
    agent has closed before the request was sent (EPIPE, ECONNRESET).
"""
import os
import shutil
import subprocess

import pytest

from agents import AGENT, CTL, agent, agent_sites, pin_dir, sa_key
from netns import Netns

NOBODY = 65534
PYTHON = "/usr/bin/python3"

# Binds @ipsecif-agent as nobody and counts what arrives, until stdin closes.
SQUATTER = r"""
import os, select, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0ipsecif-agent"); s.listen(64)
print("listening", os.getpid(), flush=True)
conns, accepted, got = [], 0, 0
def read(c):  # what came, recorded; then the client is let go (no reply)
    global got
    b = c.recv(1 << 16)
    got += len(b)
    conns.remove(c); c.close()
while True:
    r = select.select([s, sys.stdin] + conns, [], [])[0]
    if s in r:
        conns.append(s.accept()[0]); accepted += 1
    for c in [c for c in conns if c in r]:
        read(c)
    if sys.stdin in r:
        break
s.setblocking(False)
while True:
    try:
        conns.append(s.accept()[0]); accepted += 1
    except BlockingIOError:
        break
while conns:
    read(conns[0])
print(accepted, got, flush=True)
"""

# Runs argv[1:] as nobody (the namespace is entered as root first).
AS_NOBODY = ("import os, sys; os.setgroups([]); os.setgid(65534); os.setuid(65534); "
             "os.execv(sys.argv[1], sys.argv[1:])")

SCRIPT = (f"add 10.0.0.1 10.0.0.2 esp 1000 -u 1 -E aes-gcm-16 {sa_key(0x5ec7e7)};\n"
          f"add 10.0.0.2 10.0.0.1 esp 1001 -u 1 -E aes-gcm-16 {sa_key(0x5ec7e7)};\n")


class Squatter:
    def __init__(self, ns):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns.name, PYTHON, "-c", SQUATTER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        word, pid = self.p.stdout.readline().split()
        assert word == "listening"
        self.pid = int(pid)

    def finish(self):
        """(connections accepted, bytes received), the squatter gone."""
        out = self.p.communicate(timeout=10)[0].split()
        return int(out[0]), int(out[1])

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def squatted():
    ns = Netns()
    sq = Squatter(ns)
    try:
        yield ns, sq
    finally:
        sq.kill()
        ns.close()


def run(ns, argv, stdin=None):
    return subprocess.run(["ip", "netns", "exec", ns.name] + argv, input=stdin,
                          capture_output=True, text=True, timeout=30)


def refusal(sq):
    return (f"the control socket @ipsecif-agent is held by uid {NOBODY} (pid {sq.pid}), "
            "not by a root ipsecif-agent: refusing to send")


def test_ctl_sends_nothing_to_a_squatter(squatted):
    ns, sq = squatted
    r = run(ns, [CTL, "setkey", "-c"], SCRIPT)
    r2 = run(ns, [CTL, "ipsec0", "create"])
    accepted, got = sq.finish()
    assert r.returncode != 0 and r2.returncode != 0
    assert r.stderr == f"ipsecifctl: {refusal(sq)}\n", r.stderr
    assert refusal(sq) in r2.stderr, r2.stderr
    # Both connected (the check is on the connected socket), neither sent a byte.
    assert accepted == 2 and got == 0, (accepted, got)


def test_agent_status_stop_send_nothing_to_a_squatter(squatted):
    ns, sq = squatted
    rs = [run(ns, [AGENT, cmd]) for cmd in ("status", "stop")]
    accepted, got = sq.finish()
    assert all(r.returncode != 0 for r in rs), rs
    assert accepted == 2 and got == 0, (accepted, got)


def test_agent_status_names_the_squatter(squatted):
    ns, sq = squatted
    r = run(ns, [AGENT, "status"])
    sq.finish()
    assert refusal(sq) in r.stderr, r.stderr


def test_agent_start_names_the_squatter(squatted, host_bpffs):
    ns, sq = squatted
    try:
        r = agent(ns, "start", check=False)
        assert r.returncode != 0
        assert f"held by uid {NOBODY} (pid {sq.pid})" in r.stderr, r.stderr
    finally:
        sq.finish()
        shutil.rmtree(pin_dir(ns), ignore_errors=True)


TRIES = 50


def test_nobody_always_gets_the_refusal(host_bpffs):
    # A large request (half a megabyte of comments) is what the agent
    # closes on before it is sent: EPIPE or ECONNRESET while sending.
    big = "# " + "x" * 1000 + "\n"
    with agent_sites(1) as (ns,):
        bad = []
        for i in range(TRIES):
            argv = [PYTHON, "-c", AS_NOBODY]
            if i % 2:
                r = run(ns, argv + [CTL, "setkey", "-c"], big * 500 + SCRIPT)
            else:
                r = run(ns, argv + [AGENT, "status" if i % 4 else "stop"])
            if r.returncode == 0 or r.stderr != "ipsecif-agent: only root may talk to the agent\n":
                bad.append((i, r.returncode, r.stderr))
        assert not bad, f"{len(bad)} of {TRIES}: {bad[:5]}"
        # Still running, nothing added: the refusals changed nothing.
        st = agent(ns, "status")
        assert "0 SAs" in st.stdout, st.stdout
