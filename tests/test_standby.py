"""A stub started ahead, standing by for the next start (strictbox/standby.py):
it is started only once the process has run no sandbox for a while, a start
takes it only while it is what a stub started then would be, and whatever
befalls it, the run is the run a stub started for it would give."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from conftest import sandboxed
from strictbox import afterwards, sandbox, standby

PROGRAM = ["/usr/bin/python3", "-I", "-c",
           "import sys, zlib; d = sys.stdin.buffer.read(); print(len(d), zlib.crc32(d)); "
           "print('err', file=sys.stderr); sys.exit(3)"]
DATA = os.urandom(100_000)


def standing_by() -> int:
    """Ends a run, waits until a standby stands by; its pid."""
    sandboxed(["/usr/bin/python3", "-I", "-c", "pass"])
    afterwards.wait()
    pid = standby.pid()
    assert pid is not None
    return pid


def run_checked():
    import zlib
    got = sandboxed(PROGRAM, input=DATA)
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (
        f"{len(DATA)} {zlib.crc32(DATA)}\n".encode(), b"err\n", 3)
    return got


def test_the_next_start_takes_the_standby_and_runs_as_any(monkeypatch):
    pid = standing_by()
    started = []
    real = sandbox.Sandbox.start
    monkeypatch.setattr(sandbox.Sandbox, "start", lambda sb: (real(sb), started.append(sb.pid)))
    run_checked()
    assert started == [pid]
    afterwards.wait()
    assert standby.pid() not in (None, pid)  # (a new one, once the run was over)


def test_runs_back_to_back_start_no_standby(monkeypatch):
    """With no idle time between runs, none is started beside them."""
    standing_by()
    taken = []
    real = standby.take
    monkeypatch.setattr(standby, "take", lambda stub: taken.append(real(stub)) or taken[-1])
    for _ in range(8):
        got = sandboxed(["/usr/bin/python3", "-I", "-c", "pass"])
        assert got.reason is None
    assert taken[0] is not None and taken[1:] == [None] * 7


def test_a_standby_started_under_other_limits_is_not_taken():
    """Limits changed since: a stub started now would have the new ones."""
    pid = standing_by()
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0 if soft else min(hard, 4096), hard))
    try:
        got = run_checked()
        assert got.returncode == 3
        with pytest.raises(ProcessLookupError):  # (it was let go and reaped)
            os.kill(pid, 0)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


@pytest.mark.parametrize("when", ["before", "between"])
def test_a_standby_killed_costs_nothing_but_its_speed(monkeypatch, when):
    """Killed before a start takes it, or after its first message (the
    image it copied in, the broker copies again): the start starts a stub."""
    pid = standing_by()
    if when == "before":
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    else:
        real = standby.send

        def send(s, fds, **kw):
            if kw.get("last"):
                os.kill(s.proc.pid, signal.SIGKILL)
                s.proc.wait()
            return real(s, fds, **kw)
        monkeypatch.setattr(standby, "send", send)
    run_checked()


def test_a_standby_goes_with_its_process():
    code = ("import strictbox, sys; from strictbox import afterwards, standby\n"
            "strictbox.run(['/usr/bin/python3', '-I', '-c', 'pass']); afterwards.wait()\n"
            "print(standby.pid(), flush=True)\n"
            "if sys.argv[1] == 'kill': import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n")
    for how in ("exit", "kill"):
        out = subprocess.run([sys.executable, "-c", code, how], capture_output=True, timeout=60)
        pid = int(out.stdout)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"the standby {pid} outlived its process ({how})")


def _fds_of_sandbox(monkeypatch, take) -> list[str]:
    """What the fds of a running sandbox's process are (by kind), started
    from a standby or not."""
    monkeypatch.setattr(standby, "take", take)
    seen = []
    real = sandbox.Sandbox.start

    def start(sb):
        real(sb)
        for _ in range(200):  # (the program blocks reading stdin: all is in place)
            if os.path.exists(f"/proc/{sb.pid}/task") and len(os.listdir(f"/proc/{sb.pid}/task")) >= 3:
                break
            time.sleep(0.01)
        time.sleep(0.1)
        d = f"/proc/{sb.pid}/fd"
        seen.append(sorted(f"{n}:{os.readlink(f'{d}/{n}').split(':')[0].split('/')[-1]}"
                           for n in os.listdir(d)))
    monkeypatch.setattr(sandbox.Sandbox, "start", start)
    r, w = os.pipe()
    try:
        os.close(w)
        got = sandboxed(["/usr/bin/python3", "-I", "-c", "import sys; sys.stdin.read()"], stdin=r)
    finally:
        os.close(r)
    assert got.reason is None and got.returncode == 0, got.reason
    return seen[0]


def test_a_standby_sandbox_holds_the_fds_a_started_one_does(monkeypatch):
    """None of the image's files, nor the standby's socket, stays open."""
    real = standby.take
    standing_by()
    from_standby = _fds_of_sandbox(monkeypatch, real)
    started = _fds_of_sandbox(monkeypatch, lambda stub: None)
    assert sorted(f.split(":", 1)[1] for f in from_standby) == sorted(f.split(":", 1)[1] for f in started), (
        from_standby, started)
    assert not any(f.endswith("python3.11") or ".so" in f for f in from_standby), from_standby
