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


MAP_GET_FD_BY_ID, MAP_LOOKUP_BATCH = 14, 24


class _BatchAttr(ctypes.Structure):
    # union bpf_attr, as BPF_MAP_LOOKUP_BATCH reads it.
    _fields_ = [("in_batch", ctypes.c_uint64), ("out_batch", ctypes.c_uint64),
                ("keys", ctypes.c_uint64), ("values", ctypes.c_uint64),
                ("count", ctypes.c_uint32), ("map_fd", ctypes.c_uint32),
                ("elem_flags", ctypes.c_uint64), ("flags", ctypes.c_uint64),
                ("rest", ctypes.c_uint8 * 80)]


def possible_cpus():
    """How many CPUs the kernel sizes per-CPU values for (/sys/.../cpu/possible: 0-N)."""
    with open("/sys/devices/system/cpu/possible") as f:
        return int(f.read().strip().split(",")[-1].split("-")[-1]) + 1


def map_fd_by_id(map_id):
    """An fd for map map_id, or -errno."""
    a = _Attr()
    ctypes.memmove(ctypes.addressof(a), ctypes.pointer(ctypes.c_uint32(map_id)), 4)
    return _bpf(MAP_GET_FD_BY_ID, a)


def values(fd, key_size, value_size, per_cpu=0):
    """Every value of the map, raw and concatenated (per_cpu: the CPUs' each), in
    batches of a thousand entries: one system call where bpftool's JSON takes seconds
    for an array of 16,384.  None if the map has no batch lookup (-EINVAL, -ENOTSUPP)."""
    step = -(-value_size // 8) * 8 * per_cpu if per_cpu else value_size
    n = 1024
    keys = ctypes.create_string_buffer(key_size * n)
    vals = ctypes.create_string_buffer(step * n)
    token = ctypes.create_string_buffer(max(key_size, 8))
    out = ctypes.create_string_buffer(max(key_size, 8))
    blob, first = bytearray(), True
    while True:
        a = _BatchAttr(in_batch=0 if first else ctypes.addressof(token),
                       out_batch=ctypes.addressof(out), keys=ctypes.addressof(keys),
                       values=ctypes.addressof(vals), count=n, map_fd=fd)
        r = _bpf(MAP_LOOKUP_BATCH, a)
        blob += vals.raw[:a.count * step]
        if r == -2:         # ENOENT: the last batch
            return bytes(blob)
        if r < 0:
            return None if first else bytes(blob)
        ctypes.memmove(token, out, len(out.raw))
        first = False
