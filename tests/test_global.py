# SPDX-License-Identifier: GPL-2.0-only
"""
The counters outside any SA or interface (the data path's global_stats:
packets for no known SA, malformed headers) shown by name in ipsecifctl,
text and JSON, so that an operator sees them without bpftool.

    a (agent, ipsec0 tunnel 10.77.0.1 --> 10.77.0.2)  ul0 ---- ul0  b (plain)
"""
import json
import subprocess

from agents import agent_sites, ctl, sa_key, setkey
from sites import veth

SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
for _ in range(int(sys.argv[2])):
    s.sendto(b"\\x00\\x00\\x10\\x00", (sys.argv[1], 0))   # an SPI and no more
"""


def test_global_counters_shown_by_name(host_bpffs):
    with agent_sites(1, plain=1) as (a, b):
        veth(a, "ul0", b, "ul0", ["10.77.0.1/24"], ["10.77.0.2/24"])
        ctl(a, "ipsec0", "create", "reqid", "100", "inet", "tunnel", "10.77.0.1", "10.77.0.2")
        # An SA pair: xdp_esp_in goes onto ul0 with the interface's first SA.
        r = setkey(a, "".join(f"add {s} {d} esp {spi} -u 100 -E aes-gcm-16 {sa_key(spi)};\n"
                              for s, d, spi in (("10.77.0.1", "10.77.0.2", 0x1001),
                                                ("10.77.0.2", "10.77.0.1", 0x1002))))
        assert r.returncode == 0, r.stderr
        g = json.loads(ctl(a, "-j").stdout)["global"]
        assert set(g) == {"in", "out"} and not any(g["in"]["drops"].values()), g
        assert "global" not in ctl(a).stdout     # nothing to show yet in text
        subprocess.run(["ip", "netns", "exec", b.name, "/usr/bin/python3", "-c", SEND,
                        "10.77.0.1", "3"], check=True, timeout=30)
        g = json.loads(ctl(a, "-j").stdout)["global"]
        # Four bytes of ESP: no SPI and sequence number to read, no SA to name.
        assert g["in"]["drops"]["malformed"] == 3, g
        assert sum(g["in"]["drops"].values()) == 3 and g["in"]["packets"] == 0, g
        assert not any(g["out"]["drops"].values()), g
        text = ctl(a).stdout
        assert "global: outside any SA or interface\n\tin: packets 0 bytes 0 drops malformed 3\n" \
            in text, text
        # ipsec0's own counters did not take them.
        assert not any(json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]["drops"].values())
