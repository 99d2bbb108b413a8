# SPDX-License-Identifier: GPL-2.0-only
"""
ipsecifctl's interface commands carried out by the agent, as the BSD
pages write them: devices made and configured, shown in text and JSON,
the data path's maps filled; refusals change nothing; destroy and
stop --flush leave nothing behind.
"""
import json
import os

import pytest

from dp import DROPS
from netns import Netns
from agents import agent, ctl, pin_dir, wait_gone
from test_freebsd import setkey

def links(ns):
    return {l["ifname"]: l for l in json.loads(ns("ip", "-j", "link").stdout)}


@pytest.fixture
def site(host_bpffs):
    ns = Netns()
    agent(ns, "start")
    yield ns
    agent(ns, "stop", "--flush", check=False)
    wait_gone(ns)
    ns.close()


def test_freebsd_example(site):
    """if_ipsec(4), host A, with ifconfig replaced by ipsecifctl."""
    ctl(site, "ipsec0", "create", "reqid", "100")
    ctl(site, "ipsec0", "inet", "tunnel", "192.168.0.3", "192.168.0.5")
    ctl(site, "ipsec0", "inet", "172.16.0.3/16", "172.16.0.5")
    l = links(site)
    assert "ipsec0" in l and "ipsec0p" in l
    assert "NOARP" in l["ipsec0"]["flags"] and "UP" in l["ipsec0"]["flags"]
    addrs = json.loads(site("ip", "-j", "addr", "show", "ipsec0").stdout)[0]["addr_info"]
    assert any(a["local"] == "172.16.0.3" and a.get("address") == "172.16.0.5" and
               a["prefixlen"] == 16 for a in addrs), addrs
    shown = json.loads(ctl(site, "-j").stdout)["interfaces"]
    assert shown == [{"name": "ipsec0", "reqid": 100, "up": True, "mtu": shown[0]["mtu"],
                      "flags": ["link2"],
                      "tunnel": {"family": "inet", "src": "192.168.0.3", "dst": "192.168.0.5"},
                      # No device holds 192.168.0.3 here: nothing for xdp_esp_in yet.
                      "attached": {"xdp_esp_in": None, "tc_esp_out": "tcx"},
                      "sas": [], "packets": 0, "bytes": 0, "fast": 0, "engine": 0,
                      "drops": shown[0]["drops"]}]
    assert list(shown[0]["drops"]) == DROPS and not any(shown[0]["drops"].values())
    assert 1280 <= shown[0]["mtu"] <= 1500
    text = ctl(site, "ipsec0").stdout
    assert "reqid 100" in text and "tunnel inet 192.168.0.3 --> 192.168.0.5" in text
    # The data path's view: the interface by reqid, both devices to the reqid.
    pins = pin_dir(site)
    ifaces = json.loads(site("bpftool", "-j", "map", "dump", "pinned", f"{pins}/ifaces").stdout)
    v = ifaces[0]["formatted"]["value"]
    assert ifaces[0]["formatted"]["key"] == 100 and v["reqid"] == 100 and v["flags"] == 4
    assert v["ifindex"] == l["ipsec0"]["ifindex"] and v["peer_ifindex"] == l["ipsec0p"]["ifindex"]
    reqids = json.loads(site("bpftool", "-j", "map", "dump", "pinned", f"{pins}/if_reqid").stdout)
    assert sorted(e["formatted"]["key"] for e in reqids) == sorted(
        [l["ipsec0"]["ifindex"], l["ipsec0p"]["ifindex"]])
    # tc_esp_out sits at the peer's ingress, through a pinned tcx link.
    link = json.loads(site("bpftool", "-j", "link", "show", "pinned",
                           f"{pins}/link_tc_{l['ipsec0p']['ifindex']}").stdout)
    prog = json.loads(site("bpftool", "-j", "prog", "show", "pinned",
                           f"{pins}/prog_tc_esp_out").stdout)
    assert link["prog_id"] == prog["id"], (link, prog)


def test_inner_peers_both_families(site):
    """inet and inet6 ADDR PEER: the peer is set for IPv6 too, with its route."""
    ctl(site, "ipsec0", "create", "inet", "172.16.0.1/32", "172.16.0.2",
        "inet6", "fd10::1/128", "fd10::2")
    addrs = json.loads(site("ip", "-j", "addr", "show", "ipsec0").stdout)[0]["addr_info"]
    got = {(a["family"], a["local"], a.get("address"), a["prefixlen"]) for a in addrs}
    assert got == {("inet", "172.16.0.1", "172.16.0.2", 32),
                   ("inet6", "fd10::1", "fd10::2", 128)}, got
    assert "dev ipsec0" in site("ip", "-6", "route", "get", "fd10::2").stdout


def test_json_escapes_what_a_name_may_hold(site):
    """The kernel takes a quote and a backslash in a device name: every JSON show
    escapes them (one writer, daemon/json.c), and the parsed name is the name."""
    name = 'q"b\\1'
    ctl(site, name, "create", "reqid", "7", "inet", "tunnel", "10.1.0.1", "10.1.0.2")
    assert name in links(site) and name + "p" in links(site)
    shown = json.loads(ctl(site, "-j").stdout)["interfaces"]
    assert [i["name"] for i in shown] == [name], shown
    assert json.loads(ctl(site, "-j", name).stdout)["interfaces"][0]["reqid"] == 7
    policies = json.loads(ctl(site, "-j", "setkey", "-DP").stdout)["policies"]
    assert {p["interface"] for p in policies} == {name} and len(policies) == 4, policies
    assert f"{name}: flags=<UP,link2>" in ctl(site, name).stdout
    ctl(site, name, "destroy")
    assert name not in links(site)


def test_netbsd_flags_and_mtu(site):
    ctl(site, "ipsec0", "create")
    ctl(site, "ipsec0", "tunnel", "192.168.0.1", "192.168.0.2")
    ctl(site, "ipsec0", "-link2", "link0", "link1", "mtu", "1300")
    s = json.loads(ctl(site, "-j", "ipsec0").stdout)["interfaces"][0]
    assert s["reqid"] == 1 and s["flags"] == ["link0", "link1"] and s["mtu"] == 1300
    assert links(site)["ipsec0"]["mtu"] == 1300


def test_refusals_change_nothing(site):
    ctl(site, "ipsec0", "create", "reqid", "100", "tunnel", "10.0.0.1", "10.0.0.2")
    before = (links(site).keys(), ctl(site, "-j").stdout)
    for args, why in (
            (["ipsec1", "create", "reqid", "100"], "reqid 100: ipsec0 has it already"),
            (["ipsec1", "create", "tunnel", "10.0.0.1", "10.0.0.2"], "ipsec0 has these endpoints"),
            (["ipsec0", "create"], "the interface exists"),
            (["ipsec9", "mtu", "1400"], "ipsec9: no such interface"),
            (["ipsec0", "mtu", "100"], "'100': the MTU is 1280 to 8192"),
            (["ipsec0", "bogus"], "'bogus': unknown word"),
            (["averyveryveryverylong", "create"], "1 to 15 characters"),
            (["ipsec0", "link0", "-link0"], "contradicts")):
        r = ctl(site, *args, check=False)
        assert r.returncode == 1 and why in r.stderr, (args, r.stderr)
        assert (links(site).keys(), ctl(site, "-j").stdout) == before, args


def test_destroy_and_flush_leave_nothing(site):
    ctl(site, "ipsec0", "create", "tunnel", "10.0.0.1", "10.0.0.2")
    ctl(site, "ipsec1", "create", "tunnel", "10.0.0.1", "10.0.0.3")
    ctl(site, "ipsec0", "destroy")
    assert "ipsec0" not in links(site) and "ipsec0p" not in links(site)
    assert [i["name"] for i in json.loads(ctl(site, "-j").stdout)["interfaces"]] == ["ipsec1"]
    pins = pin_dir(site)
    ifaces = json.loads(site("bpftool", "-j", "map", "dump", "pinned", f"{pins}/ifaces").stdout)
    assert [e["formatted"]["key"] for e in ifaces] == [2]
    agent(site, "stop", "--flush")
    wait_gone(site)
    assert set(links(site)) == {"lo"}


def test_no_agent():
    ns = Netns()
    try:
        r = ctl(ns, "ipsec0", "create", check=False)
        assert r.returncode == 1 and "no ipsecif-agent runs in this network namespace" in r.stderr
    finally:
        ns.close()


def xdp_prog(ns, dev):
    """The name of the XDP program on dev, or None."""
    info = json.loads(ns("ip", "-j", "-d", "link", "show", dev).stdout)[0]
    prog = info.get("xdp", {}).get("prog", {})
    if not prog:
        return None
    shown = json.loads(ns("bpftool", "-j", "prog", "show", "id", str(prog["id"])).stdout)
    return shown["name"]


def test_xdpfwd_flag(site):
    """xdpfwd sets IPSECIF_F_XDP_FWD (8) in the data path; shown, saved, cleared."""
    ctl(site, "ipsec0", "create", "tunnel", "10.0.0.1", "10.0.0.2")
    ctl(site, "ipsec0", "xdpfwd")
    assert json.loads(ctl(site, "-j", "ipsec0").stdout)["interfaces"][0]["flags"] == \
        ["link2", "xdpfwd"]
    assert "flags=<UP,link2,xdpfwd>" in ctl(site, "ipsec0").stdout
    pins = pin_dir(site)
    ifaces = json.loads(site("bpftool", "-j", "map", "dump", "pinned", f"{pins}/ifaces").stdout)
    assert ifaces[0]["formatted"]["value"]["flags"] == 4 | 8
    # A restarted agent adopts it from its state file.
    agent(site, "stop")
    wait_gone(site)
    agent(site, "start")
    assert json.loads(ctl(site, "-j").stdout)["interfaces"][0]["flags"] == ["link2", "xdpfwd"]
    ctl(site, "ipsec0", "-xdpfwd")
    ifaces = json.loads(site("bpftool", "-j", "map", "dump", "pinned", f"{pins}/ifaces").stdout)
    assert ifaces[0]["formatted"]["value"]["flags"] == 4


def test_lan_add_del(site):
    """lan add/del: xdp_lan on a LAN device through a pinned link; refusals name the device."""
    site("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p")
    site("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p")
    site("ip", "addr", "add", "10.0.0.1/24", "dev", "ul0")
    site("ip", "link", "set", "ul0", "up")
    ctl(site, "ipsec0", "create", "tunnel", "10.0.0.1", "10.0.0.2")
    key = "0x" + "11" * 36
    r = setkey(site, f"add 10.0.0.2 10.0.0.1 esp 0x100 -m tunnel -u 1 "
                     f"-E chacha20-poly1305 {key};\n")
    assert r.returncode == 0, r.stderr
    assert xdp_prog(site, "ul0") == "xdp_esp_in"

    ctl(site, "lan", "add", "lan0")
    assert xdp_prog(site, "lan0") == "xdp_lan"
    idx = site.ifindex("lan0")
    assert os.path.exists(f"{pin_dir(site)}/link_lan_{idx}")
    assert json.loads(ctl(site, "-j").stdout)["lan"] == ["lan0"]
    assert "lan: lan0" in ctl(site).stdout
    before = ctl(site, "-j").stdout
    for args, why in (
            (["lan", "add", "lan0"], "lan0: xdp_lan is on it already"),
            (["lan", "add", "nosuch0"], "nosuch0: no such device"),
            (["lan", "add", "ipsec0p"], "ipsec0p: an ipsecif interface"),
            (["lan", "add", "ul0"], "ul0: an underlay device, xdp_esp_in is on it"),
            (["lan", "del", "lan0p"], "lan0p: not a LAN device"),
            (["lan", "add"], "need a device")):
        r = ctl(site, *args, check=False)
        assert r.returncode == 1 and why in r.stderr, (args, r.stderr)
        assert ctl(site, "-j").stdout == before, args
    assert xdp_prog(site, "lan0p") is None

    # Adopted across a restart, the program in place all along.
    agent(site, "stop")
    wait_gone(site)
    assert xdp_prog(site, "lan0") == "xdp_lan"
    agent(site, "start")
    assert json.loads(ctl(site, "-j").stdout)["lan"] == ["lan0"]
    ctl(site, "lan", "del", "lan0")
    assert xdp_prog(site, "lan0") is None and json.loads(ctl(site, "-j").stdout)["lan"] == []
    assert not os.path.exists(f"{pin_dir(site)}/link_lan_{idx}")

    # A LAN device that goes away leaves the list (and its pin) with it.
    site("ip", "link", "add", "lan1", "type", "veth", "peer", "name", "lan1p")
    ctl(site, "lan", "add", "lan1")
    idx1 = site.ifindex("lan1")
    site("ip", "link", "del", "lan1")
    assert json.loads(ctl(site, "-j").stdout)["lan"] == []
    assert not os.path.exists(f"{pin_dir(site)}/link_lan_{idx1}")

    # stop --flush takes it off.
    ctl(site, "lan", "add", "lan0p")
    assert xdp_prog(site, "lan0p") == "xdp_lan"
    agent(site, "stop", "--flush")
    wait_gone(site)
    assert xdp_prog(site, "lan0p") is None and xdp_prog(site, "ul0") is None
