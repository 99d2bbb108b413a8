# SPDX-License-Identifier: GPL-2.0-only
"""
ipsecif-agent's life: start returns once ready, one agent per network
namespace (the pin folder is its lock), status with JSON, pins that
outlive a plain stop and are adopted by the next start, stop --flush
leaving nothing, bpftool reaching the maps from any "ip netns exec"
shell, and a control socket that answers malformed or unprivileged
requests with a reason and carries on.
"""
import json
import os
import struct
import subprocess

import pytest

from agents import AGENT, MAGIC, agent, pin_dir, wait_gone
from netns import Netns

@pytest.fixture
def ns(host_bpffs):
    n = Netns()
    yield n
    agent(n, "stop", "--flush", check=False)
    wait_gone(n)
    n.close()


def status(ns):
    return json.loads(agent(ns, "status", "-j").stdout)


def raw_request(ns, data, uid=None):
    """Send bytes to the namespace's agent; (status, text) of its reply."""
    code = """
import os, socket, struct, sys
if sys.argv[2] != "-":
    os.setuid(int(sys.argv[2]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\\0ipsecif-agent")
try:    # the agent may answer and close before reading it all
    s.sendall(bytes.fromhex(sys.argv[1]))
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
h = b""
while len(h) < 16:
    b = s.recv(16 - len(h))
    if not b:
        break
    h += b
magic, ver, typ, ln, flags = struct.unpack("<IHHII", h)
body = b""
while len(body) < ln:
    b = s.recv(ln - len(body))
    if not b:
        break
    body += b
st = struct.unpack("<i", body[:4])[0]
print(st, body[4:].decode())
"""
    r = subprocess.run(["ip", "netns", "exec", ns.name, "/usr/bin/python3", "-c", code,
                        data.hex(), "-" if uid is None else str(uid)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    st, _, text = r.stdout.partition(" ")
    return int(st), text


def msg(typ, payload=b"", flags=0, magic=MAGIC, version=1, length=None):
    return struct.pack("<IHHII", magic, version, typ,
                       len(payload) if length is None else length, flags) + payload


def test_start_status_and_one_per_namespace(ns):
    r = agent(ns, "start")
    assert r.stdout == "" and r.stderr == ""
    st = status(ns)
    assert st["running"] and st["pin_dir"] == pin_dir(ns)
    assert os.path.exists(f"/proc/{st['pid']}")
    r = agent(ns, "start", check=False)
    assert r.returncode == 1 and "already running in this network namespace" in r.stderr
    # A second namespace has its own agent, pins and socket.
    other = Netns()
    try:
        agent(other, "start")
        assert status(other)["pin_dir"] != st["pin_dir"]
        assert status(ns)["pid"] == st["pid"]
    finally:
        agent(other, "stop", "--flush", check=False)
        wait_gone(other)
        other.close()


def test_pins_outlive_stop_and_are_adopted(ns):
    agent(ns, "start")
    pins = pin_dir(ns)
    assert "sa_in" in os.listdir(pins)
    # bpftool reaches the maps from another "ip netns exec" shell.
    out = ns("bpftool", "-j", "map", "dump", "pinned", f"{pins}/sa_in").stdout
    assert json.loads(out) == []
    before = ns("bpftool", "-j", "map", "show", "pinned", f"{pins}/keys").stdout
    agent(ns, "stop")
    wait_gone(ns)
    assert "sa_in" in os.listdir(pins), "a plain stop must leave the data path's maps"
    agent(ns, "start")
    after = ns("bpftool", "-j", "map", "show", "pinned", f"{pins}/keys").stdout
    assert json.loads(after)["id"] == json.loads(before)["id"], "the restart did not adopt"
    agent(ns, "stop", "--flush")
    wait_gone(ns)
    assert not os.path.exists(pins), "stop --flush left pins behind"


def test_bad_requests_get_reasons_and_the_agent_carries_on(ns):
    agent(ns, "start")
    cases = [
        (b"\x01\x02\x03", "shorter than its header"),
        (msg(3, magic=0xdeadbeef), "not an ipsecif control message"),
        (msg(3, version=9), "version 9"),
        (msg(77), "unknown request type 77"),
        (msg(3, flags=0x40), "unknown flags"),
        (msg(2, b"x" * 10, length=2 << 20), "over the"),
        (msg(1, b"ipsec0"), "argument 1 is not terminated"),
        (msg(3, b"junk"), "takes no payload"),
    ]
    for data, why in cases:
        st, text = raw_request(ns, data)
        assert st < 0 and why in text, (data[:20], st, text)
        assert status(ns)["running"]
    # Only root may talk to it.
    st, text = raw_request(ns, msg(3), uid=65534)
    assert st == -1 and "only root" in text     # -EPERM
    assert status(ns)["running"]


def test_cli_errors():
    r = subprocess.run([AGENT], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([AGENT, "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "'frobnicate': unknown command" in r.stderr
    r = subprocess.run([AGENT, "stop", "--now"], capture_output=True, text=True)
    assert r.returncode == 2 and "'--now': unknown option for stop" in r.stderr


def test_status_when_not_running(ns):
    r = agent(ns, "status", check=False)
    assert r.returncode == 1 and "not running in this network namespace" in r.stderr
