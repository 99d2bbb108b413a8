# SPDX-License-Identifier: GPL-2.0-only
"""ipsecif-agent start --config FILE: the FreeBSD example from a file."""
import json
import os

from agents import agent, ctl, pin_dir, run_in, wait_gone, AGENT
from test_freebsd import hosts  # noqa: F401  (fixture)

CONF = """\
# host {me}: the FreeBSD if_ipsec(4) example
ipsecifctl ipsec0 create reqid {reqid}
ipsec0 inet tunnel {src} {dst}
ipsec0 inet 172.16.0.{i}/16 172.16.0.{j}

setkey
add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u {reqid} -E aes-gcm-16 0x{k1};
# setkey's own comments too
add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u {reqid} -E aes-gcm-16 0x{k2};
end
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def conf(ns, me, tmp_path):
    other = "5" if me == "3" else "3"
    return write(tmp_path, f"host{me}.conf", CONF.format(
        me=me, reqid=100 if me == "3" else 200, src="192.168.0." + me,
        dst="192.168.0." + other, i=me, j=other, k1="11" * 20, k2="22" * 20))


def test_config_brings_the_tunnel_up(hosts, tmp_path):
    a, b = hosts
    for ns, me in ((a, "3"), (b, "5")):
        agent(ns, "stop", "--flush")
        wait_gone(ns)
        agent(ns, "start", "--config", conf(ns, me, tmp_path))
    shown = json.loads(ctl(a, "-j", "ipsec0").stdout)["interfaces"][0]
    assert shown["reqid"] == 100 and shown["tunnel"]["dst"] == "192.168.0.5"
    assert {s["spi"] for s in json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]} == \
        {10000, 10001}
    r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout


def test_config_errors_leave_nothing(hosts, tmp_path):
    a, _ = hosts
    agent(a, "stop", "--flush")
    wait_gone(a)
    good = conf(a, "3", tmp_path)
    text = open(good).read()
    cases = [
        (text.replace("ipsec0 inet tunnel", "ipsec0 inet tunnel 10.0.0.1"), ":3: ",
         "'192.168.0.5': unknown word"),
        (text.replace("-E aes-gcm-16 0x" + "22" * 20, "-E aes-gcm-16 0x22"), ": setkey: line 9:",
         "aes-gcm-16 key must be"),
        (text.replace("\nend\n", "\n"), ":6: ", "no \"end\""),
        (text + "ipsec0 create\n", ":11: ", "exists"),
    ]
    for bad, where, what in cases:
        path = write(tmp_path, "bad.conf", bad)
        r = run_in(a, AGENT, "start", "--config", path, check=False)
        assert r.returncode != 0 and path + where in r.stderr and what in r.stderr, r.stderr
        assert agent(a, "status", check=False).returncode != 0
        assert "ipsec0" not in a("ip", "-br", "link").stdout
    r = run_in(a, AGENT, "start", "--config", "/nonexistent.conf", check=False)
    assert r.returncode != 0 and "/nonexistent.conf: No such file" in r.stderr
    assert not os.path.exists("/run/ipsecif/state/" + os.path.basename(pin_dir(a)))
    assert not os.path.exists(pin_dir(a))
    agent(a, "start")  # fresh, for the fixture to stop


def test_a_failed_start_has_undone_everything_when_it_returns(hosts, tmp_path):
    """A configuration that fails at its last line, after 100 interfaces: when start
    returns its error, the interfaces are gone and no agent answers (it used to return
    while the agent was still tearing down: status then met its closing socket,
    "Connection reset by peer", and the devices were still there)."""
    a, _ = hosts
    agent(a, "stop", "--flush")
    wait_gone(a)
    n = 100
    text = "".join(f"ipsec{i} create reqid {i + 1} tunnel 10.0.{i}.1 10.9.{i}.1\n"
                   for i in range(n)) + "ipsec0 inet 172.16.0.1/33\n"
    path = write(tmp_path, "late.conf", text)
    # start, then at once status and the devices, with no interpreter between.
    r = a("sh", "-c", f'{AGENT} start --config {path}; echo "start $?"; {AGENT} status; '
          'echo "status $?"; ip -br link', check=False)
    out = r.stdout + r.stderr
    assert f"{path}:{n + 1}: " in out and "start 1" in out, out
    assert "not running in this network namespace" in out and "status 1" in out, out
    left = [l.split()[0] for l in r.stdout.splitlines() if l.startswith("ipsec")]
    assert not left, left
    agent(a, "start")  # fresh, for the fixture to stop
