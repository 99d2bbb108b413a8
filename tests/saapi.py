# SPDX-License-Identifier: GPL-2.0-only
"""
The agent's SA API (daemon/ctl.h: CTL_REQ_SA, CTL_REQ_EVENTS) from
Python, as the kernel-ipsecif plugin uses it.  The control socket is
abstract, so per network namespace: SaClient runs this file as a helper
inside the namespace ("ip netns exec") and talks to it in JSON lines.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys

MAGIC, VERSION = 0x46495349, 1
REQ_SA, REQ_EVENTS, RESP, EVENT = 5, 6, 0x100, 0x101
OPS = {"getspi": 1, "add": 2, "update": 3, "query": 4, "del": 5, "flush": 6, "policy": 7,
       "release": 8}
EVENTS = {1: "acquire", 2: "soft", 3: "hard", 4: "seq"}
HDR = struct.Struct("<IHHII")
SA = struct.Struct("<IIIIHHHH16s16sIBBBB64s64sQQQQQQHHHHII16s16s")
REPLY = struct.Struct("<IIQQQ")
EV = struct.Struct("<IIIHH16sQ")
ENC = {"aes-gcm-16": 2, "chacha20-poly1305": 3, "aes-cbc": 1}
AUTH = {"none": 0, "hmac-sha256": 1, "hmac-sha1": 2}
F_ESN, F_NATT = 1, 2
assert SA.size == 288 and REPLY.size == 32 and EV.size == 40


def addr(a):
    """(family, 16 bytes) of an address string; ("", None) for none."""
    if not a:
        return 0, bytes(16)
    if ":" in a:
        return socket.AF_INET6, socket.inet_pton(socket.AF_INET6, a)
    return socket.AF_INET, socket.inet_aton(a) + bytes(12)


def encode(req):
    fam, src = addr(req.get("src"))
    _, dst = addr(req.get("dst"))
    nfam, nsrc = addr(req.get("new_src"))
    _, ndst = addr(req.get("new_dst"))
    ek, ak = bytes.fromhex(req.get("enc_key", "")), bytes.fromhex(req.get("auth_key", ""))
    return SA.pack(OPS.get(req["op"], req["op"]) if isinstance(req["op"], str) else req["op"],
                   req.get("spi", 0), req.get("reqid", 0), req.get("flags", 0),
                   req.get("family", fam), req.get("sport", 0), req.get("dport", 0),
                   req.get("hold_ms", 0), src, dst,
                   req.get("replay", 64), ENC.get(req.get("enc"), 0),
                   AUTH[req.get("auth", "none")], len(ek), len(ak), ek, ak,
                   req.get("soft_bytes", 0), req.get("hard_bytes", 0),
                   req.get("soft_packets", 0), req.get("hard_packets", 0),
                   req.get("soft_time", 0), req.get("hard_time", 0),
                   nfam, req.get("new_sport", 0), req.get("new_dport", 0), 0,
                   req.get("new_flags", 0), 0, nsrc, ndst)


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0ipsecif-agent")
    return s


def recv_all(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionResetError("closed")
        b += c
    return b


def read_reply(s):
    magic, _, typ, length, _ = HDR.unpack(recv_all(s, HDR.size))
    assert magic == MAGIC and typ == RESP, (magic, typ)
    body = recv_all(s, length)
    status = struct.unpack("<i", body[:4])[0]
    return status, body[4:]


def exchange(msg):
    s = connect()
    try:
        s.sendall(msg)
        status, body = read_reply(s)
    finally:
        s.close()
    if status:
        return {"status": status, "error": body.decode(errors="replace").strip()}
    if len(body) != REPLY.size:
        return {"status": 0, "text": body.decode(errors="replace")}
    spi, active, nbytes, packets, idle = REPLY.unpack(body)
    return {"status": 0, "spi": spi, "active": bool(active), "bytes": nbytes,
            "packets": packets, "idle_ns": None if idle == (1 << 64) - 1 else idle}


def serve():
    """The helper: one JSON request a line on stdin, one JSON answer a line."""
    sub = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "raw":
                out = exchange(bytes.fromhex(req["hex"]))
            elif req["op"] == "subscribe":
                sub = connect()
                sub.sendall(HDR.pack(MAGIC, VERSION, REQ_EVENTS, 0, 0))
                st, _ = read_reply(sub)
                out = {"status": st}
            elif req["op"] == "event":
                r, _, _ = select.select([sub], [], [], req.get("timeout", 5))
                if not r:
                    out = {"status": 0, "event": None}
                else:
                    magic, _, typ, length, _ = HDR.unpack(recv_all(sub, HDR.size))
                    t, reqid, spi, fam, _, dst, value = EV.unpack(recv_all(sub, length))
                    dst = (socket.inet_ntop(fam, dst[:4] if fam == socket.AF_INET else dst)
                           if fam else None)
                    out = {"status": 0, "event": {"type": EVENTS.get(t, t), "reqid": reqid,
                                                  "spi": spi, "dst": dst, "value": value,
                                                  "msg_type": typ}}
            else:
                out = exchange(HDR.pack(MAGIC, VERSION, REQ_SA, SA.size, 0) + encode(req))
        except (OSError, ConnectionError) as e:
            out = {"status": "oserror", "error": str(e)}
        print(json.dumps(out), flush=True)


class SaClient:
    """The helper in ns; call(op=..., ...) returns its answer as a dict."""

    def __init__(self, ns):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns.name, "/usr/bin/python3",
                                   os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def call(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


if __name__ == "__main__":
    serve()
