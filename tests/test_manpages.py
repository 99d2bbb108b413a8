# SPDX-License-Identifier: GPL-2.0-only
"""
The manual pages say everything the programs accept and print:
ipsecifctl(8) every command of ipsecifctl's table, every word the
interface and setkey parsers take (read from daemon/ifcmd.c and
daemon/setkey.c) and every JSON field the agent prints; ipsecif(7) every
drop reason (daemon/show.c); mandoc's linter finds nothing; and the bash
completion offers every interface word.
"""
import json
import os
import re
import subprocess

import pytest

from agents import AGENT, ctl, freebsd_hosts, poll, run_in, setkey
from dp import ROOT

MAN = os.path.join(ROOT, "man")
PAGES = ["ipsecifctl.8", "ipsecif-agent.8", "ipsecif-engine.8", "ipsecif.conf.5", "ipsecif.7"]


def source(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def rendered(page):
    """The page as a reader sees it, with hyphens plain and no overstrikes."""
    out = subprocess.run(["mandoc", "-T", "ascii", os.path.join(MAN, page)], check=True,
                         capture_output=True, text=True).stdout
    return re.sub(r".\x08", "", out)


def has_word(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def table_commands():
    """The names in ipsecifctl.c's commands[] (the last, unnamed, is the interface one)."""
    body = re.search(r"commands\[\] = \{(.*?)\n\};", source("daemon/ipsecifctl.c"), re.S).group(1)
    return re.findall(r'\{ "([a-z]+)", do_', body)


def literals(path, func_pattern):
    """The string literals compared by the parser: strcmp(x, "word") and table names."""
    text = source(path)
    words = set(re.findall(func_pattern, text))
    return {w for w in words if w not in (";",)}


def ifcmd_words():
    words = literals("daemon/ifcmd.c", r'strcmp\([^,]*, "([^"]+)"\)')
    words |= set(re.findall(r'\{ "([a-z0-9-]+)", IPSECIF_F_', source("daemon/ifcmd.c")))
    return words


def setkey_words():
    text = source("daemon/setkey.c")
    words = set(re.findall(r'strcmp\([^,]*, "([^"]+)"\)', text))
    words |= set(re.findall(r'\{ "([a-z0-9-]+)", IPSECIF_(?:ENC|AUTH)_', text))
    return words - {";"}


def test_lint():
    r = subprocess.run(["mandoc", "-Tlint", "-W", "warning"] +
                       [os.path.join(MAN, p) for p in PAGES], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout + r.stderr, r.stdout + r.stderr


def test_options_in_ipsecif_engine_8():
    """Every option of the engine worker (daemon/engine-main.c) is on its page."""
    opts = re.findall(r'\{ "([a-z-]+)", required_argument', source("daemon/engine-main.c"))
    assert len(opts) == 7, opts
    page = rendered("ipsecif-engine.8")
    assert [o for o in opts if not has_word(page, "--" + o)] == []


def test_commands_in_ipsecifctl_8():
    page = rendered("ipsecifctl.8")
    cmds = table_commands()
    assert {"setkey", "lan", "stats", "help"} <= set(cmds), cmds
    missing = [c for c in cmds if not has_word(page, c)]
    assert not missing, missing


def program_words(path):
    """A program's own options and commands: its strcmp literals and command table."""
    text = source(path)
    return set(re.findall(r'strcmp\([^,]*, "([^"]+)"\)', text)) | \
        set(re.findall(r'\{ "([a-z]+)", do_', text))


@pytest.mark.parametrize("what", ["ifcmd", "setkey", "ipsecifctl", "agent"])
def test_parser_words_in_pages(what):
    page = rendered("ipsecif-agent.8" if what == "agent" else "ipsecifctl.8")
    words = ifcmd_words() if what == "ifcmd" else setkey_words() if what == "setkey" else \
        program_words("daemon/ipsecifctl.c" if what == "ipsecifctl" else "daemon/main.c")
    assert len(words) > 10, words
    missing = sorted(w for w in words if not has_word(page, w))
    assert not missing, missing


def test_drop_reasons_in_ipsecif_7():
    names = re.search(r"ipsecif_drop_names\[\] = \{(.*?)\};", source("daemon/show.c"),
                      re.S).group(1)
    names = re.findall(r'"([a-z_]+)"', names)
    assert len(names) >= 19
    page = rendered("ipsecif.7")
    missing = [n for n in names if not has_word(page, n)]
    assert not missing, missing


def test_completion_words():
    comp = source("scripts/ipsecifctl.bash-completion")
    words = set(re.search(r'_ipsecifctl_ifwords="([^"]*)"', comp).group(1).split())
    want = ifcmd_words() - {"lan", "stats", "add", "del", "-o", "openmetrics", "engine", "on",
                            "off", "min", "workers", "cpus"}
    assert want <= words, sorted(want - words)
    for c in table_commands():
        assert has_word(comp, c), c


def keys(v, out, skip=("drops",)):
    """Every object key in v, except inside the objects named in skip."""
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(k)
            if k not in skip:
                keys(x, out, skip)
    elif isinstance(v, list):
        for x in v:
            keys(x, out, skip)
    return out


def test_json_fields_in_ipsecifctl_8(host_bpffs):
    with freebsd_hosts() as (a, b):
        for ns, reqid in ((a, 100), (b, 200)):
            me, peer = ("192.168.0.3", "192.168.0.5") if ns is a else ("192.168.0.5",
                                                                      "192.168.0.3")
            ctl(ns, "ipsec0", "create", "reqid", str(reqid))
            ctl(ns, "ipsec0", "inet", "tunnel", me, peer)
            ctl(ns, "ipsec0", "inet", "172.16.0.%s/16" % me[-1], "172.16.0.%s" % peer[-1])
            r = setkey(ns, f"add 192.168.0.3 192.168.0.5 esp 10000 -m tunnel -u {reqid} "
                           f"-E aes-gcm-16 0x{'11' * 20};\n"
                           f"add 192.168.0.5 192.168.0.3 esp 10001 -m tunnel -u {reqid} "
                           f"-E aes-gcm-16 0x{'22' * 20};\n")
            assert r.returncode == 0, r.stderr
        docs = [json.loads(ctl(a, "-j").stdout),
                json.loads(ctl(a, "-j", "setkey", "-D").stdout),
                json.loads(ctl(a, "-j", "setkey", "-DP").stdout),
                json.loads(run_in(a, AGENT, "status", "-j").stdout)]
        ctl(a, "engine", "on", "workers", "1")
        poll(lambda: json.loads(ctl(a, "-j", "engine").stdout)["up"], 10, "the engine up")
        docs.append(json.loads(ctl(a, "-j", "engine").stdout))
        fields = set()
        for d in docs:
            keys(d, fields)
        drops = keys(docs[0]["interfaces"][0]["drops"], set())
    assert {"interfaces", "sas", "policies", "pin_dir", "natt", "inner"} <= fields
    page = rendered("ipsecifctl.8")
    assert {"worker", "min_text", "heartbeat_age_ms", "engine"} <= fields
    missing = sorted(f for f in fields if not has_word(page, f))
    assert not missing, missing
    # The drop reasons, the keys of "drops", are ipsecif(7)'s.
    model = rendered("ipsecif.7")
    assert not [d for d in drops if not has_word(model, d)]
