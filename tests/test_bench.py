# SPDX-License-Identifier: GPL-2.0-only
"""
The network benchmark's smoke run (scripts/bench.py --smoke): every case
of the full benchmark is set up and measured once, briefly, and must
yield every figure, with no error.  Speeds are not judged here.  And
make bench-charon's (scripts/bench_charon.py) at 8 tunnels.
"""
import contextlib
import json
import os
import subprocess

from agents import BPFFS, remove_made
from dp import ROOT

OUT = os.path.join(ROOT, "build", "bench")


@contextlib.contextmanager
def fresh():
    """A prefix that runs a command as on a machine with no bpffs mounted yet (make bench
    on a fresh one): in a mount namespace of its own, where the agents' bpffs, if the
    host has it, is unmounted.  The folders it makes for it go afterwards."""
    made = [d for d in (os.path.dirname(BPFFS), BPFFS) if not os.path.exists(d)]
    try:
        yield ["unshare", "-m", "--propagation", "private", "sh", "-c",
               f'while umount {BPFFS} 2>/dev/null; do :; done; '
               f'[ "$(stat -f -c %T {BPFFS} 2>/dev/null)" != bpf_fs ] || '
               f'{{ echo "{BPFFS}: still a bpffs" >&2; exit 99; }}; exec "$@"', "-"]
    finally:
        remove_made(made)


def test_every_case_gives_every_figure():
    js, png = os.path.join(OUT, "smoke.json"), os.path.join(OUT, "smoke.png")
    for f in (js, png):
        if os.path.exists(f):
            os.unlink(f)
    with fresh() as pre:
        r = subprocess.run(pre + ["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench.py"),
                                  "--smoke", "--json", js, "--png", png],
                           capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.load(open(js))
    cases = out["cases"]
    assert len(cases) == 22, sorted(cases)
    for name, c in cases.items():
        assert not c["errors"], (name, c["errors"])
        want = ("pps", "tcp") if name.endswith("core") else ("pps", "tcp", "udp", "udp-paced")
        for m in want:
            assert c["metrics"][m] and c["metrics"][m]["median"] > 0, (name, m, c)
        # What reached the UDP receiver's socket layer, and what its socket dropped.
        if "udp" in want:
            sock = c["udp_socket"]
            assert len(sock) == 1 and sock[0]["reached"] > 0, (name, sock)
            assert 0 <= sock[0]["dropped"] <= sock[0]["reached"] and sock[0]["gbps"] > 0, sock
            # The paced run: the rate offered, and what of it arrived.
            (tries,) = c["udp_paced"]
            assert len(tries) == 1 and tries[0]["offered"] > 0, (name, tries)
            assert tries[0]["gbps"] == c["metrics"]["udp-paced"]["median"] > 0, (name, tries)
            assert 0 <= tries[0]["loss"] < 1, (name, tries)
        # The generator's CPU idle, measured in every 64-byte run.
        assert c["idle"]["gen"] and None not in c["idle"]["gen"], (name, c["idle"])
        # A CPU figure for each site of every tunnel and the XDP forward.
        if name.startswith(("ipsecif", "wireguard", "strongswan")):
            assert sum(k.startswith("site A") for k in c["cost"]["pps"]) == 1, (name, c["cost"])
            assert sum(k.startswith("site B") for k in c["cost"]["tcp"]) == 1, (name, c["cost"])
    assert all(t["ratio"] is not None for t in out["targets"]), out["targets"]
    assert 0 < out["params"]["udp_rcvbuf"] <= 2 << 20, out["params"]
    assert os.path.getsize(png) > 10000
    assert "ipsecif-chacha-xdp" in r.stdout      # the table


def test_charon_mode_smoke():
    """make bench-charon at 8 tunnels: every figure, every tunnel up and carrying."""
    js = os.path.join(OUT, "charon-smoke.json")
    os.makedirs(OUT, exist_ok=True)
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench_charon.py"),
                        "--tunnels", "8", "--json", js], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.load(open(js))
    assert out["installed"] == {"a": 8, "b": 8} and out["agent_sas"] == {"a": 16, "b": 16}
    assert out["ping_replies"] == [5] * len(out["ping_tunnels"])
    assert min(out["sa_packets_min"]) >= 5
    assert all(v > 0 for v in out["rss_kb"].values()) and out["left_sas"] == {"a": 0, "b": 0}


def test_crossover_smoke():
    """make bench-crossover's measurement, one suite and size, briefly: both modes give a
    rate and a CPU cost per packet.  On a machine with no bpffs mounted it mounts its own
    (it found none of the agents' pins once)."""
    js = os.path.join(OUT, "crossover-smoke.json")
    if os.path.exists(js):
        os.unlink(js)
    with fresh() as pre:
        r = subprocess.run(pre + ["/usr/bin/python3",
                                  os.path.join(ROOT, "scripts", "bench_crossover.py"),
                                  "--suites", "gcm", "--sizes", "1000", "--seconds", "1",
                                  "--pps", "2000", "--json", js],
                           capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    row = json.load(open(js))["gcm"]["rows"][0]
    assert row["size"] == 1000
    for mode in ("engine", "bpf"):
        assert row[mode]["pps"] > 500 and row[mode]["ns"] > 0, row
