"""Calls the broker would only deny and log (DENIED rows the policy lets
by) are denied by the runtime itself (strictbox/calls/denials.py): the
program and its log see what they would see, with no round trip, and a
policy that says more about such a call, or a tracer, still sees each."""

from __future__ import annotations

import io

from conftest import sandboxed
from strictbox.policy import Policy
from strictbox.calls import denials, registry
from strictbox.trace import Tracer

CODE = ("import os, socket, ctypes\n"
        "for _ in range(3):\n"
        "    try: socket.socket()\n"
        "    except OSError as e: print('socket', e.errno)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('ptrace', libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"
        "print('uname', os.uname().sysname)\n")
ARGV = ["/usr/bin/python3", "-I", "-c", CODE]
WANT = b"socket 13\nsocket 13\nsocket 13\nptrace -1 1\nuname Linux\n"


def served(monkeypatch) -> list[str]:
    """The names of the calls the broker is asked to serve from now on."""
    names = []
    real = registry._serve

    def spy(sb, nr, args):
        names.append(registry.kernel.SYSCALL_NAME.get(nr))
        return real(sb, nr, args)
    monkeypatch.setattr(registry, "_serve", spy)
    return names


def test_the_runtime_denies_them_as_the_broker_would(monkeypatch):
    names = served(monkeypatch)
    here = sandboxed(ARGV)
    assert here.reason is None and here.stdout == WANT, (here.reason, here.stdout, here.stderr)
    assert "socket" not in names and "ptrace" not in names and "openat" in names
    real_table = denials.table
    monkeypatch.setattr(denials, "table", lambda sb: real_table(sb) and [])  # (the broker's again)
    names.clear()
    there = sandboxed(ARGV)
    sockets = names.count("socket")  # (CPython's start makes two of its own)
    assert sockets >= 3 and names.count("ptrace") == 1
    assert (there.stdout, there.stats["denied"]) == (here.stdout, here.stats["denied"])
    assert here.log == there.log
    assert here.log.count("denied socket: no network (EACCES)") == sockets
    assert "denied ptrace: never (EPERM)" in here.log


def test_a_policy_that_says_more_about_one_sees_each(monkeypatch):
    names = served(monkeypatch)
    killed = sandboxed(ARGV, policy=Policy.permissive().kill("socket"))
    assert killed.reason.startswith("policy: killed on socket"), killed.reason
    assert names.count("socket") == 1
    names.clear()
    ruled = sandboxed(ARGV, policy=Policy.permissive().deny("socket", "domain == 2", errno="EPERM"))
    assert ruled.stdout == WANT.replace(b"socket 13", b"socket 1"), ruled.stdout
    assert names.count("socket") >= 3 and "ptrace" not in names  # (ptrace: still the runtime's)
    assert sum("domain=2" in line and "EPERM" in line for line in ruled.log) == 3, ruled.log


def test_a_traced_run_shows_each():
    out = io.StringIO()
    r = sandboxed(ARGV, tracer=Tracer(out))
    assert r.stdout == WANT
    shown = out.getvalue().count("socket(")
    assert shown >= 3 and shown == r.log.count("denied socket: no network (EACCES)"), out.getvalue()[-2000:]
