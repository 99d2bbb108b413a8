# SPDX-License-Identifier: GPL-2.0-only
"""
The data path's side of the engine (bpf/engine.h, bpf/eng_link.h), through
BPF_PROG_TEST_RUN, with BPF's own fallback cipher (tc_eng_fallback) in the
worker's place: what a frame carries to the engine, what comes back, and
that the ESP around the cipher is still BPF's: sequence numbers, the
replay window moved only after the ICV, trailer checks, counters.

    tc_esp_out / xdp_esp_in  ->  frame + trailer  ->  tc_eng_fallback
      (as a worker would: seal or open in place)  ->  tc_eng_back  -> out / ipsecN

Every suite, both outer and inner families, opens in scapy (out) or
comes out as the exact inner frame (in).
"""
import itertools
import struct

import pytest
from scapy.layers.l2 import Ether

from dp import SUITES, XDP_DROP, XDP_PASS, XDP_REDIRECT
from test_esp_out import Out, TC_ACT_REDIRECT, TC_ACT_SHOT, env  # noqa: F401 (fixture)
from test_esp_out import inner_packet
from test_esp_in import Tunnel, expect_frame

ENG_IF, ENG_WIF = 4001, 4002
TRL = 72
MAGIC = 0x676e6569
OP_SEAL, OP_OPEN, OP_SEALED, OP_OPENED, OP_BAD_ICV = 1, 2, 3, 4, 5


def trailer(frame):
    """The trailer's fields a test looks at, from the frame's last 72 bytes."""
    t = frame[-TRL:]
    key_id, seq, esp_off, text, op, enc, icv, aad_len = struct.unpack_from("<IQHHBBBB", t, 12)
    reqid, length = struct.unpack_from("<II", t, 32)
    (magic,) = struct.unpack_from("<I", t, 68)
    return dict(aad=t[:aad_len], key_id=key_id, seq=seq, esp_off=esp_off, text=text, op=op,
                enc=enc, icv=icv, reqid=reqid, len=length, magic=magic)


@pytest.fixture
def engine(env):
    env.engine(ENG_IF, ENG_WIF, up=True, mins=(1, 1, 1))
    yield env
    env.engine(ENG_IF, ENG_WIF, up=False)


def through_fallback(dp, frame):
    """A worker's part, played by BPF at the workers' device."""
    ret, back = dp.run("tc_eng_fallback", frame)
    assert ret == TC_ACT_REDIRECT
    return back


MATRIX = list(itertools.product(SUITES, (4, 6), (4, 6)))


@pytest.mark.parametrize("suite,outer,inner_fam", MATRIX,
                         ids=[f"{s.name}-outer{o}-inner{i}" for s, o, i in MATRIX])
def test_seal_through_engine(engine, suite, outer, inner_fam):
    t = Out(engine, suite, outer)
    engine.engkey(t.sa_id)
    before = engine.engstats()
    for n, size in enumerate((0, 100, 1300), 1):
        inner = inner_packet(inner_fam, size)
        ret, frame = t.send(inner)
        assert ret == TC_ACT_REDIRECT
        tr = trailer(frame)
        assert tr["magic"] == MAGIC and tr["op"] == OP_SEAL
        assert tr["key_id"] == t.sa_id and tr["seq"] == n and tr["reqid"] == t.reqid
        assert tr["icv"] == (12 if suite.auth == 2 else 16 if suite.enc != 1 or suite.auth else 0)
        # Not yet sealed: the inner packet is there in clear, the ICV's room zero.
        esp = frame[tr["esp_off"]:len(frame) - TRL]
        assert esp[:4] == struct.pack("!I", t.spi)
        assert bytes(inner) in frame
        if tr["icv"]:
            assert esp[-tr["icv"]:] == bytes(tr["icv"])
        assert t.stats()["packets"] == n - 1, "counted only once back"
        back = through_fallback(engine, frame)
        assert trailer(back)["op"] == OP_SEALED
        ret, out = engine.run("tc_eng_back", back)
        assert ret == TC_ACT_REDIRECT
        assert len(out) == len(frame) - TRL
        assert bytes(t.open(out)) == bytes(inner)
        st = t.stats()
        assert st["packets"] == n and st["engine"] == n
    after = engine.engstats()
    assert after["sent"][1] - before["sent"][1] == 3
    assert after["back"][1] - before["back"][1] == 3
    assert after["fallback"][1] - before["fallback"][1] == 3


@pytest.mark.parametrize("suite,outer,inner_fam", MATRIX,
                         ids=[f"{s.name}-outer{o}-inner{i}" for s, o, i in MATRIX])
def test_open_through_engine(engine, suite, outer, inner_fam):
    t = Tunnel(engine, suite, outer)
    engine.engkey(t.sa_id)
    for n, size in enumerate((0, 100, 1300), 1):
        inner = inner_packet(inner_fam, size)
        wire = bytes(t.frame(t.seal(inner, n)))
        ret, frame = engine.run("xdp_esp_in", wire)
        assert ret == XDP_REDIRECT
        assert frame[:len(wire)] == wire, "the frame goes as it came, with a trailer"
        tr = trailer(frame)
        assert tr["op"] == OP_OPEN and tr["key_id"] == t.sa_id and tr["seq"] == n
        back = through_fallback(engine, frame)
        assert trailer(back)["op"] == OP_OPENED
        ret, out = engine.run("tc_eng_back", back)
        assert ret == TC_ACT_REDIRECT
        expect_frame(out, inner)
        st = t.stats()
        assert st["packets"] == n and st["engine"] == n


def test_replay_window_moves_after_the_icv(engine):
    """The window is the way back's: a replayed frame passes the pre-check
    while the first is in the engine, and the second to come back is dropped."""
    t = Tunnel(engine, SUITES[0])
    engine.engkey(t.sa_id)
    wire = bytes(t.frame(t.seal(inner_packet(4), 7)))
    frames = [engine.run("xdp_esp_in", wire) for _ in range(2)]
    assert [r for r, _ in frames] == [XDP_REDIRECT, XDP_REDIRECT]
    outs = [engine.run("tc_eng_back", through_fallback(engine, f)) for _, f in frames]
    assert [r for r, _ in outs] == [TC_ACT_REDIRECT, TC_ACT_SHOT]
    st = t.stats()
    assert st["packets"] == 1 and st["replay"] == 1
    # And once the window has it, the pre-check drops it before the engine.
    assert engine.run("xdp_esp_in", wire)[0] == XDP_DROP
    assert t.stats()["replay"] == 2


def test_bad_icv_is_an_auth_drop(engine):
    t = Tunnel(engine, SUITES[0])
    engine.engkey(t.sa_id)
    wire = bytearray(bytes(t.frame(t.seal(inner_packet(4), 1))))
    wire[-1] ^= 1
    ret, frame = engine.run("xdp_esp_in", bytes(wire))
    assert ret == XDP_REDIRECT
    back = through_fallback(engine, frame)
    assert trailer(back)["op"] == OP_BAD_ICV
    assert engine.run("tc_eng_back", back)[0] == TC_ACT_SHOT
    st = t.stats()
    assert st["auth"] == 1 and st["packets"] == 0
    # The window did not move: the genuine packet still opens.
    good = bytes(t.frame(t.seal(inner_packet(4), 1)))
    ret, frame = engine.run("xdp_esp_in", good)
    assert engine.run("tc_eng_back", through_fallback(engine, frame))[0] == TC_ACT_REDIRECT
    assert t.stats()["packets"] == 1


def test_what_the_engine_does_not_take(engine):
    """Below the threshold, a key the workers lack, the engine down: BPF's cipher, as before."""
    t = Out(engine, SUITES[0])
    inner = inner_packet(4, 100)
    ret, out = t.send(inner)              # the workers do not hold the key
    assert ret == TC_ACT_REDIRECT and bytes(t.open(out)) == bytes(inner)
    engine.engkey(t.sa_id)
    engine.engine(ENG_IF, ENG_WIF, up=True, mins=(2000, 2000, 2000))
    ret, out = t.send(inner)              # below the threshold
    assert ret == TC_ACT_REDIRECT and bytes(t.open(out)) == bytes(inner)
    engine.engine(ENG_IF, ENG_WIF, up=False)
    ret, out = t.send(inner)              # down
    assert ret == TC_ACT_REDIRECT and bytes(t.open(out)) == bytes(inner)
    engine.engine(ENG_IF, ENG_WIF, up=True)
    ret, frame = t.send(inner)            # and now it goes
    assert trailer(frame)["op"] == OP_SEAL
    st = t.stats()
    assert st["packets"] == 3 and st["engine"] == 0


def test_foreign_frames_on_the_link_are_dropped(engine):
    """Nothing but trailered frames crosses the link: anything else is dropped, counted."""
    before = engine.engstats()
    junk = bytes(Ether() / inner_packet(4, 200))
    assert engine.run("tc_eng_back", junk)[0] == TC_ACT_SHOT
    assert engine.run("tc_eng_fallback", junk)[0] == TC_ACT_SHOT
    assert engine.engstats()["bad"][0] == before["bad"][0] + 2, "each drop counted"
    # A trailer whose lengths point past the frame: a bad frame, never a read past it.
    t = Tunnel(engine, SUITES[0])
    engine.engkey(t.sa_id)
    ret, frame = engine.run("xdp_esp_in", bytes(t.frame(t.seal(inner_packet(4), 1))))
    bad = bytearray(frame)
    struct.pack_into("<H", bad, len(bad) - TRL + 26, 9000)     # text_len
    back = through_fallback(engine, bytes(bad))
    assert trailer(back)["op"] == 7
    assert engine.run("tc_eng_back", back)[0] == TC_ACT_SHOT
    assert t.stats()["crypto"] == 1


def test_small_packets_wait_behind_the_engine(engine):
    """Below the threshold a packet takes BPF's cipher, unless one of its SA's is in the
    engine: then it goes behind it, so that it cannot overtake it (the far end's window
    would drop the one overtaken by 64 others)."""
    t = Out(engine, SUITES[0])
    engine.engkey(t.sa_id)
    engine.engine(ENG_IF, ENG_WIF, up=True, mins=(1000, 1000, 1000))
    big, small = inner_packet(4, 1200), inner_packet(4, 10)
    ret, f1 = t.send(big)
    assert trailer(f1)["op"] == OP_SEAL
    ret, f2 = t.send(small)                     # the big one is still in the engine
    assert ret == TC_ACT_REDIRECT and trailer(f2)["op"] == OP_SEAL and trailer(f2)["seq"] == 2
    for f in (f1, f2):
        ret, out = engine.run("tc_eng_back", through_fallback(engine, f))
        assert ret == TC_ACT_REDIRECT
    ret, out = t.send(small)                    # none in flight: BPF's
    assert ret == TC_ACT_REDIRECT and bytes(t.open(out)) == bytes(small)
    assert t.stats()["engine"] == 2 and t.stats()["packets"] == 3
