# SPDX-License-Identifier: GPL-2.0-only
"""
Once an SA is in, the agent's own memory holds none of its keys: the
request that carried them, the decoded request, setkey's parsed script and
the key-install request are wiped before they are freed, and the agent
keeps no copy (the data path has the keys).  The agent's writable memory
(heap, stack, anonymous mappings) is read through /proc/PID/mem.
"""
import json
import re

import pytest

from agents import agent, ctl, setkey
from test_freebsd import hosts  # noqa: F401  (fixture)

# Distinctive keys: no other bytes in the agent look like them.
KEYS = {"aes-gcm-16": "0x" + "5aa5c33c" * 5,
        "chacha20-poly1305": "0x" + "96e17b2d" * 9}


def writable_memory(pid):
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw.p \S+ \S+ \d+\s*(.*)", line)
            if not m or m.group(3) not in ("", "[heap]", "[stack]"):
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            try:
                mem.seek(start)
                yield mem.read(end - start)
            except OSError:
                continue


@pytest.mark.parametrize("alg", list(KEYS))
def test_agent_keeps_no_key_in_memory(hosts, alg):
    a, _ = hosts
    key = KEYS[alg]
    ctl(a, "ipsec0", "create", "reqid", "100", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    r = setkey(a, f"add 192.168.0.3 192.168.0.5 esp 10000 -u 100 -E {alg} {key};\n"
                  f"add 192.168.0.5 192.168.0.3 esp 10001 -u 100 -E {alg} {key};\n")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]) == 2
    pid = json.loads(agent(a, "status", "-j").stdout)["pid"]
    raw = bytes.fromhex(key[2:])
    for region in writable_memory(pid):
        # The key as sent (hex text) or as bytes, or any 8 bytes of it.
        assert key[2:].encode() not in region
        assert raw[:8] not in region and raw[-8:] not in region
