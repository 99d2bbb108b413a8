# SPDX-License-Identifier: GPL-2.0-only
"""
No client can stall the agent (daemon/server.c): with 200 idle connections
and one half-sent request held open, ipsecifctl still answers at once and an
SA's time lifetime still ends on time; a client that never reads a large
reply holds up no one; the held connections are closed at their deadline.
"""
import json
import socket
import struct
import subprocess
import time

from agents import CTL, agent_sites, ctl, sa_key, setkey
from netns import in_netns

MAGIC, VERSION, SETKEY = 0x46495349, 1, 2


def connections(ns, n):
    """n connections to ns's agent, open and silent."""
    out = []
    with in_netns(ns):
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)     # a full listen backlog would block the connect
            s.connect("\0ipsecif-agent")
            s.settimeout(None)
            out.append(s)
    return out


def timed_ctl(ns, *args):
    t = time.monotonic()
    r = subprocess.run(["ip", "netns", "exec", ns.name, CTL] + list(args), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - t, r.stdout


def test_idle_and_half_sent_clients_stall_no_one(host_bpffs):
    with agent_sites(1) as (a,):
        ctl(a, "ipsec0", "create", "reqid", "100", "inet", "tunnel", "10.9.0.1", "10.8.0.1")
        # Baseline: what a request costs here, ip netns exec included.
        base = min(timed_ctl(a, "-j")[0] for _ in range(3))
        idle = connections(a, 200)
        half = connections(a, 1)[0]
        hdr = struct.pack("<IHHII", MAGIC, VERSION, SETKEY, 64, 0)
        half.sendall(hdr[:8])             # 8 of the header's 16 bytes, then nothing
        r = setkey(a, f"add 10.9.0.1 10.8.0.1 esp 4096 -u 100 -lh 2 -E aes-gcm-16 "
                      f"{sa_key(4096)};\n")
        assert r.returncode == 0, r.stderr
        added = time.monotonic()
        took, out = timed_ctl(a, "-j")
        assert json.loads(out)["interfaces"][0]["name"] == "ipsec0"
        # Within 100 ms of what the same request costs with no one else about.
        assert took < base + 0.1, (took, base)
        # The SA's hard lifetime (2 s) still ends on time, the clients still open.
        while time.monotonic() < added + 3.5:
            sas = json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]
            if not sas:
                break
            time.sleep(0.1)
        assert not sas and time.monotonic() - added < 3.5, sas
        # Their time up (5 s to send a request), the agent closes them; the
        # half-sent one hears what was missing.
        half.settimeout(10)
        reply = half.recv(4096)
        assert b"short" in reply or b"header" in reply, reply
        idle[0].settimeout(10)
        assert idle[0].recv(1) == b""
        for s in idle + [half]:
            s.close()


def test_a_client_that_never_reads_holds_up_no_one(host_bpffs):
    """A reply far larger than a socket buffer, to a client that does not read
    it: others are served meanwhile, and the connection goes at its deadline."""
    with agent_sites(1) as (a,):
        r = setkey(a, "".join(f"add 10.1.0.1 10.2.{i >> 8}.{i & 255} esp {1000 + i} -u 100 "
                              f"-E aes-gcm-16 {sa_key(1000 + i)};\n" for i in range(3000)))
        assert r.returncode == 0, r.stderr
        s = connections(a, 1)[0]
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(struct.pack("<IHHII", MAGIC, VERSION, SETKEY, 5, 0) + b"dump;")
        time.sleep(0.3)                    # about 900 KB wait for it, unread
        took, out = timed_ctl(a, "-j")
        assert json.loads(out)["interfaces"] == []
        assert took < 2, took
        # Its reply not taken for 5 s: the agent lets it go.
        time.sleep(6)
        s.settimeout(5)
        got = 0
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
        assert 0 < got < 900000, got
        s.close()
