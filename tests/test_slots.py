# SPDX-License-Identifier: GPL-2.0-only
"""
An SA's state (key, counters, replay window, statistics) is in arrays by
its slot, the id's low 14 bits (include/ipsecif.h, IPSECIF_SA_SLOT): past
16,384 SAs in one run the ids the agent hands out must skip the slots of
the SAs still there, or a new SA would take a live one's key and counter.
"""
from agents import MAX_SAS, map_dump, sa_slot, setkey
from test_freebsd import hosts  # noqa: F401  (fixture)
from test_restart import bring_up

BATCH = 1000
KEY = "0x" + "55" * 20


def script(ns, verb, spis):
    """SAs from B's far end to a host no tunnel has: installed (a key, a slot), inactive."""
    tail = f" -m tunnel -u 100 -E aes-gcm-16 {KEY};" if verb == "add" else ";"
    r = setkey(ns, "\n".join(f"{verb} 192.168.0.5 192.168.0.99 esp {s}{tail}" for s in spis) + "\n")
    assert r.returncode == 0, r.stderr


def by_slot(ns, name):
    return {e["key"]: e["value"] for e in map_dump(ns, name)}


def test_ids_past_the_slots_skip_the_live_ones(hosts):
    a, b = hosts
    bring_up(a, b)
    r = a("ping", "-c", "1", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout
    live = sorted(v["id"] for v in by_slot(a, "keys").values() if v["id"])
    assert live == [1, 2], live         # the tunnel's two SAs, the first ids of the run
    # Ids 3 on, in order, each SA added then deleted (its slots free a grave's time
    # later), up to a batch short of the first id whose slot a live SA holds.
    nxt, spi = 3, 20000
    while nxt + BATCH < MAX_SAS:
        script(a, "add", range(spi, spi + BATCH))
        script(a, "delete", range(spi, spi + BATCH))
        nxt, spi = nxt + BATCH, spi + BATCH
    # The last batch crosses MAX_SAS + 1 and + 2 (slots 1 and 2): skipped, and only those.
    script(a, "add", range(spi, spi + BATCH))
    keys = by_slot(a, "keys")
    got = sorted(v["id"] for v in keys.values() if v["id"] and v["id"] not in live)
    want = [i for i in range(nxt, nxt + BATCH + 2) if i not in (MAX_SAS + 1, MAX_SAS + 2)]
    assert got == want, (got[:3], got[-5:], want[-5:])
    # Every new id's slot was free; the live SAs' key, counters and window are still
    # theirs, and carry the tunnel.
    ctr, rp = by_slot(a, "sa_ctr"), by_slot(a, "replay")
    for i in live:
        assert keys[sa_slot(i)]["id"] == ctr[sa_slot(i)]["id"] == i, ctr[sa_slot(i)]
    (inbound,) = [e["value"]["id"] for e in map_dump(a, "sa_in")]
    assert rp[sa_slot(inbound)]["id"] == inbound
    before = {i: ctr[sa_slot(i)]["packets"] for i in live}
    r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout
    ctr = by_slot(a, "sa_ctr")
    assert all(ctr[sa_slot(i)]["packets"] >= before[i] + 3 for i in live), (before, ctr)
