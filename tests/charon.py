# SPDX-License-Identifier: GPL-2.0-only
"""
strongSwan's charon in a test namespace: its own mount namespace (a tmpfs
on /run, where charon always writes charon.pid), its own strongswan.conf
(STRONGSWAN_CONF), vici socket and log in a temporary folder, and the
kernel-ipsecif plugin from build/ (LD_PRELOAD: charon finds a plugin's
constructor in the process before it looks in its plugin folder) unless
backend="libipsec".
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from dp import ROOT

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
PLUGIN = os.path.join(ROOT, "build", "libstrongswan-kernel-ipsecif.so")
INSTALLED = "/usr/lib/ipsec/plugins/libstrongswan-kernel-ipsecif.so"

# What charon loads: IKE's crypto, then the IPsec backend ahead of
# kernel-netlink (the first "kernel-ipsec" wins; netlink keeps addresses
# and routes), the IKE socket and vici.
CRYPTO = "random nonce openssl aes gcm chapoly sha1 sha2 hmac kdf curve25519 pem pkcs1 x509 pubkey"
BACKENDS = {
    "ipsecif": "kernel-ipsecif kernel-netlink",
    "libipsec": "kernel-libipsec kernel-netlink",
}

CONF = """charon {{
    load = {load}
    install_routes = {routes}
    # IKE never over its own tunnels (MOBIKE would probe paths through them).
    interfaces_ignore = {ignore}{settings}
    install_virtual_ip = no
    retransmit_timeout = 1.0
    retransmit_base = 1.4
    retransmit_tries = 4
    make_before_break = yes
    # Two CPUs seal one SA: more than charon's default of 32 (docs/DATAPATH.md,
    # "Replay windows"); with ESN a packet left of the window fails its ICV.
    replay_window = 1024
    filelog {{
        log {{
            path = {tmp}/charon.log
            time_format = %s
            flush_line = yes
            default = 1
            knl = 2
            ike = 2
            chd = 2
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
    plugins {{
        vici {{
            socket = unix://{tmp}/charon.vici
        }}
        {extra}
    }}
}}
"""


def wait_for(cond, timeout, step=0.02):
    """Poll cond until it is true or timeout seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


class Charon:
    """One charon in netns ns, stopped by close()."""

    def __init__(self, ns, backend="ipsecif", extra="", routes=False, preload=True,
                 ignore="ipsec0", settings=""):
        """extra: plugins' settings; ignore: interfaces_ignore's list; settings:
        more of charon's own, one "key = value" a line."""
        self.ns = ns
        self.tmp = tempfile.mkdtemp(prefix="ipsecif-charon-")
        self.conf = os.path.join(self.tmp, "strongswan.conf")
        self.uri = f"unix://{self.tmp}/charon.vici"
        with open(self.conf, "w") as f:
            f.write(CONF.format(load=CRYPTO + " " + BACKENDS[backend] +
                                " socket-default vici", tmp=self.tmp, extra=extra,
                                routes="yes" if routes else "no", ignore=ignore,
                                settings="".join("\n    " + l for l in settings.splitlines())))
        env = dict(os.environ, STRONGSWAN_CONF=self.conf)
        # For charon alone (ip and sh have no libcharon to resolve it against).
        # preload=False: from charon's plugin folder (make install-plugin).
        preload = f"LD_PRELOAD={PLUGIN} " if backend == "ipsecif" and preload else ""
        # A mount namespace of its own: /run (and so /var/run/charon.pid) is
        # this charon's.  The bpffs under /run is the agents' business, not
        # charon's: it is not needed in here.
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, "unshare", "-m", "--propagation", "private",
             "sh", "-c", f"mount -t tmpfs tmpfs /run && {preload}exec {CHARON}"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.tmp + "/stderr", "w"),
            start_new_session=True)
        if not wait_for(lambda: self.proc.poll() is not None or
                        self.swanctl("--stats", check=False).returncode == 0, 20):
            self.close()
            raise AssertionError("charon did not come up:\n" + self.log())
        if self.proc.poll() is not None:
            raise AssertionError("charon exited:\n" + self.log() + self.stderr())

    def swanctl(self, cmd, *args, check=True, timeout=30):
        r = subprocess.run([SWANCTL, cmd, "--uri", self.uri] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    def load(self, text, timeout=30):
        """Load a swanctl.conf (connections and secrets)."""
        path = os.path.join(self.tmp, "swanctl.conf")
        with open(path, "w") as f:
            f.write(text)
        return self.swanctl("--load-all", "--noprompt", "--file", path, timeout=timeout)

    def log(self):
        try:
            with open(os.path.join(self.tmp, "charon.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stderr(self):
        with open(os.path.join(self.tmp, "stderr")) as f:
            return f.read()

    def count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if not os.environ.get("KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


SWANCTL_CONF = """connections {{
    {name} {{
        version = 2
        local_addrs = {me}
        remote_addrs = {peer}
        proposals = {ike}
        rekey_time = {ike_rekey}
        reauth_time = {reauth}{ike_extra}
        dpd_delay = 0
        local {{
            auth = psk
            id = {my_id}
        }}
        remote {{
            auth = psk
            id = {peer_id}
        }}
        children {{
            {child} {{
                mode = tunnel
                reqid = {reqid}
                local_ts = {local_ts}
                remote_ts = {remote_ts}
                esp_proposals = {esp}
                start_action = {start}
                rekey_time = {rekey}
                life_time = {life}
                rand_time = {rand}
            }}
        }}
    }}
}}
secrets {{
    ike-{name} {{
        id-a = {my_id}
        id-b = {peer_id}
        secret = "{psk}"
    }}
}}
"""


def swanctl_conf(me, peer, my_id, peer_id, reqid, esp, psk, ike="aes256gcm16-prfsha256-x25519",
                 start="trap", rekey="1h", life="66m", rand="6m", ike_rekey="4h", reauth="0",
                 ike_over=None, ike_rand=None, name="site", child="net",
                 local_ts="0.0.0.0/0, ::/0", remote_ts="0.0.0.0/0, ::/0"):
    """One connection and its secret; several of them (other names) make one file: its
    sections merge."""
    extra = "".join(f"\n        {k} = {v}" for k, v in (("over_time", ike_over),
                                                       ("rand_time", ike_rand)) if v)
    return SWANCTL_CONF.format(me=me, peer=peer, my_id=my_id, peer_id=peer_id, reqid=reqid,
                               esp=esp, psk=psk, ike=ike, start=start, rekey=rekey,
                               life=life, rand=rand, ike_rekey=ike_rekey, reauth=reauth,
                               ike_extra=extra, name=name, child=child, local_ts=local_ts,
                               remote_ts=remote_ts)


class GuestCharon:
    """charon with kernel-netlink inside a UML guest (tests/uml.py): the
    Linux kernel's own ESP under strongSwan's own IKE.  Its files are in
    the guest's /run; its configuration is read from the host's files."""

    def __init__(self, guest):
        self.guest = guest
        conf = guest.file("strongswan.conf", CONF.format(
            load=CRYPTO + " kernel-netlink socket-default vici", tmp="/run", extra="",
            routes="yes", ignore="ipsec0", settings=""))
        self.uri = "unix:///run/charon.vici"
        guest.sh(f"STRONGSWAN_CONF={conf} {CHARON} >/run/charon.out 2>&1 &")
        if not wait_for(lambda: self.guest(SWANCTL, "--stats", "--uri", self.uri, check=False,
                                           idempotent=True).returncode == 0, 30):
            raise AssertionError("charon in the guest did not come up:\n" + self.log())

    def swanctl(self, cmd, *args, check=True, timeout=30):
        r = self.guest(SWANCTL, cmd, "--uri", self.uri, *args, check=False, timeout=timeout)
        if check:
            assert r.returncode == 0, r.stdout
        return r

    def load(self, text):
        return self.swanctl("--load-all", "--noprompt", "--file",
                            self.guest.file("swanctl.conf", text))

    def log(self):
        return self.guest.sh("cat /run/charon.log /run/charon.out", check=False).stdout

    def count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def close(self):
        self.guest.sh("kill $(cat /run/charon.pid)", check=False)
