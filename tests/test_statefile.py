# SPDX-License-Identifier: GPL-2.0-only
"""
The agent's state file (/run/ipsecif/state/net-INODE), which lets the
next agent adopt the tables, holds no key: the keys live in the key map
only (installed through key_install), and the file says which slot an SA
uses.  And it is root's alone: mode 0600 in a 0700 folder.
"""
import os
import stat

import pytest

from agents import pin_dir, setkey
from test_freebsd import hosts  # noqa: F401  (fixture)
from test_restart import bring_up

STATE_DIR = "/run/ipsecif/state"


def state_file(ns):
    return os.path.join(STATE_DIR, os.path.basename(pin_dir(ns)))


@pytest.fixture
def keyed(hosts):
    """Both hosts with the FreeBSD example's SAs (AES-GCM) and one CBC+HMAC SA; the keys."""
    a, b = hosts
    keys = [os.urandom(20), os.urandom(20)]
    bring_up(a, b, "aes-gcm-16", ["0x" + k.hex() for k in keys])
    cbc, hmac = os.urandom(16), os.urandom(32)
    r = setkey(a, f"add 192.168.0.3 192.168.0.9 esp 30000 -u 100 -E aes-cbc 0x{cbc.hex()} "
                  f"-A hmac-sha2-256 0x{hmac.hex()};\n")
    assert r.returncode == 0, r.stderr
    return a, keys + [cbc, hmac]


def test_state_file_holds_no_key(keyed):
    a, keys = keyed
    with open(state_file(a), "rb") as f:
        data = f.read()
    assert data, "no state"
    for k in keys:
        # Whole, in halves, as hex: no form of the key is there.
        for piece in (k, k[:len(k) // 2], k[len(k) // 2:], k.hex().encode()):
            assert piece not in data, f"{len(piece)} bytes of a key in {state_file(a)}"


def test_state_file_mode(keyed):
    a, _ = keyed
    assert stat.S_IMODE(os.stat(STATE_DIR).st_mode) == 0o700
    mode = stat.S_IMODE(os.stat(state_file(a)).st_mode)
    assert mode == 0o600, oct(mode)
