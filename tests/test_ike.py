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
import filecmp

from charon import INSTALLED, PLUGIN, Charon, swanctl_conf, wait_for
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


PSK_OF = {}


def start_charons(sites, esp, **kw):
    psk = os.urandom(16).hex()
    for s in sites:
        PSK_OF[s.name] = psk
        s.charon = Charon(s.ns)
        # A value given as {"a": ..., "b": ...} is per site.
        mine = {k: v[s.name] if isinstance(v, dict) else v for k, v in kw.items()}
        s.charon.load(swanctl_conf(UL[s.name], UL[s.peer], f"{s.name}.test", f"{s.peer}.test",
                                   REQID[s.name], esp, psk, **mine))


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


def ping(site, count, interval="0.01", dst=None):
    r = site.ns("ping", "-c", str(count), "-i", interval, "-W", "1", dst or INNER[site.peer],
                check=False)
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
    # The data path's acquire, through the agent and the plugin, into charon's trap.
    assert "ipsecif: acquire for reqid 100" in a.charon.log()
    assert "creating acquire job for policy with reqid {100}" in a.charon.log()
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


def doc_swanctl(host):
    """The swanctl.conf docs/STRONGSWAN.md gives for the FreeBSD example's host."""
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "STRONGSWAN.md")) as f:
        doc = f.read()
    m = re.search(r"```\n# swanctl.conf host " + host + r"\n(.*?)```", doc, re.S)
    assert m, f"no swanctl.conf for host {host} in docs/STRONGSWAN.md"
    return m.group(1)


def test_freebsd_example_swanctl(host_bpffs):
    """The FreeBSD if_ipsec(4) example's hosts, with the documented swanctl.conf."""
    a, b = Netns(), Netns()
    hosts = [Site("a", a), Site("b", b)]
    try:
        a("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name)
        for s, me, peer, reqid in ((hosts[0], "3", "5", 100), (hosts[1], "5", "3", 200)):
            s.ns("ip", "addr", "add", f"192.168.0.{me}/24", "dev", "ul0")
            s.ns("ip", "link", "set", "ul0", "up")
            agent(s.ns, "start")
            ctl(s.ns, "ipsec0", "create", "reqid", str(reqid))
            ctl(s.ns, "ipsec0", "inet", "tunnel", f"192.168.0.{me}", f"192.168.0.{peer}")
            ctl(s.ns, "ipsec0", "inet", f"172.16.0.{me}/16", f"172.16.0.{peer}")
            s.charon = Charon(s.ns)
            s.charon.load(doc_swanctl(s.name.upper()))
        assert wait_for(lambda: ping(hosts[0], 1, dst="172.16.0.5")[1] == 1, 15), \
            hosts[0].charon.log()
        assert ping(hosts[0], 10, dst="172.16.0.5") == (10, 10)
        assert ping(hosts[1], 10, dst="172.16.0.3") == (10, 10)
        for s, reqid in ((hosts[0], 100), (hosts[1], 200)):
            sas = s.sas()
            assert len(sas) == 2 and {x["reqid"] for x in sas} == {reqid}, sas
            assert all(x["esn"] and x["state"] == "active" for x in sas), sas
    finally:
        close_sites(hosts)


def test_interop_libipsec(sites):
    """
    Against charon with kernel-libipsec (strongSwan's user-space ESP over a
    TUN device) at site B instead of an agent: libipsec wants ESP in UDP
    (RFC 3948), so both charons encapsulate, and A's data path does.
    """
    a, b = sites
    agent(b.ns, "stop", "--flush")
    wait_gone(b.ns)
    b.ns("ip", "link", "del", "ipsec0", check=False)
    b.ns("ip", "addr", "add", f"{INNER['b']}/32", "dev", "lo")
    psk = os.urandom(16).hex()
    a.charon = Charon(a.ns)
    # libipsec has no ESN.
    a.charon.load(swanctl_conf(UL["a"], UL["b"], "a.test", "b.test", REQID["a"],
                               "aes256gcm16-noesn", psk))
    # libipsec routes what its policies cover into its TUN device (table 220).
    b.charon = Charon(b.ns, backend="libipsec", routes=True)
    conf = swanctl_conf(UL["b"], UL["a"], "b.test", "a.test", 1, "aes256gcm16-noesn", psk,
                        start="none")
    conf = conf.replace("reqid = 1\n", "").replace(
        "local_ts = 0.0.0.0/0, ::/0", f"local_ts = {INNER['b']}/32").replace(
        "remote_ts = 0.0.0.0/0, ::/0", f"remote_ts = {INNER['a']}/32")
    b.charon.load(conf)
    cap = capture_first(a, "ul0", f"src {UL['a']} and udp dst port 4500 and udp[8:4] != 0")
    try:
        assert wait_for(lambda: ping(a, 1)[1] == 1, 15), a.charon.log() + b.charon.log()
        first_time(cap)          # ESP in UDP 4500 left A
    finally:
        if cap.poll() is None:
            cap.kill()
    assert ping(a, 20) == (20, 20)
    transfer(a.ns, b.ns, INNER["b"], size=2 * 1000 * 1000)
    transfer(b.ns, a.ns, INNER["a"], size=2 * 1000 * 1000)
    sas = a.sas()
    assert len(sas) == 2 and all(x["natt"] == [4500, 4500] for x in sas), sas
    assert "TUNNEL-in-UDP" in a.charon.swanctl("--list-sas").stdout


def test_agent_restart_invisible(sites):
    """
    The agent restarts under a running tunnel and a running charon: the
    data path keeps carrying the flow, the plugin subscribes again, and
    the next rekey (raised by the new agent's lifetime timer from the
    adopted SA) goes through the new agent.
    """
    a, b = sites
    start_charons(sites, "aes128gcm16-esn", rekey="8s", life="40s", rand="1s")
    assert wait_for(lambda: ping(a, 1)[1] == 1, 15), a.charon.log()
    flow = subprocess.Popen(["ip", "netns", "exec", a.ns.name, "ping", "-c", "1200", "-i",
                             "0.01", INNER["b"]], stdout=subprocess.PIPE, text=True)
    try:
        agent(a.ns, "stop")
        wait_gone(a.ns)
        agent(a.ns, "start")
        assert wait_for(lambda: "subscribed again" in a.charon.log(), 10), a.charon.log()
        # A rekey after the restart: new SAs through the new agent.
        rekeys = len(set(re.findall(r"CHILD_SA net\{(\d+)\} established", a.charon.log())))
        assert wait_for(lambda: len(set(re.findall(r"CHILD_SA net\{(\d+)\} established",
                                                   a.charon.log()))) > rekeys, 20)
        out, _ = flow.communicate(timeout=60)
    finally:
        if flow.poll() is None:
            flow.kill()
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m and m.group(1) == m.group(2) == "1200", (out[-300:], drops(a), drops(b))
    assert "ipsecif:" not in "".join(x for x in a.charon.log().splitlines()
                                     if "failed" in x or "the agent:" in x)
    assert ping(a, 10) == (10, 10)


def test_charon_restart(sites):
    """charon stops: its SAs leave the agent; started again, traffic brings them back."""
    a, b = sites
    start_charons(sites, "chacha20poly1305-esn")
    assert wait_for(lambda: ping(a, 1)[1] == 1, 15), a.charon.log()
    assert len(a.sas()) == 2
    a.charon.close()
    assert wait_for(lambda: a.sas() == [], 5), a.sas()
    a.charon = Charon(a.ns)
    a.charon.load(swanctl_conf(UL["a"], UL["b"], "a.test", "b.test", REQID["a"],
                               "chacha20poly1305-esn", PSK_OF["a"]))
    assert wait_for(lambda: ping(a, 1)[1] == 1, 20), a.charon.log() + b.charon.log()
    assert ping(a, 20) == (20, 20)
    assert len(a.sas()) == 2
    assert wait_for(lambda: len(b.sas()) == 2, 10), b.sas()


def test_nat_traversal(host_bpffs):
    """
    Site A behind a masquerading router: charon detects the NAT (RFC 7296
    §2.23), both move to port 4500 and ask for UDP encapsulation, and the
    data paths send ESP in UDP with charon's ports (RFC 3948).

      A ul0 10.1.0.2 -- lan 10.1.0.1 [R] wan 192.0.2.254 -- ul0 192.0.2.2 B
    """
    a, b, r = Netns(), Netns(), Netns()
    sites = [Site("a", a), Site("b", b)]
    try:
        r("ip", "link", "add", "lan", "type", "veth", "peer", "name", "ul0", "netns", a.name)
        r("ip", "link", "add", "wan", "type", "veth", "peer", "name", "ul0", "netns", b.name)
        r("ip", "addr", "add", "10.1.0.1/24", "dev", "lan")
        r("ip", "addr", "add", "192.0.2.254/24", "dev", "wan")
        for dev in ("lan", "wan"):
            r("ip", "link", "set", dev, "up")
        r("sysctl", "-qw", "net.ipv4.ip_forward=1")
        subprocess.run(["ip", "netns", "exec", r.name, "nft", "-f", "-"], check=True, text=True,
                       input='table ip nat {\n chain post {\n'
                             '  type nat hook postrouting priority 100;\n'
                             '  oifname "wan" masquerade\n }\n}\n')
        ends = {"a": ("10.1.0.2", "192.0.2.2"), "b": ("192.0.2.2", "192.0.2.254")}
        for s in sites:
            me, peer = ends[s.name]
            s.ns("ip", "addr", "add", f"{me}/24", "dev", "ul0")
            s.ns("ip", "link", "set", "ul0", "up")
            agent(s.ns, "start")
            ctl(s.ns, "ipsec0", "create", "reqid", str(REQID[s.name]))
            ctl(s.ns, "ipsec0", "inet", "tunnel", me, peer)
            ctl(s.ns, "ipsec0", "inet", f"{INNER[s.name]}/32", INNER[s.peer])
        a("ip", "route", "add", "default", "via", "10.1.0.1")
        psk = os.urandom(16).hex()
        a_conf = swanctl_conf("10.1.0.2", "192.0.2.2", "a.test", "b.test", REQID["a"],
                              "aes128gcm16-esn", psk)
        # B cannot reach A through the NAT first: it answers only.
        b_conf = swanctl_conf("192.0.2.2", "%any", "b.test", "a.test", REQID["b"],
                              "aes128gcm16-esn", psk, start="none")
        for s, conf in ((sites[0], a_conf), (sites[1], b_conf)):
            s.charon = Charon(s.ns)
            s.charon.load(conf)
        cap = capture_first(sites[0], "ul0", "src 10.1.0.2 and udp dst port 4500 and "
                                             "udp[8:4] != 0")
        try:
            assert wait_for(lambda: ping(sites[0], 1)[1] == 1, 15), \
                sites[0].charon.log() + sites[1].charon.log()
            first_time(cap)      # ESP in UDP 4500 left A
        finally:
            if cap.poll() is None:
                cap.kill()
        assert "local host is behind NAT" in sites[0].charon.log()
        assert ping(sites[0], 20) == (20, 20)
        assert ping(sites[1], 20) == (20, 20)
        transfer(a, b, INNER["b"], size=2 * 1000 * 1000)
        for s in sites:
            sas = s.sas()
            assert len(sas) == 2 and all(x["natt"][0] and x["natt"][1] for x in sas), sas
            assert all(x["state"] == "active" for x in sas), sas
        assert "TUNNEL-in-UDP" in sites[1].charon.swanctl("--list-sas").stdout
    finally:
        close_sites(sites)
        r.close()


@pytest.mark.skipif(not os.path.exists(INSTALLED) or not filecmp.cmp(INSTALLED, PLUGIN, False),
                    reason="make install-plugin puts this build into charon's plugin folder")
def test_installed_plugin(sites):
    """charon loads the installed plugin by name from its folder, ahead of kernel-netlink."""
    a, b = sites
    psk = os.urandom(16).hex()
    for s in sites:
        s.charon = Charon(s.ns, preload=False)
        s.charon.load(swanctl_conf(UL[s.name], UL[s.peer], f"{s.name}.test", f"{s.peer}.test",
                                   REQID[s.name], "chacha20poly1305-esn", psk))
        assert wait_for(lambda: "subscribed to ipsecif-agent's events" in s.charon.log(), 5)
    assert wait_for(lambda: ping(a, 1)[1] == 1, 15), a.charon.log()
    assert ping(a, 10) == (10, 10)


def test_mobike_tunnel_follows(sites):
    """
    Site A's underlay address changes: charon moves the IKE_SA and its
    CHILD_SA with MOBIKE (RFC 4555), both plugins update the SAs in place,
    and both interfaces' tunnels follow.
    """
    a, b = sites
    # The second address outlives the first (else the kernel drops it too).
    a.ns("sysctl", "-qw", "net.ipv4.conf.ul0.promote_secondaries=1")
    a.ns("ip", "addr", "add", "192.0.2.11/24", "dev", "ul0")
    psk = os.urandom(16).hex()
    for s in sites:
        s.charon = Charon(s.ns)
        conf = swanctl_conf(UL[s.name], UL[s.peer], f"{s.name}.test", f"{s.peer}.test",
                            REQID[s.name], "aes128gcm16-esn", psk)
        # A may use either of its addresses; B answers whichever A uses.
        conf = conf.replace(f"local_addrs = {UL['a']}", "local_addrs = %any").replace(
            f"remote_addrs = {UL['a']}", "remote_addrs = %any")
        s.charon.load(conf)
    assert wait_for(lambda: ping(a, 1)[1] == 1, 15), a.charon.log()
    a.ns("ip", "addr", "del", f"{UL['a']}/24", "dev", "ul0")
    assert wait_for(lambda: a.ipsec0()["tunnel"]["src"] == "192.0.2.11" and
                    b.ipsec0()["tunnel"]["dst"] == "192.0.2.11", 15), \
        a.charon.log()[-3000:] + b.charon.log()[-3000:]
    assert wait_for(lambda: ping(a, 1)[1] == 1, 10)
    assert ping(a, 20) == (20, 20)
    assert ping(b, 20) == (20, 20)
    for s in sites:
        sas = s.sas()
        assert len(sas) == 2 and all(x["state"] == "active" for x in sas), sas
        assert all("192.0.2.11" in (x["src"], x["dst"]) for x in sas), sas
