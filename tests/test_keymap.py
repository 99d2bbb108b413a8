# SPDX-License-Identifier: GPL-2.0-only
"""
The key map holds no key material that user space can read.  What is
derived from a key (ChaCha20 key words, the GCM salt and GHASH key H,
HMAC inner and outer states) lives in an object of the program's own
(bpf_obj_new) behind a kptr in the map value, and the AES key in the
kernel's crypto context behind another: a lookup copies kptr fields out
as zero, so bpftool, or any fd on the pin, sees only the transforms.
The agent still installs keys (the key_install program) and removes
them, and the tunnel carries traffic.  Two agents, the FreeBSD example's
two hosts, for every suite.
"""
import json
import time

import pytest

from agents import map_dump, pin_dir, poll, run_in, setkey
from test_freebsd import VARIANTS, hosts  # noqa: F401  (fixture)
from test_restart import bring_up

ENC = {"rijndael-cbc": 1, "aes-gcm-16": 2, "chacha20-poly1305": 3}   # enum ipsecif_enc


def raw_values(ns):
    """The keys map's values, as the bytes a lookup from user space returns."""
    dump = json.loads(run_in(ns, "bpftool", "-j", "map", "dump", "pinned",
                             f"{pin_dir(ns)}/keys").stdout)
    return [bytes(int(b, 16) for b in e["value"]) for e in dump]


@pytest.mark.parametrize("alg", list(VARIANTS))
def test_keys_unreadable_from_user_space(hosts, alg):
    a, b = hosts
    keys = VARIANTS[alg]
    bring_up(a, b, alg, keys)
    r = a("ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.0.5", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    for ns in (a, b):
        values = raw_values(ns)
        assert len(values) == 2, values
        for v in values:
            # Two kptrs (the AES context, the secret), then enc, auth, flags, ICV length.
            assert len(v) == 24 and v[:16] == bytes(16), v.hex()
            assert v[16] == ENC[alg], v.hex()
            for k in keys:
                raw = k.strip('"').encode() if k.startswith('"') else bytes.fromhex(k[2:])
                assert raw[:4] not in v and raw[-4:] not in v, (k, v.hex())
    # Removal goes on: a flush takes every key out with its SA.
    r = setkey(b, "flush;\n")
    assert r.returncode == 0, r.stderr
    poll(lambda: map_dump(b, "sa_ctr") == [], 2, "sa_ctr empty")
    time.sleep(0.3)   # the key goes last of an SA's slots, a grave's time after
    assert raw_values(b) == []
    r = a("ping", "-c", "1", "-W", "1", "172.16.0.5", check=False)
    assert r.returncode != 0, "B decrypts without its SAs"
