"""A stub started ahead, standing by for the next start (strictbox/standby.py):
it is started only once the process has run no sandbox for a while, a start
takes it only while it is what a stub started then would be, and whatever
befalls it, the run is the run a stub started for it would give."""

from __future__ import annotations

import gc
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib

import pytest

import strictbox
from conftest import ABI_INCLUDE, PROGRAMS, sandboxed
from strictbox import afterwards, sandbox, standby

PROGRAM = ["/usr/bin/python3", "-I", "-c",
           "import sys, zlib; d = sys.stdin.buffer.read(); print(len(d), zlib.crc32(d)); "
           "print('err', file=sys.stderr); sys.exit(3)"]
DATA = os.urandom(100_000)
WAITS = ["/usr/bin/python3", "-I", "-c", "import sys; print('ready', flush=True); sys.stdin.read()"]


def standing_by() -> int:
    """Ends a run, waits until a standby stands by; its pid."""
    sandboxed(["/usr/bin/python3", "-I", "-c", "pass"])
    afterwards.wait()
    pid = standby.pid()
    assert pid is not None
    return pid


@pytest.fixture
def started(monkeypatch) -> list[int]:
    """The pid of each sandbox process started from now on."""
    pids = []
    real = sandbox.Sandbox.start
    monkeypatch.setattr(sandbox.Sandbox, "start", lambda sb: (real(sb), pids.append(sb.pid)))
    return pids


def run_checked():
    got = sandboxed(PROGRAM, input=DATA)
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (
        f"{len(DATA)} {zlib.crc32(DATA)}\n".encode(), b"err\n", 3)


def test_the_next_start_takes_the_standby_and_runs_as_any(started):
    pid = standing_by()
    started.clear()
    run_checked()
    assert started == [pid]
    afterwards.wait()
    assert standby.pid() not in (None, pid)  # (a new one, once the run was over)


def test_runs_back_to_back_start_no_standby(monkeypatch, started):
    """With no idle time between runs, none is started beside them."""
    pid = standing_by()
    started.clear()
    monkeypatch.setattr(standby, "QUIET", 0.5)  # (gaps between these runs stay far below it)
    for _ in range(8):
        got = sandboxed(["/usr/bin/python3", "-I", "-c", "pass"])
        assert got.reason is None
    assert started[0] == pid and standby.pid() is None


def test_a_start_that_failed_does_not_hold_up_the_next_standby(tmp_path):
    """A sandbox whose start failed waits in reference cycles for the
    collector; it must not count as running meanwhile."""
    broken = tmp_path / "broken"
    broken.write_bytes(open("/usr/bin/true", "rb").read(3000))
    broken.chmod(0o755)
    gc.disable()
    try:
        with pytest.raises(strictbox.StrictboxError, match="malformed"):
            strictbox.run([str(broken)])
        standing_by()
    finally:
        gc.enable()


def test_a_standby_started_under_other_limits_is_not_taken(started):
    """Limits changed since: a stub started now would have the new ones."""
    pid = standing_by()
    started.clear()
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0 if soft else min(hard, 4096), hard))
    try:
        run_checked()
        assert started and pid not in started
        with pytest.raises(ProcessLookupError):  # (it was let go and reaped)
            os.kill(pid, 0)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


@pytest.mark.parametrize("when", ["before", "between"])
def test_a_standby_killed_costs_nothing_but_its_speed(monkeypatch, started, when):
    """Killed before a start takes it, or after its first message (stopped
    before it could copy the image in: the broker copies it): the start
    starts a stub itself."""
    pid = standing_by()
    started.clear()
    if when == "before":
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGSTOP)
        real = standby.send

        def send(s, fds, **kw):
            if kw.get("last"):
                os.kill(s.proc.pid, signal.SIGKILL)
                s.proc.wait()
            return real(s, fds, **kw)
        monkeypatch.setattr(standby, "send", send)
    run_checked()
    assert started and pid not in started


def fds_while_running(argv, **kw) -> dict[int, str]:
    """What the fds of the running sandbox's process are ({fd: link}; the
    program says "ready" once the stub is long done, then waits for stdin
    to end)."""
    pids = []
    real = sandbox.Sandbox.start
    sandbox.Sandbox.start = lambda sb: (real(sb), pids.append(sb.pid))
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    result, said = [], b""
    run = threading.Thread(target=lambda: result.append(
        strictbox.run(argv, stdin=in_r, stdout=out_w, timeout=60, **kw)))
    try:
        run.start()
        while not said.endswith(b"\n") and run.is_alive():
            if select.select([out_r], [], [], 0.1)[0]:
                said += os.read(out_r, 100)
        assert said == b"ready\n", (said, result)
        d = f"/proc/{pids[0]}/fd"
        links = {int(n): os.readlink(f"{d}/{n}") for n in os.listdir(d)}
    finally:
        sandbox.Sandbox.start = real
        os.close(in_w)
        run.join(60)
        for fd in (in_r, out_r, out_w):
            os.close(fd)
    assert result and result[0].reason is None, result
    return links


def kinds(links: dict[int, str]) -> list[str]:
    return sorted(link.split(":")[0] for link in links.values())


def no_file(links: dict[int, str]) -> bool:
    """No fd past stdio is a file but the arena's memfd."""
    return all(not link.startswith("/") or link.startswith("/memfd:")
               for fd, link in links.items() if fd > 2)


def test_a_standby_sandbox_holds_the_fds_a_started_one_does(monkeypatch):
    """None of the image's files, nor the standby's socket, stays open."""
    real = standby.take
    taken = []
    monkeypatch.setattr(standby, "take", lambda stub: taken.append(real(stub)) or taken[-1])
    standing_by()
    taken.clear()
    from_standby = fds_while_running(WAITS)
    assert taken[0] is not None
    monkeypatch.setattr(standby, "take", lambda stub: None)
    on_its_own = fds_while_running(WAITS)
    assert kinds(from_standby) == kinds(on_its_own), (from_standby, on_its_own)
    assert no_file(from_standby), from_standby


def test_no_file_of_a_large_image_stays_open(tmp_path, monkeypatch):
    """More spans than a standby copies, from files on a writable mount (no
    pins): ld.so's come after the program's 40, past SB_MAX_COPIES, and the
    broker copies them; no fd of either is left in the sandbox."""
    shutil.copy("/lib64/ld-linux-x86-64.so.2", tmp_path / "ld.so")
    prog = tmp_path / "many"
    starts = [f"-Wl,--section-start=.seg{i}={0x10000000 + i * 0x10000:#x}" for i in range(40)]
    subprocess.run(["cc", "-O1", f"-I{ABI_INCLUDE}", *starts, f"-Wl,--dynamic-linker={tmp_path}/ld.so",
                    "-o", str(prog), str(PROGRAMS / "many_segments.c")], check=True)
    real = standby.take
    taken = []
    monkeypatch.setattr(standby, "take", lambda stub: taken.append(real(stub)) or taken[-1])
    for path in ("standby", "started"):
        if path == "standby":
            standing_by()
            taken.clear()
        else:
            monkeypatch.setattr(standby, "take", lambda stub: None)
        links = fds_while_running([str(prog), "wait"], rw=[str(tmp_path)])
        assert path == "started" or taken[0] is not None
        assert no_file(links), (path, links)


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
