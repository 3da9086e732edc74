"""Faults around the broker: a sandbox killed in the middle of a request, a
full disk behind a writable mount, slow readers and full pipes.  Nothing may
hang, and nothing already written may be lost.  (The broker process itself
killed, with several sandboxes running: tests/test_launch.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import strictbox
from conftest import BUSYBOX, Fleet as Loop, open_fds, requires_busybox


@pytest.fixture(scope="module")
def progs(compile_c):
    names = ["hostile_sleep", "hostile_pipe_block", "load_calls", "request_then_exit",
             "fill_disk", "pipe_fill", "hello"]
    out = {n: compile_c(f"{n}.c", "-DSB_CFFI", "-static") for n in names}
    strictbox.run([str(out["hello"])], capture_output=True, timeout=20)  # the shared clock page
    return out


# -- a sandbox killed in the middle of a request ---------------------------------

@pytest.mark.parametrize("prog", ["hostile_sleep", "hostile_pipe_block"])
def test_sandbox_killed_while_its_call_waits(progs, prog):
    """Killed from outside while the broker holds its request (a sleep, a
    read of an empty pipe): the broker drops the request, reaps the process,
    and its neighbour runs to the end undisturbed."""
    fds = open_fds()
    loop = Loop()
    victim, vout, _ = loop.add([progs[prog]], timeout=60)
    neighbour, nout, _ = loop.add([progs["load_calls"], "5", "3000"], timeout=60)

    def kill_when_waiting():
        for _ in range(2000):
            if victim.pending is not None:
                os.kill(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_when_waiting)
    killer.start()
    loop.run()
    killer.join()
    assert not loop.broker.waiting  # nothing left watched for the dead call
    assert victim.outcome.returncode == -9 and victim.outcome.reason is not None
    assert vout.startswith(b"sleeping\n" if prog == "hostile_sleep" else b"pipe 0\nreading\n")
    assert (neighbour.outcome.returncode, neighbour.outcome.reason) == (0, None)
    assert nout.startswith(b"s05 00100 ") and len(nout) == 30 * 27 + 65536
    assert open_fds() == fds  # the waiting call's fds and the pipe's are closed


def test_request_from_a_process_that_is_gone(progs):
    """A request written, then the process exits at once: the broker serves a
    request whose answer nobody will read, and reports how the process ended."""
    fds = open_fds()
    loop = Loop()
    sb, out, _ = loop.add([progs["request_then_exit"]], timeout=20)
    other, oout, _ = loop.add([progs["load_calls"], "1", "1000"], timeout=60)
    loop.run()
    assert out == b"sending\n"
    assert (sb.outcome.returncode, sb.outcome.reason) == (7, "the runtime exited (7) without reporting a status")
    assert (other.outcome.returncode, other.outcome.reason) == (0, None)
    assert not any("internal broker error" in l for l in sb.log + other.log)
    assert open_fds() == fds


# -- ENOSPC on a writable mount ---------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_enospc_on_a_writable_mount_is_propagated(progs, small_tmpfs):
    r = strictbox.run([str(progs["fill_disk"]), "/data/fill"], rw=[f"{small_tmpfs}:/data"],
                      capture_output=True, timeout=60)
    assert (r.returncode, r.reason, r.stderr) == (0, None, b""), r
    assert r.stdout.decode().splitlines() == [
        "wrote 1048576 then ENOSPC",  # every byte that fit, then the error itself
        "fsync ok", "read back all", "unlink ok", "write after unlink ok"]
    assert (small_tmpfs / "fill").stat().st_size == 4096


# -- slow readers and full pipes ------------------------------------------------

@requires_busybox
def test_slow_reader_of_stdout_loses_nothing_and_holds_up_no_one(progs, tmp_path):
    """The sandbox writes 2 MiB straight to a pipe whose reader is slow: it
    blocks in the kernel, not in the broker, whose other sandbox runs to its
    end meanwhile; every byte arrives, in order."""
    data = os.urandom(2 << 20)
    (tmp_path / "big").write_bytes(data)
    r, w = os.pipe2(os.O_CLOEXEC)
    loop = Loop()
    try:
        writer, _, _ = loop.add([BUSYBOX, "cat", "/data/big"], stdout=w, ro=[f"{tmp_path}:/data"],
                                timeout=300)
    finally:
        os.close(w)
    neighbour, nout, _ = loop.add([progs["load_calls"], "3", "1000"], timeout=300)
    got = bytearray()
    seen_when_neighbour_ended = []

    def slow_reader():
        while chunk := os.read(r, 4096):
            got.extend(chunk)
            if neighbour.done and not seen_when_neighbour_ended:
                seen_when_neighbour_ended.append(len(got))
            if not seen_when_neighbour_ended:
                time.sleep(0.008)  # 4096 bytes per 8 ms: 4 s for all of it

    reader = threading.Thread(target=slow_reader)
    reader.start()
    loop.run()
    reader.join(120)
    os.close(r)
    assert (writer.outcome.returncode, writer.outcome.reason) == (0, None)
    assert (neighbour.outcome.returncode, neighbour.outcome.reason) == (0, None)
    assert len(nout) == 10 * 27 + 65536
    assert bytes(got) == data
    assert seen_when_neighbour_ended[0] < len(data)  # it finished while the writer was stuck


@requires_busybox
def test_cli_slow_reader_gets_every_byte(tmp_path):
    data = os.urandom(1 << 20)
    (tmp_path / "big").write_bytes(data)
    exe = [sys.executable, "-m", "strictbox"]
    p = subprocess.Popen([*exe, "run", "--ro", f"{tmp_path}:/data", "--", BUSYBOX, "cat", "/data/big"],
                         stdout=subprocess.PIPE)
    got = bytearray()
    while chunk := p.stdout.read(8192):
        got += chunk
        time.sleep(0.001)
    assert p.wait(60) == 0
    assert bytes(got) == data


def test_broker_held_pipe_fills_and_gives_back_every_byte(progs):
    r = strictbox.run([str(progs["pipe_fill"])], capture_output=True, timeout=60)
    assert (r.returncode, r.reason) == (0, None), r
    assert r.stdout == b"full after many bytes: EAGAIN\nread back all, then EAGAIN\nafter close: 0\n"


@requires_busybox
def test_full_stdin_and_stdout_pipes_lose_nothing():
    """8 MiB in through stdin and back out through captured stdout: both
    pipes fill again and again; the broker feeds and drains them while the
    sandbox blocks on them."""
    data = os.urandom(8 << 20)
    r = strictbox.run([BUSYBOX, "cat"], input=data, capture_output=True, timeout=120)
    assert (r.returncode, r.reason) == (0, None)
    assert r.stdout == data


@requires_busybox
def test_unread_stdin_does_not_hang_or_leak(progs):
    """The program ends without reading its 4 MiB of input: the broker stops
    feeding, closes its end and returns."""
    fds = open_fds()
    r = strictbox.run([str(progs["hello"])], input=os.urandom(4 << 20), capture_output=True,
                      timeout=60)
    assert (r.returncode, r.reason) == (0, None)
    assert r.stdout.startswith(b"hello from ")
    assert open_fds() == fds


def test_an_exception_while_serving_one_sandbox_ends_that_sandbox_only(progs, monkeypatch):
    """A broker bug (here injected: lseek's handler raises, for one sandbox
    only, on its 50th call) ends that sandbox with a clear reason; its
    neighbour on the same broker gets exactly its output."""
    from strictbox.calls import registry
    fds = open_fds()
    loop = Loop()
    victim, _, _ = loop.add([progs["load_calls"], "1", "1000"], timeout=60)
    neighbour, nout, nerr = loop.add([progs["load_calls"], "2", "1000"], timeout=60)
    real, seen = registry.HANDLERS["lseek"], []

    def lseek_with_a_bug(sb, *args):
        if sb is victim:
            seen.append(1)
            if len(seen) == 50:
                raise RuntimeError("injected")
        return real(sb, *args)

    monkeypatch.setitem(registry.HANDLERS, "lseek", lseek_with_a_bug)
    loop.run()
    assert victim.outcome.returncode == -9
    assert victim.outcome.reason == "internal broker error while serving it: RuntimeError"
    assert "internal broker error: RuntimeError('injected')" in victim.log
    assert (neighbour.outcome.returncode, neighbour.outcome.reason) == (0, None)
    assert nout.startswith(b"s02 00100 ") and len(nout) == 10 * 27 + 65536 and len(nerr) == 4096
    assert not any("internal broker error" in l for l in neighbour.log)
    assert open_fds() == fds


@requires_busybox
def test_a_forked_caller_frees_its_own_arenas():
    """A process that forks as a thread frees its last run's arena has no
    such thread in the child: the child frees its copies of what was left
    to free, its runs start their own thread, and nothing leaks."""
    strictbox.run([BUSYBOX, "true"])  # (the process-wide clock page stays)
    before = open_fds()
    strictbox.run(["/usr/bin/python3", "-I", "-c", "pass"])  # (an arena that takes a while to free)
    pid = os.fork()
    if pid == 0:  # (no pytest in here: only an exit status comes back)
        ok = False
        try:
            ok = open_fds() == before and strictbox.run([BUSYBOX, "true"]).returncode == 0
            settled = open_fds()  # (with the child's own clock page now)
            ok = ok and strictbox.run([BUSYBOX, "true"]).returncode == 0 and open_fds() == settled
        finally:
            os._exit(0 if ok else 1)
    assert _exit_code(pid) == 0
    assert open_fds() == before


def test_a_child_forked_during_a_run_gets_its_own_clock(compile_c):
    """A process forked while one of its threads runs a sandbox has no clock
    thread in the child: the child's sandboxes get a page of their own,
    which ticks after the parent's run (and its thread) have ended."""
    prog = str(compile_c("clock_sleep.c", "-static"))
    run = threading.Thread(target=strictbox.run, args=([prog],), kwargs={"stdout": subprocess.DEVNULL})
    run.start()
    time.sleep(0.1)  # (its sandbox sleeps: the parent's clock thread ticks)
    pid = os.fork()
    if pid == 0:  # (no pytest in here: only an exit status comes back)
        ok = False
        try:
            time.sleep(0.6)  # the parent's run is over, and its clock thread with it
            t0 = time.monotonic()
            got = strictbox.run([prog], capture_output=True, timeout=20)
            wall = time.monotonic() - t0
            slept = float(got.stdout.split()[1])
            ok = 0.3 <= slept <= wall  # (a page standing still: slept looks longer than the run)
        finally:
            os._exit(0 if ok else 1)
    run.join()
    assert _exit_code(pid) == 0


def _exit_code(pid: int) -> int:
    """A forked child's exit code, within 30 s (else it is killed: a hang)."""
    for _ in range(3000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the child never ended")
