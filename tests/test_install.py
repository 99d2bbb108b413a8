# SPDX-License-Identifier: GPL-2.0-only
"""
make install DESTDIR=... lays out the programs, the charon plugin and its
strongswan.d snippet, the systemd unit (pointing at the installed agent,
hardened, accepted by systemd-analyze), the example configuration, the
manual pages and the bash completion, where PREFIX and the directory
variables say; make uninstall removes every file it put there, and keeps
a configuration the administrator changed.
"""
import os
import shutil
import subprocess
import tempfile

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents import agent_sites, run_in
from dp import ROOT

LAYOUT = {   # PREFIX=/usr with the Debian directories, as debian/rules would
    "usr/sbin/ipsecif-agent": 0o755,
    "usr/sbin/ipsecifctl": 0o755,
    "usr/sbin/ipsecif-engine": 0o755,
    "usr/lib/ipsec/plugins/libstrongswan-kernel-ipsecif.so": 0o644,
    "etc/strongswan.d/charon/kernel-ipsecif.conf": 0o644,
    "lib/systemd/system/ipsecif-agent.service": 0o644,
    "lib/systemd/system/ipsecif-metrics.service": 0o644,
    "lib/systemd/system/ipsecif-metrics.timer": 0o644,
    "etc/ipsecif.conf": 0o600,
    "usr/share/man/man8/ipsecifctl.8": 0o644,
    "usr/share/man/man8/ipsecif-agent.8": 0o644,
    "usr/share/man/man8/ipsecif-engine.8": 0o644,
    "usr/share/man/man5/ipsecif.conf.5": 0o644,
    "usr/share/man/man7/ipsecif.7": 0o644,
    "usr/share/bash-completion/completions/ipsecifctl": 0o644,
    "usr/share/bash-completion/completions/ipsecif-agent": None,   # a link to it
}
VARS = ["PREFIX=/usr", "unitdir=/lib/systemd/system"]


def make(*args):
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT] + list(args),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture
def destdir():
    d = tempfile.mkdtemp(prefix="ipsecif-install-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_install_uninstall(destdir):
    make("install", f"DESTDIR={destdir}", *VARS)
    assert files(destdir) == sorted(LAYOUT)
    for path, mode in LAYOUT.items():
        p = os.path.join(destdir, path)
        if mode is None:
            assert os.readlink(p) == "ipsecifctl"
        else:
            assert os.stat(p).st_mode & 0o7777 == mode, path
    for prog in ("ipsecif-agent", "ipsecifctl", "ipsecif-engine"):
        with open(os.path.join(ROOT, "build", prog), "rb") as a, \
             open(os.path.join(destdir, "usr/sbin", prog), "rb") as b:
            assert a.read() == b.read()

    unit = open(os.path.join(destdir, "lib/systemd/system/ipsecif-agent.service")).read()
    assert "@" not in unit.replace("man:", "")
    assert "ExecStart=/usr/sbin/ipsecif-agent start --foreground --config " \
           "/etc/ipsecif.conf" in unit
    for hardening in ("ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                      "CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN\n"):
        assert hardening in unit
    # systemd's own reading of the unit, whose programs must then exist: installed
    # without DESTDIR into a folder of the test's.
    with tempfile.TemporaryDirectory(prefix="ipsecif-unit-") as d:
        make("install", f"prefix={d}", f"sysconfdir={d}/etc", f"unitdir={d}/unit",
             f"PLUGIN_DIR={d}/plugins")
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            f"{d}/unit/ipsecif-agent.service", f"{d}/unit/ipsecif-metrics.service",
                            f"{d}/unit/ipsecif-metrics.timer"], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, r.stderr
        assert f"ExecStart={d}/sbin/ipsecif-agent start --foreground --config " \
               f"{d}/etc/ipsecif.conf" in open(f"{d}/unit/ipsecif-agent.service").read()

    # A changed configuration stays; every other file goes (folders, shared ones, stay).
    with open(os.path.join(destdir, "etc/ipsecif.conf"), "a") as f:
        f.write("ipsec0 create reqid 100\n")
    make("install", f"DESTDIR={destdir}", *VARS)     # and is not overwritten
    assert open(os.path.join(destdir, "etc/ipsecif.conf")).read().endswith("reqid 100\n")
    make("uninstall", f"DESTDIR={destdir}", *VARS)
    assert files(destdir) == ["etc/ipsecif.conf"]
    os.remove(os.path.join(destdir, "etc/ipsecif.conf"))
    make("install", f"DESTDIR={destdir}", *VARS)
    make("uninstall", f"DESTDIR={destdir}", *VARS)
    assert files(destdir) == []


def test_install_defaults(destdir):
    """PREFIX=/usr/local by default; the plugin goes where charon looks, whatever PREFIX."""
    r = make("-n", "install", f"DESTDIR={destdir}")
    assert f"{destdir}/usr/local/sbin" in r.stdout
    assert f"{destdir}/usr/local/share/man/man8" in r.stdout
    assert f"{destdir}/usr/local/lib/systemd/system" in r.stdout
    assert f"{destdir}/usr/lib/ipsec/plugins" in r.stdout
    r = make("-n", "install", f"DESTDIR={destdir}", "sbindir=/opt/x/sbin", "mandir=/opt/m",
             "bashcompdir=/opt/bc", "sysconfdir=/opt/etc", "unitdir=/opt/u")
    for d in ("/opt/x/sbin", "/opt/m/man8", "/opt/bc", "/opt/etc/strongswan.d/charon",
              "/opt/u"):
        assert f"{destdir}{d}" in r.stdout, d


def test_completion():
    """bash completes ipsecifctl's commands and interface words, and the agent's."""
    def complete(line):
        script = (f"source {ROOT}/scripts/ipsecifctl.bash-completion\n"
                  f"COMP_LINE='{line}'; COMP_WORDS=({line}); "
                  f"COMP_CWORD={len(line.split()) - (0 if line.endswith(' ') else 1)}\n"
                  f"[[ '{line}' == *' ' ]] && COMP_WORDS+=('')\n"
                  f"${{COMP_WORDS[0]/ipsecif-agent/_ipsecif_agent}}\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        script = script.replace("${COMP_WORDS[0]/ipsecif-agent/_ipsecif_agent}",
                                "_ipsecif_agent" if line.startswith("ipsecif-agent")
                                else "_ipsecifctl")
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              env=dict(os.environ, PATH=os.path.join(ROOT, "build") + ":" +
                                       os.environ["PATH"])).stdout.split()
    assert {"setkey", "lan", "stats", "help"} <= set(complete("ipsecifctl "))
    assert complete("ipsecifctl setkey -") == ["-c", "-f", "-D", "-DP", "-F"]
    assert set(complete("ipsecifctl ipsec0 li")) == {"link0", "link1", "link2"}
    assert complete("ipsecifctl stats -o ") == ["openmetrics"]
    assert complete("ipsecif-agent st") == ["start", "status", "stop"]
    assert complete("ipsecif-agent stop ") == ["--flush"]


def test_metrics_textfile(host_bpffs):
    """ipsecif-metrics.service's command, as installed, writes a textfile node_exporter
    reads: the agent's counters, whole, under the collector's folder, nothing else left."""
    with tempfile.TemporaryDirectory(prefix="ipsecif-tf-") as d, agent_sites(1) as (ns,):
        os.mkdir(f"{d}/textfile")
        make("install", f"prefix={d}", f"sysconfdir={d}/etc", f"unitdir={d}/unit",
             f"PLUGIN_DIR={d}/plugins", f"textfiledir={d}/textfile")
        unit = open(f"{d}/unit/ipsecif-metrics.service").read()
        assert f"ConditionPathIsDirectory={d}/textfile" in unit
        cmd = next(l for l in unit.splitlines() if l.startswith("ExecStart="))
        cmd = cmd[len("ExecStart=/bin/sh -c '"):-1]
        run_in(ns, f"{d}/sbin/ipsecifctl", "ipsec0", "create", "reqid", "7")
        for _ in range(2):      # and again, over the first
            subprocess.run(["ip", "netns", "exec", ns.name, "sh", "-c", cmd], check=True)
        assert os.listdir(f"{d}/textfile") == ["ipsecif.prom"]
        fams = {f.name: f for f in text_string_to_metric_families(
            open(f"{d}/textfile/ipsecif.prom").read())}
        assert fams["ipsecif_agent_interfaces"].samples[0].value == 1
        # Without an agent it fails, leaving the last good file and no temporary one.
        run_in(ns, f"{d}/sbin/ipsecif-agent", "stop", "--flush")
        r = subprocess.run(["ip", "netns", "exec", ns.name, "sh", "-c", cmd])
        assert r.returncode != 0
        assert os.listdir(f"{d}/textfile") == ["ipsecif.prom"]
