# SPDX-License-Identifier: GPL-2.0-only
"""
IKEv2 through strongSwan's charon and the kernel-ipsecif plugin: two
sites, each its own agent and charon in its own network namespace (and
charon in its own mount namespace), keyed with a pre-shared key.

    site A  ul0 192.0.2.1 ---- veth ---- ul0 192.0.2.2  site B
            ipsec0 reqid 100                ipsec0 reqid 200
            172.16.100.1 -> 172.16.200.1    172.16.200.1 -> 172.16.100.1

Tunnels come up by trap on the first packet (start_action = trap: the
data path's acquire through the agent and the plugin into charon).
"""
import json
import os
import re
import subprocess
import time

import pytest

from agents import agent, ctl, wait_gone
from charon import Charon, swanctl_conf, wait_for
from netns import Netns
from sites import transfer

UL = {"a": "192.0.2.1", "b": "192.0.2.2"}
INNER = {"a": "172.16.100.1", "b": "172.16.200.1"}
INNER6 = {"a": "fd00:100::1", "b": "fd00:200::1"}
REQID = {"a": 100, "b": 200}

# ESP proposals: the AEAD suites the data path has, with ESN on and off.
SUITES = ["chacha20poly1305-esn", "chacha20poly1305-noesn", "aes128gcm16-esn",
          "aes256gcm16-noesn"]


class Site:
    def __init__(self, name, ns):
        self.name, self.ns, self.charon = name, ns, None
        self.peer = "b" if name == "a" else "a"

    def ipsec0(self):
        return json.loads(ctl(self.ns, "-j", "ipsec0").stdout)["interfaces"][0]

    def sas(self):
        return json.loads(ctl(self.ns, "-j", "setkey", "-D").stdout)["sas"]


def make_sites():
    a, b = Netns(), Netns()
    sites = [Site("a", a), Site("b", b)]
    a("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name)
    for s in sites:
        n = s.name
        s.ns("ip", "addr", "add", f"{UL[n]}/24", "dev", "ul0")
        s.ns("ip", "link", "set", "ul0", "up")
        agent(s.ns, "start")
        ctl(s.ns, "ipsec0", "create", "reqid", str(REQID[n]))
        ctl(s.ns, "ipsec0", "inet", "tunnel", UL[n], UL[s.peer])
        ctl(s.ns, "ipsec0", "inet", f"{INNER[n]}/32", INNER[s.peer])
        ctl(s.ns, "ipsec0", "inet6", f"{INNER6[n]}/128")
        s.ns("ip", "-6", "route", "add", f"{INNER6[s.peer]}/128", "dev", "ipsec0")
    return sites


def close_sites(sites):
    for s in sites:
        if s.charon:
            s.charon.close()
    for s in sites:
        agent(s.ns, "stop", "--flush", check=False)
        wait_gone(s.ns)
        s.ns.close()


@pytest.fixture
def sites(host_bpffs):
    s = make_sites()
    try:
        yield s
    finally:
        close_sites(s)


def start_charons(sites, esp, **kw):
    psk = os.urandom(16).hex()
    for s in sites:
        s.charon = Charon(s.ns)
        s.charon.load(swanctl_conf(UL[s.name], UL[s.peer], f"{s.name}.test", f"{s.peer}.test",
                                   REQID[s.name], esp, psk, **kw))


def capture_first(site, dev, flt):
    """tcpdump's timestamp of the first packet matching flt on dev, once it listens."""
    p = subprocess.Popen(["ip", "netns", "exec", site.ns.name, "tcpdump", "-i", dev, "-n", "-tt",
                          "-c", "1", "-l", "-Q", "out", flt],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "listening on" in line:
            return p
    raise AssertionError(f"tcpdump on {dev} did not start")


def first_time(p):
    try:
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return float(out.split()[0])


def ping(site, count, interval="0.01", dst=None, deadline=None):
    args = ["ping", "-c", str(count), "-i", interval, "-W", "1"]
    if deadline:
        args += ["-w", str(deadline)]
    r = site.ns(*args, dst or INNER[site.peer], check=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def drops(site):
    return site.ipsec0()["drops"]


@pytest.mark.parametrize("esp", SUITES)
def test_trap_ping_transfer(sites, esp):
    a, b = sites
    start_charons(sites, esp)
    # The trap is in: policies installed, no SA yet.
    assert "net" in a.charon.swanctl("--list-pols").stdout
    assert a.sas() == []
    # The first packet routed into ipsec0, and the first ESP one out of ul0.
    inner = capture_first(a, "ipsec0", "icmp")
    sealed = capture_first(a, "ul0", f"src {UL['a']} and esp")
    flow = subprocess.Popen(["ip", "netns", "exec", a.ns.name, "ping", "-c", "1000", "-i",
                             "0.01", INNER["b"]], stdout=subprocess.DEVNULL)
    try:
        t_first, t_esp = first_time(inner), first_time(sealed)
    finally:
        flow.kill()
        flow.wait()
    print(f"\n{esp}: first packet to first ESP packet: {1000 * (t_esp - t_first):.1f} ms")
    assert re.search(r"ipsecif: acquire for reqid 100|acquire", a.charon.log())
    assert a.charon.count(r"CHILD_SA net\{\d+\} established") == 1
    # Both directions, both inner families, and TCP with its content hashed.
    assert ping(a, 20) == (20, 20)
    assert ping(b, 20) == (20, 20)
    assert ping(a, 5, dst=INNER6["b"]) == (5, 5)
    transfer(a.ns, b.ns, INNER["b"], size=4 * 1000 * 1000)
    transfer(b.ns, a.ns, INNER["a"], size=4 * 1000 * 1000)
    # charon's SAs are the agent's, with the suite charon negotiated.
    for s in sites:
        sas = s.sas()
        assert len(sas) == 2 and all(x["state"] == "active" for x in sas), sas
        assert all(x["esn"] == esp.endswith("-esn") for x in sas), sas
        assert all(x["reqid"] == REQID[s.name] for x in sas), sas
        d = drops(s)
        assert d["auth"] == 0 and d["replay"] == 0, d
    listed = a.charon.swanctl("--list-sas").stdout
    assert "INSTALLED" in listed and "reqid 100" in listed, listed
