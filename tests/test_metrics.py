# SPDX-License-Identifier: GPL-2.0-only
"""
ipsecifctl stats -o openmetrics, read by Debian's python3-prometheus-client
(its strict OpenMetrics parser and its Prometheus text parser), each value
equal to what ipsecifctl -j and -j setkey -D show.  The FreeBSD example
between two namespaces, and on A an interface without SAs, whose traffic
is dropped (no_sa):

    host A  ul0 192.168.0.3/24 ---- veth ---- ul0 192.168.0.5/24  host B
            ipsec0 172.16.0.3/16 -> 172.16.0.5     ipsec0 172.16.0.5/16 -> 172.16.0.3
            ipsec1 10.99.0.1 -> 10.99.0.2 (no SA)
"""
import json

import pytest
from prometheus_client import parser as prom_parser
from prometheus_client.openmetrics import parser as om_parser

from agents import ctl, freebsd_hosts, setkey



@pytest.fixture
def hosts(host_bpffs):
    with freebsd_hosts() as ab:
        yield ab


def freebsd(a, b):
    for ns, reqid, me, peer, im, ip in ((a, 100, "192.168.0.3", "192.168.0.5", "172.16.0.3",
                                         "172.16.0.5"),
                                        (b, 200, "192.168.0.5", "192.168.0.3", "172.16.0.5",
                                         "172.16.0.3")):
        ctl(ns, "ipsec0", "create", "reqid", str(reqid))
        ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
        ctl(ns, "ipsec0", "inet", f"{im}/16", ip)
        r = setkey(ns, f"add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u {reqid} "
                       f"-E aes-gcm-16 0x{'11' * 20} -ls 3600 -lh 7200 -bs 1000000;\n"
                       f"add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u {reqid} "
                       f"-E aes-gcm-16 0x{'22' * 20};\n")
        assert r.returncode == 0, r.stderr


def scrape(ns):
    """The exposition, parsed both ways: {(name, labels): value}, and the families."""
    text = ctl(ns, "stats", "-o", "openmetrics").stdout
    assert text.endswith("# EOF\n")
    fams = list(om_parser.text_string_to_metric_families(text))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in fams for s in f.samples}
    # Prometheus's own text format parser reads the same samples.
    prom = {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in prom_parser.text_string_to_metric_families(text) for s in f.samples}
    assert prom == samples
    return samples, fams


def lab(**kw):
    return tuple(sorted(kw.items()))


def test_openmetrics_equals_json(hosts):
    a, b = hosts
    freebsd(a, b)
    ctl(a, "ipsec1", "create", "reqid", "300")
    ctl(a, "ipsec1", "inet", "tunnel", "192.168.0.3", "192.168.0.9")
    ctl(a, "ipsec1", "inet", "10.99.0.1", "10.99.0.2")
    r = a("ping", "-c", "5", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    a("ping", "-c", "3", "-i", "0.2", "-W", "1", "10.99.0.2", check=False)

    samples, fams = scrape(a)
    js = json.loads(ctl(a, "-j").stdout)
    sas = {s["spi"]: s for s in json.loads(ctl(a, "-j", "setkey", "-D").stdout)["sas"]}

    names = {f.name for f in fams}
    for n in ("ipsecif_interface_packets", "ipsecif_interface_bytes",
              "ipsecif_interface_drops", "ipsecif_sa_packets", "ipsecif_sa_bytes",
              "ipsecif_sa_drops", "ipsecif_global_drops", "ipsecif_sa_age_seconds",
              "ipsecif_sa_hard_lifetime_seconds", "ipsecif_interface_mtu_bytes"):
        assert n in names, n
    assert {f.type for f in fams if f.name.endswith(("_packets", "_drops"))
            or f.name in ("ipsecif_interface_bytes", "ipsecif_sa_bytes")} == {"counter"}

    assert samples[("ipsecif_agent_interfaces", ())] == len(js["interfaces"]) == 2
    assert samples[("ipsecif_agent_sas", ())] == len(sas) == 2
    for f in js["interfaces"]:
        i = lab(interface=f["name"])
        assert samples[("ipsecif_interface_packets_total", i)] == f["packets"]
        assert samples[("ipsecif_interface_bytes_total", i)] == f["bytes"]
        assert samples[("ipsecif_interface_fast_packets_total", i)] == f["fast"]
        assert samples[("ipsecif_interface_mtu_bytes", i)] == f["mtu"]
        assert samples[("ipsecif_interface_up", i)] == int(f["up"])
        assert set(f["drops"]) == {dict(k[1])["reason"] for k in samples
                                   if k[0] == "ipsecif_interface_drops_total"
                                   and dict(k[1])["interface"] == f["name"]}
        for reason, n in f["drops"].items():
            assert samples[("ipsecif_interface_drops_total",
                            lab(interface=f["name"], reason=reason))] == n
        for s in f["sas"]:
            k = dict(interface=f["name"], spi=str(s["spi"]), direction=s["dir"])
            assert samples[("ipsecif_sa_packets_total", lab(**k))] == sas[s["spi"]]["packets"]
            assert samples[("ipsecif_sa_bytes_total", lab(**k))] == sas[s["spi"]]["bytes"]
            assert samples[("ipsecif_sa_dying", lab(**k))] == int(s["dying"])
            for m, field in (("soft_lifetime_seconds", "soft_time"),
                             ("hard_lifetime_seconds", "hard_time"),
                             ("soft_lifetime_bytes", "soft_bytes"),
                             ("hard_lifetime_bytes", "hard_bytes")):
                assert samples[(f"ipsecif_sa_{m}", lab(**k))] == sas[s["spi"]][field]
            assert abs(samples[("ipsecif_sa_age_seconds", lab(**k))] -
                       sas[s["spi"]]["age"]) <= 1
    for d in ("in", "out"):
        for reason, n in js["global"][d]["drops"].items():
            assert samples[("ipsecif_global_drops_total", lab(direction=d, reason=reason))] == n

    # What was sent, counted: 5 pings out and back on ipsec0, ipsec1's dropped for no SA.
    ipsec0 = lab(interface="ipsec0")
    assert samples[("ipsecif_interface_packets_total", ipsec0)] >= 10
    assert samples[("ipsecif_sa_packets_total",
                    lab(interface="ipsec0", spi="10000", direction="out"))] >= 5
    assert samples[("ipsecif_sa_packets_total",
                    lab(interface="ipsec0", spi="10001", direction="in"))] >= 5
    assert samples[("ipsecif_interface_drops_total",
                    lab(interface="ipsec1", reason="no_sa"))] >= 1
    assert samples[("ipsecif_sa_soft_lifetime_seconds",
                    lab(interface="ipsec0", spi="10000", direction="out"))] == 3600
    assert samples[("ipsecif_interface_sas", lab(interface="ipsec0", direction="in"))] == 1
    assert samples[("ipsecif_interface_sas", lab(interface="ipsec1", direction="out"))] == 0


def test_stats_refusals(hosts):
    a, _ = hosts
    for words, why in ((["stats", "-o", "json"], "the format is openmetrics"),
                       (["stats", "-x"], "stats takes -o openmetrics"),
                       (["stats", "-o"], "-o needs a format"),
                       (["-j", "stats"], "stats prints OpenMetrics text")):
        r = ctl(a, *words, check=False)
        assert r.returncode != 0 and why in r.stderr, (words, r.stderr)
    # With nothing configured: the agent's gauges, families without samples, # EOF.
    samples, _ = scrape(a)
    assert samples[("ipsecif_agent_interfaces", ())] == 0
    assert ctl(a, "stats").stdout == ctl(a, "stats", "-o", "openmetrics").stdout
