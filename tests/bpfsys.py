# SPDX-License-Identifier: GPL-2.0-only
"""The bpf(2) calls a test needs on a pinned map, through ctypes: each returns 0 or -errno."""
import ctypes
import os

NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
MAP_LOOKUP_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY, OBJ_GET = 1, 3, 4, 7

_libc = ctypes.CDLL(None, use_errno=True)


class _Attr(ctypes.Structure):
    # union bpf_attr, as BPF_MAP_*_ELEM reads it (BPF_OBJ_GET: pathname, bpf_fd, file_flags).
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("key", ctypes.c_uint64), ("value", ctypes.c_uint64),
                ("flags", ctypes.c_uint64), ("rest", ctypes.c_uint8 * 96)]


def _bpf(cmd, attr):
    r = _libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    return r if r >= 0 else -ctypes.get_errno()


def obj_get(path):
    """An fd for the pinned object at path, or -errno."""
    p = ctypes.create_string_buffer(path.encode())
    a = _Attr()
    ctypes.memmove(ctypes.addressof(a), ctypes.pointer(ctypes.c_uint64(ctypes.addressof(p))), 8)
    return _bpf(OBJ_GET, a)


def _elem(cmd, fd, key, out_size=0):
    k = ctypes.create_string_buffer(key, len(key))
    out = ctypes.create_string_buffer(max(out_size, 1))
    a = _Attr(map_fd=fd, key=ctypes.addressof(k), value=ctypes.addressof(out))
    return _bpf(cmd, a), out.raw[:out_size]


def lookup(fd, key, value_size):
    return _elem(MAP_LOOKUP_ELEM, fd, key, value_size)


def get_next_key(fd, key):
    return _elem(MAP_GET_NEXT_KEY, fd, key, len(key))


def delete(fd, key):
    return _elem(MAP_DELETE_ELEM, fd, key)[0]
