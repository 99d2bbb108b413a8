# SPDX-License-Identifier: GPL-2.0-only
"""
The Debian packages: dpkg-buildpackage -b -us -uc builds ipsecif and
strongswan-plugin-ipsecif from a copy of the tree, dpkg installs them,
the FreeBSD if_ipsec(4) example runs between two namespaces with the
installed commands from PATH, and a purge leaves nothing behind: no
file of either package, no unit or its enablement, no pin.

    host A  ul0 192.168.0.3/24 ---- veth ---- ul0 192.168.0.5/24  host B
            ipsec0 172.16.0.3/16 -> 172.16.0.5     ipsec0 172.16.0.5/16 -> 172.16.0.3

What the packages would put where a file already is, unowned (an earlier
make install, say), is kept aside and put back after.
"""
import glob
import os
import shutil
import subprocess
import tempfile

import pytest

from agents import freebsd_hosts, pin_dir, run_in, setkey
from dp import ROOT

PACKAGES = ["ipsecif", "strongswan-plugin-ipsecif"]
WANTS = "/etc/systemd/system/multi-user.target.wants/ipsecif-agent.service"


def sh(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{args}: {r.stdout[-3000:]}{r.stderr[-3000:]}"
    return r


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg], capture_output=True,
                       text=True)
    return "ok installed" in r.stdout or "config-files" in r.stdout


@pytest.fixture(scope="module")
def debs():
    """The .debs, built from the tree's files in a folder of the test's."""
    if any(installed(p) for p in PACKAGES):
        pytest.skip("ipsecif's packages are installed on this machine already")
    tmp = tempfile.mkdtemp(prefix="ipsecif-deb-")
    try:
        src = os.path.join(tmp, "ipsecif")
        files = sh("git", "-C", ROOT, "ls-files", "-z").stdout.split("\0")
        for f in filter(None, files):
            if os.path.lexists(os.path.join(ROOT, f)):
                os.makedirs(os.path.join(src, os.path.dirname(f)), exist_ok=True)
                shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f), follow_symlinks=False)
        env = dict(os.environ)
        swan = os.path.join(ROOT, "build", "strongswan")
        if os.path.exists(os.path.join(swan, "src")):
            env["IPSECIF_SWAN_DIR"] = swan     # the source make all fetched
        sh("dpkg-buildpackage", "-b", "-us", "-uc", cwd=src, env=env)
        yield {p: glob.glob(os.path.join(tmp, f"{p}_*.deb"))[0] for p in PACKAGES}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def contents(deb):
    """The files (not folders) a .deb holds, as absolute paths."""
    r = sh("dpkg-deb", "--contents", deb)
    # "mode owner size date time ./path [-> target]": the path is the sixth field.
    return [line.split()[5][1:] for line in r.stdout.splitlines()
            if not line.startswith("d")]


def test_deb_install_run_purge(debs, host_bpffs, monkeypatch):
    paths = [p for deb in debs.values() for p in contents(deb)]
    assert "/usr/sbin/ipsecif-agent" in paths and "/etc/ipsecif.conf" in paths
    assert "/usr/sbin/ipsecif-engine" in paths
    assert "/usr/lib/ipsec/plugins/libstrongswan-kernel-ipsecif.so" in paths
    aside = tempfile.mkdtemp(prefix="ipsecif-aside-")
    kept = [p for p in paths if os.path.lexists(p)]
    for p in kept:
        os.makedirs(os.path.dirname(aside + p), exist_ok=True)
        shutil.move(p, aside + p)
    pins = []
    try:
        sh("dpkg", "-i", debs["ipsecif"], debs["strongswan-plugin-ipsecif"])
        assert os.stat("/etc/ipsecif.conf").st_mode & 0o777 == 0o600
        assert os.path.islink(WANTS)      # enabled, as Debian's daemons are
        page = sh("mandoc", "-T", "ascii", "/usr/share/man/man8/ipsecifctl.8.gz").stdout
        assert "IPSECIFCTL(8)" in page and "openmetrics" in page
        monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        assert shutil.which("ipsecif-agent") == "/usr/sbin/ipsecif-agent"
        with freebsd_hosts(tool="ipsecif-agent") as (a, b):
            for ns, reqid, me, peer in ((a, 100, "192.168.0.3", "192.168.0.5"),
                                        (b, 200, "192.168.0.5", "192.168.0.3")):
                pins.append(pin_dir(ns))
                run_in(ns, "ipsecifctl", "ipsec0", "create", "reqid", str(reqid))
                run_in(ns, "ipsecifctl", "ipsec0", "inet", "tunnel", me, peer)
                run_in(ns, "ipsecifctl", "ipsec0", "inet", f"172.16.0.{me[-1]}/16",
                       f"172.16.0.{peer[-1]}")
                r = subprocess.run(
                    ["ip", "netns", "exec", ns.name, "ipsecifctl", "setkey", "-c"],
                    input=f'add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u {reqid} '
                          f'-E rijndael-cbc "VerySecureKey!!1";\n'
                          f'add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u {reqid} '
                          f'-E rijndael-cbc "VerySecureKey!!2";\n',
                    capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, r.stderr
            r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
            assert r.returncode == 0, r.stdout + r.stderr
            sa = [s for s in run_in(b, "ipsecifctl", "setkey", "-D").stdout.split("\n\t")]
            assert "packets=" in "".join(sa)
            assert all(os.path.isdir(p) for p in pins)
        # freebsd_hosts stopped both agents with stop --flush, as an operator would.
        sh("dpkg", "--purge", *PACKAGES)
        left = [p for p in paths + [WANTS] if os.path.lexists(p)]
        assert not left, left
        assert not any(installed(p) for p in PACKAGES)
        assert not glob.glob("/var/lib/dpkg/info/ipsecif.*")
        assert not glob.glob("/var/lib/dpkg/info/strongswan-plugin-ipsecif.*")
        assert not glob.glob("/var/lib/systemd/deb-systemd-helper-*/**/ipsecif*",
                             recursive=True)
        assert not [p for p in pins if os.path.exists(p)]
    finally:
        for p in PACKAGES[::-1]:
            if installed(p):
                subprocess.run(["dpkg", "--purge", p], capture_output=True)
        for p in kept:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            shutil.move(aside + p, p)
        shutil.rmtree(aside, ignore_errors=True)
