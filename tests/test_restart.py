# SPDX-License-Identifier: GPL-2.0-only
"""
An agent that dies (kill -9) or is stopped without --flush leaves its
pinned maps and attached programs in place: traffic keeps flowing, and the
next agent adopts the interfaces and SAs from its state file.
"""
import json
import os
import signal
import time

from agents import (AGENT, agent, agent_pids, bpf_calls, ctl, map_held, pin_dir, pinging, poll,
                    run_in, start_env, wait_gone)
from test_freebsd import PAGE, hosts, setkey  # noqa: F401  (fixture)

KEYS = ("0x" + "11" * 20, "0x" + "22" * 20)


def bring_up(a, b, alg="aes-gcm-16", keys=KEYS):
    """The FreeBSD example's two ends with alg; what each setkey printed."""
    said = []
    for ns, reqid, me, peer, inner_me, inner_peer in (
            (a, 100, "192.168.0.3", "192.168.0.5", "172.16.0.3", "172.16.0.5"),
            (b, 200, "192.168.0.5", "192.168.0.3", "172.16.0.5", "172.16.0.3")):
        ctl(ns, "ipsec0", "create", "reqid", str(reqid))
        ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
        ctl(ns, "ipsec0", "inet", f"{inner_me}/16", inner_peer)
        r = setkey(ns, "\n".join(PAGE).format(reqid=reqid, alg=alg,
                                              k1=keys[0], k2=keys[1]) + "\n")
        assert r.returncode == 0, r.stderr
        said.append(r.stdout)
    return said


def snapshot(ns):
    shown = json.loads(ctl(ns, "-j").stdout)["interfaces"]
    for i in shown:   # counters move with the pings
        del i["packets"], i["bytes"]
        for s in i["sas"]:
            del s["packets"], s["engine"]
    return shown, ctl(ns, "setkey", "-D").stdout, ctl(ns, "setkey", "-DP").stdout


def strip_counters(sad):
    # Counters move with the pings; everything else must be as it was.
    moving = ("current:", "bytes=", "packets=", "age=")
    return [" ".join(w for w in line.split() if not w.startswith(moving))
            for line in sad.splitlines()]


def attached(ns):
    """Program ids: tc_esp_out on ipsec0p's ingress, xdp_esp_in on ul0, and the pins'."""
    tc = json.loads(ns("bpftool", "-j", "net", "show", "dev", "ipsec0p").stdout)[0]["tc"]
    xdp = json.loads(ns("ip", "-j", "link", "show", "ul0").stdout)[0]["xdp"]["prog"]["id"]
    pins = {}
    for prog in ("tc_esp_out", "xdp_esp_in"):
        pins[prog] = json.loads(run_in(ns, "bpftool", "-j", "prog", "show", "pinned",
                                       f"{pin_dir(ns)}/prog_{prog}").stdout)["id"]
    # tc_esp_out through a pinned tcx link (no old-style TC filter left),
    # updated in place by each new agent, as the XDP link is.
    assert tc == [], tc
    tcx = json.loads(run_in(ns, "bpftool", "-j", "link", "show", "pinned",
                            f"{pin_dir(ns)}/link_tc_{ns.ifindex('ipsec0p')}").stdout)
    assert tcx["type"] in ("tcx", 11), tcx
    # XDP through a pinned bpf_link, updated in place by each new agent.
    link = json.loads(run_in(ns, "bpftool", "-j", "link", "show", "pinned",
                             f"{pin_dir(ns)}/link_xdp_{ns.ifindex('ul0')}").stdout)
    assert link["type"] == "xdp" and link["prog_id"] == xdp, link
    return tcx["prog_id"], xdp, pins


def restart(a, how):
    st = json.loads(agent(a, "status", "-j").stdout)
    assert st["interfaces"] == 1 and st["sas"] == 2, st
    if how == "kill":
        os.kill(st["pid"], signal.SIGKILL)
    else:
        agent(a, "stop")
    wait_gone(a)
    before = attached(a)
    # A restart that succeeds prints nothing: no libbpf error it handled.
    r = agent(a, "start")
    assert not r.stderr and not r.stdout, r.stderr
    st2 = json.loads(agent(a, "status", "-j").stdout)
    assert st2["pid"] != st["pid"] and st2["interfaces"] == 1 and st2["sas"] == 2, st2
    # The new agent's programs took over, in place, and are the pinned ones.
    tc, xdp, pins = attached(a)
    assert (tc, xdp) == (pins["tc_esp_out"], pins["xdp_esp_in"])
    assert tc != before[0] and xdp != before[1]


def test_restart_keeps_traffic_and_tables(hosts):
    a, b = hosts
    bring_up(a, b)
    before = snapshot(a)
    # 10 ms pings across two restarts, one crash and one clean stop.
    with pinging(a, "172.16.0.5", 6) as result:
        time.sleep(1)
        restart(a, "kill")
        time.sleep(1)
        restart(a, "stop")
        sent, rcvd, out = result()
    assert sent > 200 and rcvd == sent, out
    after = snapshot(a)
    assert after[0] == before[0] and after[2] == before[2]
    assert strip_counters(after[1]) == strip_counters(before[1]), (before[1], after[1])
    # The adopted tables are live ones: A's outbound SA is replaced (a new
    # SPI: B's replay window has seen the old one's numbers, RFC 4303 3.4.3).
    r = setkey(a, "delete 192.168.0.3 192.168.0.5 esp 10000;\n")
    assert r.returncode == 0, r.stderr
    assert "spi=10000" not in ctl(a, "setkey", "-D").stdout
    new = PAGE[0].replace("10000", "10002").format(reqid="{reqid}", alg="aes-gcm-16",
                                                   k1="0x" + "55" * 20, k2="")
    for ns, reqid in ((b, 200), (a, 100)):
        r = setkey(ns, new.format(reqid=reqid) + "\n")
        assert r.returncode == 0, r.stderr
    r = a("ping", "-c", "2", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout


def test_stop_flush_forgets(hosts):
    a, b = hosts
    bring_up(a, b)
    agent(a, "stop", "--flush")
    wait_gone(a)
    agent(a, "start")
    st = json.loads(agent(a, "status", "-j").stdout)
    assert st["interfaces"] == 0 and st["sas"] == 0, st
    assert ctl(a, "-j").stdout and json.loads(ctl(a, "-j").stdout)["interfaces"] == []


def test_bad_state_refused(hosts):
    a, _ = hosts
    ctl(a, "ipsec0", "create", "reqid", "100")
    ctl(a, "ipsec0", "tunnel", "192.168.0.3", "192.168.0.5")
    st = json.loads(agent(a, "status", "-j").stdout)
    path = "/run/ipsecif/state/" + os.path.basename(st["pin_dir"])
    good = open(path, "rb").read()
    os.kill(st["pid"], signal.SIGKILL)
    wait_gone(a)
    for bad in (good[:-3], good + b"x", b"IPSS" + good[4:12], b""):
        with open(path, "wb") as f:
            f.write(bad)
        r = agent(a, "start", check=False)
        assert r.returncode != 0 and f"{path} does not read back" in r.stderr, r.stderr
        assert agent(a, "status", check=False).returncode != 0
    with open(path, "wb") as f:
        f.write(good)
    agent(a, "start")
    assert json.loads(ctl(a, "-j").stdout)["interfaces"][0]["reqid"] == 100


def test_adopting_agent_never_reuses_an_sa_id(hosts):
    """An SA id still in the maps (a key, counters) is never handed out again by
    an adopting agent, even when its state file is behind: here an older copy,
    as if the agent had died between installing SAs and recording them.  The slots
    of the SAs it never knew are freed."""
    import shutil
    a, b = hosts
    bring_up(a, b)
    path = f"/run/ipsecif/state/{pin_dir(a).rsplit('/', 1)[1]}"
    shutil.copy(path, path + ".old")
    known = {e["value"]["id"] for e in map_held(a, "keys")}
    r = setkey(a, "add 192.168.0.3 192.168.0.7 esp 20001 -u 100 -E aes-gcm-16 "
                  "0x" + "33" * 20 + ";\nadd 192.168.0.3 192.168.0.8 esp 20002 -u 100 "
                  "-E aes-gcm-16 0x" + "44" * 20 + ";\n")
    assert r.returncode == 0, r.stderr
    before = {e["value"]["id"] for e in map_held(a, "keys")}
    assert len(before) == 4, before
    os.kill(json.loads(agent(a, "status", "-j").stdout)["pid"], signal.SIGKILL)
    wait_gone(a)
    os.replace(path + ".old", path)
    agent(a, "start")
    r = setkey(a, "add 192.168.0.3 192.168.0.9 esp 20000 -u 100 -E aes-gcm-16 "
                  "0x" + "22" * 20 + ";\n")
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)     # the orphans' slots go a grave's time after the start
    new = {e["value"]["id"] for e in map_held(a, "keys")} - before
    assert len(new) == 1 and min(new) > max(before), (before, new)
    # The two the old state file never knew were reaped: their keys and counters freed.
    orphans = before - known
    assert len(orphans) == 2, (before, known)
    def freed(m):
        held = {e["value"]["id"] for e in map_held(a, m)}
        return None if held & orphans else held

    for m in ("keys", "sa_ctr"):
        held = poll(lambda: freed(m), what=f"{m}: the orphans' slots freed")
        assert known <= held, (m, held, known)


def test_pins_of_a_namespace_gone_are_not_adopted(hosts):
    """The pin folder is named by the namespace's inode, which the kernel gives
    a dead namespace's successor: its agent must not adopt the dead one's
    interfaces and SAs.  The cookie recorded at start tells them apart (here
    made to differ, as a successor's would)."""
    a, b = hosts
    bring_up(a, b)
    name = pin_dir(a).rsplit("/", 1)[1]
    os.kill(json.loads(agent(a, "status", "-j").stdout)["pid"], signal.SIGKILL)
    wait_gone(a)
    cookie = f"/run/ipsecif/state/{name}.netns"
    was = int(open(cookie).read())
    open(cookie, "w").write(f"{was + 1}\n")
    r = agent(a, "start")
    shown = json.loads(ctl(a, "-j").stdout)
    assert shown["interfaces"] == [], shown
    assert json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"] == []
    assert int(open(cookie).read()) == was, "this namespace's own cookie recorded"
    assert not r.stderr, r.stderr


def test_pins_of_another_layout_are_refused_by_name(hosts):
    """Pins an agent of another release left whose layout this one's programs cannot use
    (sa_ctr a hash map by SA id, as before the SA state became arrays by slot): the
    agent says which map and what to do, and changes nothing: the pin stays as it was,
    no other is made, no agent runs."""
    a, _ = hosts
    agent(a, "stop", "--flush")
    wait_gone(a)
    d = pin_dir(a)
    os.makedirs(d, exist_ok=True)
    run_in(a, "bpftool", "map", "create", f"{d}/sa_ctr", "type", "hash", "key", "4",
           "value", "48", "entries", "16384", "name", "sa_ctr")
    try:
        was = json.loads(run_in(a, "bpftool", "-j", "map", "show", "pinned", f"{d}/sa_ctr").stdout)
        r = agent(a, "start", check=False)
        assert r.returncode != 0, r.stdout
        assert (f"{d}/sa_ctr: pinned by an agent of another release (hash, key 4, value 48 "
                "bytes, 16384 entries; this one's: array, key 4, value 48, 16384)") in r.stderr, \
            r.stderr
        assert "ipsecif-agent stop --flush" in r.stderr, r.stderr
        assert os.listdir(d) == ["sa_ctr"], os.listdir(d)
        now = json.loads(run_in(a, "bpftool", "-j", "map", "show", "pinned", f"{d}/sa_ctr").stdout)
        assert now["id"] == was["id"]
        assert not agent_pids(a)
    finally:
        os.unlink(f"{d}/sa_ctr")
    agent(a, "start")
    assert json.loads(ctl(a, "-j").stdout)["interfaces"] == []


def test_an_adopting_start_reads_the_slots_in_batches(hosts):
    """An adopting agent looks for slots no SA it adopted holds (keys, sa_ctr):
    16,384 of each.  A lookup per slot made a start with two SAs 32,931 bpf(2)
    calls; a batch lookup reads a thousand at a time."""
    a, b = hosts
    bring_up(a, b)
    agent(a, "stop")
    wait_gone(a)
    calls = bpf_calls(lambda: poll(lambda: agent(a, "status", check=False).returncode == 0,
                                   timeout=20, what="the adopting agent"),
                      argv=["ip", "netns", "exec", a.name, AGENT, "start"], env=start_env(a))
    print(f"bpf(2) calls of an adopting start: {calls}")
    st = json.loads(agent(a, "status", "-j").stdout)
    assert st["interfaces"] == 1 and st["sas"] == 2, st
    assert calls <= 2000, calls
