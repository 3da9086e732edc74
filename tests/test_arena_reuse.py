"""An ended sandbox's arena serves the next start of the same size
(strictbox/recycle.py): whatever the program left there, however it ended,
the next sandbox finds nothing of it, not even which pages it touched."""

from __future__ import annotations

import os

import pytest

from conftest import BUSYBOX, requires_busybox, sandboxed
from strictbox import afterwards, loader, recycle, sandbox

MEMORY = 64 << 20


@pytest.fixture(scope="module")
def prog(compile_c) -> str:
    return str(compile_c("arena_leftovers.c", "-static"))


def data_ranges(fd: int, size: int) -> list[tuple[int, int]]:
    """The ranges of the memfd that have pages (SEEK_DATA, SEEK_HOLE)."""
    out, at = [], 0
    while at < size:
        try:
            start = os.lseek(fd, at, os.SEEK_DATA)
        except OSError:  # ENXIO: no data past at
            break
        at = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, at))
    return out


def spare() -> tuple[tuple[int, int], list[tuple[int, int]]] | None:
    """The spare's (st_dev, st_ino) and the ranges where it has pages."""
    afterwards.wait()
    kept = recycle._spare
    if kept is None:
        return None
    st = os.fstat(kept[1])
    return (st.st_dev, st.st_ino), data_ranges(kept[1], kept[2])


def windows(memory: int, threads: int = 64) -> list[tuple[int, int]]:
    """The spare's windows as file ranges."""
    return list(recycle.spans(loader.layout(memory, threads), memory))


def taken_by(monkeypatch) -> list:
    idents = []
    real = sandbox.Sandbox.start
    monkeypatch.setattr(sandbox.Sandbox, "start", lambda sb: (real(sb), idents.append(sb.arena.ident)))
    return idents


@pytest.mark.parametrize("end", ["exit", "killed"])
def test_the_next_sandbox_finds_nothing_of_the_last(prog, monkeypatch, end):
    if end == "exit":
        got = sandboxed([prog, "scribble"], memory=MEMORY)
        assert (got.returncode, got.stdout) == (0, b"scribbled\n"), got.reason
    else:  # (killed at the wall-clock limit as it waits)
        got = sandboxed([prog, "scribble", "hang"], memory=MEMORY, timeout=1)
        assert got.stdout == b"scribbled\n" and "timeout" in got.reason
    kept = spare()
    assert kept is not None
    idents = taken_by(monkeypatch)
    scan = sandboxed([prog, "scan"], memory=MEMORY)
    assert (scan.returncode, scan.stdout) == (0, b"runs 0\n"), scan.reason
    assert idents == [kept[0]]


@requires_busybox
def test_the_spare_s_pages_are_the_windows_whatever_the_last_touched(prog):
    """Pages allocated cost a fault less than holes: which ones the spare
    has must not tell the next sandbox what the last one did."""
    want = windows(MEMORY)
    sandboxed([prog, "scribble"], memory=MEMORY)  # (8 MiB mapped, 2 MiB of heap, a deep stack)
    assert spare()[1] == want
    sandboxed([BUSYBOX, "true"], memory=MEMORY)  # (next to nothing)
    assert spare()[1] == want


def test_pages_made_where_seek_data_does_not_see_them_go_too(prog):
    """Pages fallocated and never written are holes to SEEK_DATA, but there:
    whatever made pages outside the windows, they go."""
    sandboxed([prog, "scribble"], memory=MEMORY)
    assert spare() is not None
    fd = recycle._spare[1]
    before = os.fstat(fd).st_blocks
    os.posix_fallocate(fd, 40 << 20, 1 << 20)  # (between the windows at 64 MiB)
    assert os.fstat(fd).st_blocks > before and spare()[1] == windows(MEMORY)
    sandboxed([prog, "scan"], memory=MEMORY)
    assert spare()[1] == windows(MEMORY) and os.fstat(recycle._spare[1]).st_blocks == before


def test_a_start_of_another_thread_limit_makes_its_own(prog, monkeypatch):
    """The windows follow the layout, which the thread limit moves: the spare
    serves only a start whose windows are its own."""
    sandboxed([prog, "scribble"], memory=MEMORY, max_threads=4)
    ident, ranges = spare()
    assert ranges == windows(MEMORY, 4) != windows(MEMORY)
    idents = taken_by(monkeypatch)
    assert sandboxed([prog, "scan"], memory=MEMORY).stdout == b"runs 0\n"
    assert idents != [ident] and spare()[1] == windows(MEMORY)


def test_a_start_of_another_size_makes_its_own(prog, monkeypatch):
    sandboxed([prog, "scribble"], memory=MEMORY)
    ident = spare()[0]
    idents = taken_by(monkeypatch)
    assert sandboxed([prog, "scan"], memory=2 * MEMORY).stdout == b"runs 0\n"
    assert idents != [ident]
    assert spare()[0] != ident and recycle._spare[2] == 2 * MEMORY  # (the newest is kept)


def test_a_broker_with_fd_numbers_past_1024_keeps_and_leaks_nothing(prog):
    """The pidfd that says the process is gone may be any number: a busy
    broker's pass FD_SETSIZE (select would refuse them)."""
    from conftest import open_fds
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    ballast = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        before = open_fds()
        for _ in range(3):
            assert sandboxed([prog, "scribble"], memory=MEMORY).returncode == 0
        assert spare() is not None and open_fds() == before
    finally:
        for fd in ballast:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_forked_child_leaves_its_parent_s_arenas_as_they_are(monkeypatch):
    """A child forked while an arena's job waits afterwards runs the waiting
    jobs itself (afterwards.py): for an arena, only closing its copies,
    never writing to the memfd it shares with its parent, which may hand it
    to its next sandbox meanwhile."""
    import mmap
    jobs = []
    monkeypatch.setattr(afterwards, "later", lambda job, cpus=None: jobs.append(job))
    fd = os.memfd_create("arena-like")
    os.ftruncate(fd, MEMORY)
    os.pwrite(fd, b"still here", 12345)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    pidfd = os.pidfd_open(dead)
    os.waitpid(dead, 0)  # (gone: the job would keep the arena, zeroed)
    recycle.later(mmap.mmap(fd, MEMORY), os.dup(fd), MEMORY, pidfd, ((0, 1 << 20),), None)
    child = os.fork()
    if child == 0:
        jobs[0]()
        os._exit(0 if os.pread(fd, 10, 12345) == b"still here" else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert jobs[0]() and os.pread(fd, 10, 12345) == bytes(10)  # (the parent's own run of it keeps it)
    m, kept = recycle.take(MEMORY, ((0, 1 << 20),))  # (not for a sandbox: it has no seals)
    recycle.free(m, kept, MEMORY)
    os.close(fd)
