# SPDX-License-Identifier: GPL-2.0-only
"""
Rekeying without loss: charon rekeys the CHILD_SA every few seconds (the
agent's soft time lifetime raises charon's expire; the new inbound SA is
in before the outbound switches, the old inbound stays until charon
deletes it) and the IKE_SA every half minute or less, while a ping every 10 ms
and an iperf3 TCP stream run through the tunnel.  Not one ping may be
lost, and neither site may count a replay or authentication drop.

test_rekey_lossless is the short one (make check); test_rekey_soak runs
for IPSECIF_SOAK_SECONDS (make soak: 30 minutes) and is skipped without.
"""
import json
import os
import re
import subprocess
import time

import pytest

from agents import ctl, map_dump, percpu_drops, poll
from charon import wait_for
from test_ike import INNER, ping, sites, start_charons  # noqa: F401  (fixture)

ESP = "aes256gcm16-esn"


def flow(sites, seconds, child_rekey=7, child_rand="1s", ike_rekey="30s", reauth="0", **ike):
    """Run the flows for seconds; what both charons and data paths counted."""
    a, b = sites
    start_charons(sites, ESP, rekey=f"{child_rekey}s", life=f"{4 * child_rekey}s",
                  rand=child_rand, ike_rekey=ike_rekey, ike="aes256gcm16-prfsha256-x25519",
                  reauth=reauth, **ike)
    # Up first (the trap's first packet is not part of the count).
    assert wait_for(lambda: ping(a, 1, dst=INNER["b"])[1] == 1, 15), a.charon.log()
    before = {s.name: unknown_spi(s) for s in sites}
    srv = subprocess.Popen(["ip", "netns", "exec", b.ns.name, "iperf3", "-s", "-1", "-B",
                            INNER["b"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: "5201" in b.ns("ss", "-ltn").stdout, 10)
        # The stream is held to 50 Mbit/s: the point is a loaded tunnel, with
        # CPU left for the two charons, not a throughput figure.
        tcp = subprocess.Popen(["ip", "netns", "exec", a.ns.name, "iperf3", "-c", INNER["b"],
                                "-t", str(seconds), "-b", "50M", "-J"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A count, no deadline: a deadline would end ping with its last
        # request in flight, and count that as lost.
        n = int(seconds / 0.01)
        sent, got = ping(a, n, interval="0.01")
        out, err = tcp.communicate(timeout=seconds + 60)
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait()
    assert tcp.returncode == 0, err + out[-2000:]
    stream = json.loads(out)["end"]["sum_received"]
    log_a, log_b = a.charon.log(), b.charon.log()
    return {
        "pings_sent": sent, "pings_lost": sent - got,
        "tcp_bytes": stream["bytes"],
        # CHILD_SAs A established after the first (5.9.8 logs a rekeyed one
        # twice: inbound, then outbound), less the redundant ones of collisions.
        "child_rekeys": len(set(re.findall(r"CHILD_SA net\{(\d+)\} established", log_a))) - 1 -
                        len(re.findall(r"deleting redundant child", log_a + log_b)),
        "collisions": len(re.findall(r"detected CHILD_REKEY collision", log_a)),
        "ike_rekeys": len(re.findall(r"IKE_SA site\[\d+\] rekeyed", log_a)),
        # make_before_break: the new IKE_SA and its CHILD_SAs first.
        "reauths": len(re.findall(r"reauthenticating IKE_SA", log_a + log_b)),
        "drops": {s.name: s.ipsec0()["drops"] for s in sites},
        # ESP no SA knows (no interface to count it): an SA deleted too early.
        "unknown_spi": {s.name: unknown_spi(s) - before[s.name] for s in sites},
        "sas_left": {s.name: len(s.sas()) for s in sites},
        # Printed with the rest when a check fails: what charon decided, and when.
        "ike_events": {s.name: [l for l in log.splitlines() if re.search(IKE_EVENTS, l)]
                       for s, log in ((a, log_a), (b, log_b))},
    }


IKE_EVENTS = r"collision|redundant|deleting|closing CHILD|failed|error|retransmit|DELETE"


def unknown_spi(site):
    """Inbound ESP dropped for want of an SA, which only the global counters take."""
    return sum(percpu_drops(e)[0] for e in map_dump(site.ns, "global_stats") if e["key"] == 0)


def check(r, child_rekeys, ike_rekeys):
    print("\n" + json.dumps(r, indent=1))
    assert r["pings_lost"] == 0, r
    assert r["child_rekeys"] >= child_rekeys, r
    assert r["ike_rekeys"] >= ike_rekeys, r
    assert r["tcp_bytes"] > 0
    assert not any(r["unknown_spi"].values()), r
    for name, d in r["drops"].items():
        assert d["replay"] == 0 and d["too_old"] == 0 and d["auth"] == 0, (name, d)


def test_rekey_lossless(sites):
    """The issue's bar: at least 10 CHILD_SA and 2 IKE_SA rekeys, none lossy."""
    r = flow(sites, 65, child_rekey=5, ike_rekey="25s")
    check(r, child_rekeys=10, ike_rekeys=2)


def test_rekey_lossless_engine(sites):
    """The same through the engine's workers, both sites (AES-GCM with ESN): a rekey
    puts each new SA's key in the workers' table, the old one's goes, and nothing is
    lost between them."""
    for s in sites:
        ctl(s.ns, "engine", "on", "workers", "1")
        poll(lambda: json.loads(ctl(s.ns, "-j", "engine").stdout)["up"], 10, "the engine up")
    # A alone rekeys the IKE_SA.  Both at once, every 11 s, collide; and charon 5.9.8
    # now and then ends such a collision with no IKE_SA at B ("peer did not notice IKE_SA
    # rekey collision, abort active rekeying", then A's DELETE of the redundant one),
    # its CHILD_SAs with it, while A keeps its own: 12 s of ESP B has no SA for, until
    # A gives up its retransmits (docs/STRONGSWAN.md).  No data path bridges that.
    r = flow(sites, 25, child_rekey=4, ike_rekey={"a": "11s", "b": "0"})
    engines = {s.name: json.loads(ctl(s.ns, "-j", "engine").stdout) for s in sites}
    for name, e in engines.items():
        print(name, "engine", {k: e[k] for k in ("up", "keys", "stuck", "died")}, e["out"],
              e["in"], [{k: w[k] for k in ("frames", "rx_dropped", "rx_ring_full", "tx_full")}
                        for w in e["worker"]])
    check(r, child_rekeys=5, ike_rekeys=1)
    for s in sites:
        e = engines[s.name]
        assert s.ipsec0()["engine"] > 1000, "the stream went through the workers"
        assert e["up"] and not e["stuck"] and not e["died"]
        assert not any(w["bad_icv"] or w["no_key"] for w in e["worker"]), e["worker"]


def test_reauth(sites):
    """
    IKE_SA reauthentication, make-before-break: new IKE_SA and CHILD_SA
    first, then the initiator deletes the old IKE_SA.  Lossless: the
    responder's new outbound SA, held back since IKE_AUTH (the plugin's
    hold_ms), takes over as the old IKE_SA's DELETE arrives, before charon
    answers it (the initiator drops its old inbound SAs on the answer).
    """
    # IKE rekeying off, and the IKE_SA's hard end (reauth_time + over_time)
    # well after the reauthentication: by default over_time is 10% of the
    # longest IKE lifetime, and the old IKE_SA would die as the new one starts.
    # A reauthenticates (B too would double the IKE_SAs each round).
    r = flow(sites, 25, child_rekey=3600, child_rand="0s", ike_rekey="0",
             reauth={"a": "8s", "b": "0"}, ike_over="10s", ike_rand="1s")
    print("\n" + json.dumps(r))
    assert r["reauths"] >= 2, r
    assert r["pings_lost"] == 0, r
    assert not any(r["unknown_spi"].values()), r
    for name, d in r["drops"].items():
        assert d["replay"] == 0 and d["too_old"] == 0 and d["auth"] == 0, (name, d)


@pytest.mark.skipif(not os.environ.get("IPSECIF_SOAK_SECONDS"),
                    reason="the soak: make soak, or IPSECIF_SOAK_SECONDS=N")
def test_rekey_soak(sites):
    seconds = int(os.environ["IPSECIF_SOAK_SECONDS"])
    r = flow(sites, seconds)
    check(r, child_rekeys=max(10, seconds // 10), ike_rekeys=max(2, seconds // 60))
