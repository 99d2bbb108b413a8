# SPDX-License-Identifier: GPL-2.0-only
"""
The key map holds what the data path derived from the SAs' keys
(ChaCha20 keys, GHASH H, HMAC inner and outer states).  It must not be
readable from user space: bpftool cannot dump it and no fd, the pin's
included, can look an entry up, while the agent still installs keys
(through the key_install program) and removes them.  Two agents, the
FreeBSD example's two hosts.

Not so yet, and BPF_F_WRONLY cannot make it so: the kernel keeps that flag
on the creating fd only (bpf_map_flags_retain_permanent() drops it from
the map), so the pin, and any fd by id, read as before; and libbpf would
then refuse to adopt the pinned map after a restart (its map_flags differ).
Nor can a kptr to an object of the program's own (bpf_obj_new), which a
lookup would copy out as zero: tried, and it works until the agent
restarts.  The map's kptr field is typed in the BTF of the program load
that created the map, and a program-allocated type matches only within
one BTF object; an adopting agent's new load (a new BTF object, however
identical) is refused by the verifier as it stores or reads the object
(key_install: EACCES), so restart without loss would end.  Kernel types
(the AES context's bpf_crypto_ctx) do not have that problem.  What would:
the material sealed under a key of the kernel's own (an ecb(aes)
bpf_crypto_ctx made from random bytes the agent wipes), opened per packet
into per-CPU scratch.
"""
import errno
import json
import os
import struct
import time

import pytest

from agents import map_dump, pin_dir, poll, run_in, setkey
from bpfsys import delete, get_next_key, lookup, obj_get
from test_freebsd import VARIANTS, hosts  # noqa: F401  (fixture)
from test_restart import bring_up


@pytest.mark.xfail(reason="open: key material sealed under a kernel-held key (BPF_F_WRONLY is "
                   "per fd; a local kptr breaks adoption)", strict=True)
def test_keys_unreadable_from_user_space(hosts):
    a, b = hosts
    bring_up(a, b, "chacha20-poly1305", VARIANTS["chacha20-poly1305"])
    r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    path = f"{pin_dir(b)}/keys"
    info = json.loads(run_in(b, "bpftool", "-j", "map", "show", "pinned", path).stdout)
    dump = run_in(b, "bpftool", "map", "dump", "pinned", path, check=False)
    assert dump.returncode != 0 and "Operation not permitted" in dump.stderr, dump
    ids = sorted(e["value"]["id"] for e in map_dump(b, "sa_in"))
    assert ids, "no inbound SA"
    fd = obj_get(path)
    assert fd >= 0, fd
    try:
        for i in ids:
            key = struct.pack("=I", i)
            assert lookup(fd, key, info["bytes_value"])[0] == -errno.EPERM
            assert get_next_key(fd, key)[0] == -errno.EPERM
        assert get_next_key(fd, b"\xff" * 4)[0] == -errno.EPERM
        # Removal is a write: the agent's flush takes the keys out.
        r = setkey(b, "flush;\n")
        assert r.returncode == 0, r.stderr
        poll(lambda: map_dump(b, "sa_ctr") == [], 2, "sa_ctr empty")
        time.sleep(0.3)   # the key goes last of an SA's slots (sa_slots_remove)
        left = [i for i in ids if delete(fd, struct.pack("=I", i)) != -errno.ENOENT]
        assert not left, f"keys {left} outlived their SAs"
    finally:
        os.close(fd)
    r = a("ping", "-c", "1", "-W", "1", "172.16.0.5", check=False)
    assert r.returncode != 0, "B decrypts without its SAs"
