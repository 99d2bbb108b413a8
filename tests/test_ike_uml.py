# SPDX-License-Identifier: GPL-2.0-only
"""
IKEv2 against strongSwan with the Linux kernel's ESP: charon with
kernel-ipsecif and ipsecif-agent at site A, charon with kernel-netlink in
a User-Mode Linux guest (tests/uml.py) at site G.

  ns A: ipsec0 reqid 100, 172.16.100.1 / fd00:100::1     UML guest: lo 172.16.200.1
        ul0 192.0.2.1  ------------- veth -------------  vec0 192.0.2.2  fd00:200::1

A's child is route-based (0.0.0.0/0, ::/0, start_action = trap); the
guest's narrows it to its own addresses.  The first packet into ipsec0
brings the tunnel up; pings and TCP cross both ways; the counted pings
move A's SA counters and the kernel's by the same amount; then CHILD_SA
rekeys started by each side, under a ping every 10 ms, lose nothing.
"""
import json
import os
import re

import pytest

from agents import agent, ctl, wait_gone
from charon import Charon, GuestCharon, swanctl_conf, wait_for
from netns import Netns
from sites import transfer
from test_ike import ping
from uml import Guest, xfrm_errors, xfrm_states

UL_A, UL_G = "192.0.2.1", "192.0.2.2"
IN_A, IN_G = "172.16.100.1", "172.16.200.1"
IN6_A, IN6_G = "fd00:100::1", "fd00:200::1"
REQID = 100
# The guest's input errors that a lost or refused packet of ours moves.
LOST = ("XfrmInNoStates", "XfrmInStateProtoError", "XfrmInStateSeqError")


class SiteA:
    """What test_ike's helpers expect of a site."""

    def __init__(self, ns):
        self.ns, self.peer, self.charon = ns, "g", None

    def sas(self):
        return json.loads(ctl(self.ns, "-j", "setkey", "-D").stdout)["sas"]

    def drops(self):
        return json.loads(ctl(self.ns, "-j", "ipsec0").stdout)["interfaces"][0]["drops"]


@pytest.fixture(scope="module")
def ends(host_bpffs):
    ns = Netns()
    guest = a = None
    try:
        guest = Guest(ns, "ul0")
        guest.sh("for m in esp4 esp6 xfrm_user chacha20poly1305 gcm; do modprobe $m; done")
        guest.sh(f"ip addr add {UL_G}/24 dev vec0 && ip link set vec0 up && "
                 f"ip addr add {IN_G}/32 dev lo && ip -6 addr add {IN6_G}/128 dev lo")
        ns("ip", "addr", "add", f"{UL_A}/24", "dev", "ul0")
        ns("ip", "link", "set", "ul0", "up")
        agent(ns, "start")
        ctl(ns, "ipsec0", "create", "reqid", str(REQID))
        ctl(ns, "ipsec0", "inet", "tunnel", UL_A, UL_G)
        ctl(ns, "ipsec0", "inet", f"{IN_A}/32", IN_G)
        ctl(ns, "ipsec0", "inet6", f"{IN6_A}/128")
        ns("ip", "-6", "route", "add", f"{IN6_G}/128", "dev", "ipsec0")
        a = SiteA(ns)
        yield a, guest
    finally:
        if a and a.charon:
            a.charon.close()
        agent(ns, "stop", "--flush", check=False)
        wait_gone(ns)
        if guest:
            guest.close()
        ns.close()


def up(a, guest, esp, **kw):
    """Both charons with esp; A's by trap, the guest's answering only."""
    psk = os.urandom(16).hex()
    if a.charon:
        a.charon.close()
    guest.sh("kill $(cat /run/charon.pid) 2>/dev/null; ip xfrm state flush; "
             "ip xfrm policy flush; true")
    wait_for(lambda: guest.sh("test -e /run/charon.pid", check=False).returncode, 10)
    a.charon = Charon(a.ns)
    a.charon.load(swanctl_conf(UL_A, UL_G, "a.test", "g.test", REQID, esp, psk, **kw))
    g = GuestCharon(guest)
    conf = swanctl_conf(UL_G, UL_A, "g.test", "a.test", 1, esp, psk, start="none", **kw)
    conf = conf.replace("local_ts = 0.0.0.0/0, ::/0", f"local_ts = {IN_G}/32, {IN6_G}/128")
    conf = conf.replace("remote_ts = 0.0.0.0/0, ::/0", f"remote_ts = {IN_A}/32, {IN6_A}/128")
    g.load(conf)
    return g


def counted(a, guest):
    """Our outbound/inbound SA counters beside the kernel's, by SPI."""
    ours = {s["spi"]: s for s in a.sas() if s["state"] == "active"}
    theirs = xfrm_states(guest)
    return {spi: (ours[spi]["packets"], theirs[spi]["packets"]) for spi in ours if spi in theirs}


@pytest.mark.parametrize("esp", ["chacha20poly1305-esn", "aes128gcm16-noesn", "aes256gcm16-esn"])
def test_trap_traffic_counters(ends, esp):
    a, guest = ends
    g = up(a, guest, esp)
    assert a.sas() == []
    # The trap: the first packet into ipsec0 raises the acquire.
    assert wait_for(lambda: ping(a, 1, dst=IN_G)[1] == 1, 20), a.charon.log() + g.log()
    assert a.charon.count(r"CHILD_SA net\{\d+\} established") == 1
    assert ping(a, 10, dst=IN6_G) == (10, 10)
    transfer(a.ns, guest, IN_G, size=5 * 1000 * 1000)
    transfer(guest, a.ns, IN_A, size=5 * 1000 * 1000)
    # The SAs charon installed: one pair, the negotiated ESN, A's reqid.
    sas = a.sas()
    assert len(sas) == 2 and all(s["reqid"] == REQID for s in sas), sas
    assert all(s["esn"] == esp.endswith("-esn") for s in sas), sas
    before = counted(a, guest)
    assert len(before) == 2, (before, a.sas(), xfrm_states(guest))
    assert ping(a, 20, interval="0.02", dst=IN_G) == (20, 20)
    after = counted(a, guest)
    for spi in before:
        moved = [after[spi][k] - before[spi][k] for k in (0, 1)]
        assert moved == [20, 20], (spi, before, after)
    for st in xfrm_states(guest).values():
        assert st["too_old"] == st["replay"] == st["failed"] == 0, st
    d = a.drops()
    assert d["auth"] == 0 and d["replay"] == 0 and d["too_old"] == 0, d


def test_rekeys_lossless(ends):
    """CHILD_SA rekeys started by A, then by the guest, under a ping every
    10 ms: none lost, no replay or authentication drop on either side."""
    a, guest = ends
    g = up(a, guest, "aes128gcm16-esn")
    assert wait_for(lambda: ping(a, 1, dst=IN_G)[1] == 1, 20), a.charon.log() + g.log()
    first = {s["spi"] for s in a.sas()}
    errors = xfrm_errors(guest, LOST)     # the guest's counters are since boot: this test's part
    flow = a.ns.popen(["ping", "-c", "600", "-i", "0.01", "-W", "1", IN_G])
    try:
        for who in (a.charon, g, a.charon, g):
            n = a.charon.count(r"CHILD_SA net\{\d+\} established")
            who.swanctl("--rekey", "--child", "net")
            assert wait_for(lambda: a.charon.count(r"CHILD_SA net\{\d+\} established") > n
                            and len(a.sas()) == 2, 15), a.charon.log()
        out, _ = flow.communicate(timeout=60)
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.wait()
    # Four rekeys: the SAs in use now are none of the first ones.
    assert first and not first & {s["spi"] for s in a.sas()}, (first, a.sas())
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m and m.group(1) == m.group(2) == "600", out
    d = a.drops()
    assert d["auth"] == 0 and d["replay"] == 0 and d["too_old"] == 0, d
    for st in xfrm_states(guest).values():
        assert st["too_old"] == st["replay"] == st["failed"] == 0, st
    assert xfrm_errors(guest, LOST) == errors, (errors, xfrm_errors(guest, LOST))
