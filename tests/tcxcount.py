# SPDX-License-Identifier: GPL-2.0-only
"""
Another owner's tcx program, without a compiler or a tool that knows tcx
(Debian's bpftool 7.1 does not): ten instructions that count every packet
in an array map and hand it on (TCX_NEXT), attached through bpf(2) before
everything else at a device's TC ingress, the link and the map pinned.

    ip netns exec NS python3 tcxcount.py DEV PIN_PREFIX   # PREFIX_link, PREFIX_map
"""
import ctypes
import os
import struct
import sys

import bpfsys

MAP_CREATE, PROG_LOAD, OBJ_PIN, LINK_CREATE = 0, 5, 6, 28
ARRAY, SCHED_CLS, TCX_INGRESS, F_BEFORE = 2, 3, 46, 1 << 3


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


def program(map_fd):
    return b"".join([
        insn(0x62, 10, 0, -4, 0),        # *(u32 *)(r10 - 4) = 0: the key
        insn(0xbf, 2, 10),               # r2 = r10
        insn(0x07, 2, 0, 0, -4),         # r2 += -4
        insn(0x18, 1, 1, 0, map_fd),     # r1 = the map (ld_imm64, pseudo map fd)
        insn(0x00),
        insn(0x85, 0, 0, 0, 1),          # call bpf_map_lookup_elem
        insn(0x15, 0, 0, 2, 0),          # if r0 == 0 goto +2
        insn(0xb7, 1, 0, 0, 1),          # r1 = 1
        insn(0xdb, 0, 1, 0, 0),          # lock *(u64 *)(r0 + 0) += r1
        insn(0xb7, 0, 0, 0, -1),         # r0 = TCX_NEXT
        insn(0x95),                      # exit
    ])


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = bpfsys._libc.syscall(bpfsys.NR_BPF, cmd, buf, 128)
    if r < 0:
        raise OSError(ctypes.get_errno(), f"bpf({cmd})")
    return r


def pin(fd, path):
    p = ctypes.create_string_buffer(path.encode())
    bpf(OBJ_PIN, struct.pack("<QI", ctypes.addressof(p), fd))


def attach(dev, prefix):
    map_fd = bpf(MAP_CREATE, struct.pack("<IIII", ARRAY, 4, 8, 1))
    code = ctypes.create_string_buffer(program(map_fd))
    lic = ctypes.create_string_buffer(b"GPL")
    prog_fd = bpf(PROG_LOAD, struct.pack("<IIQQ", SCHED_CLS, len(code.raw) // 8,
                                         ctypes.addressof(code), ctypes.addressof(lic)))
    link_fd = bpf(LINK_CREATE, struct.pack("<IIII", prog_fd, int(open(
        f"/sys/class/net/{dev}/ifindex").read()), TCX_INGRESS, F_BEFORE))
    pin(link_fd, prefix + "_link")
    pin(map_fd, prefix + "_map")


def count(prefix):
    """Packets the program saw, read from the pinned map."""
    fd = bpfsys.obj_get(prefix + "_map")
    assert fd >= 0, fd
    try:
        r, v = bpfsys.lookup(fd, struct.pack("<I", 0), 8)
        assert r == 0, r
        return struct.unpack("<Q", v)[0]
    finally:
        os.close(fd)


if __name__ == "__main__":
    attach(sys.argv[1], sys.argv[2])
