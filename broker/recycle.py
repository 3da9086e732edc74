"""An ended sandbox's arena, made ready for the next start of the same layout.

A fresh memfd page costs the sandbox that first touches it twice what an
anonymous page costs (allocated, zeroed, put in the page cache): CPython's
start touches ~3.5 MB of them.  So once an ended sandbox's process is gone
(its pidfd readable: no thread of it is left to write to the arena), the
afterwards thread shapes its arena into the spare: pages allocated and zero
in fixed windows of the layout (the runtime's state, the image and heap,
the top of the mmap area, the stack, the first thread's block) and none
anywhere else.  What the next sandbox finds depends on the layout alone,
never on what the ended one touched: which pages it had are not left for
the next to time.  One spare is kept, for the process (the newest); none
in a forked child (its copies are only closed), and it is freed at exit."""

from __future__ import annotations

import atexit
import mmap
import os
import threading
import time

from . import afterwards, kernel
from ._native import lib

WAIT = 2.0  # seconds the ended process may take to go; then its arena is freed instead
IMAGE_WINDOW = 8 << 20  # the windows' sizes past the image's base, below the mmap area's top,
MMAP_WINDOW = 8 << 20  # and below the stack's top
STACK_WINDOW = 256 << 10


def _grain() -> int:
    """The windows' grain: 2 MiB where shmem may use huge pages (a punch
    cannot split one, which would then stay whatever the sandbox did), else
    a page."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as f:
            setting = f.read()
    except OSError:
        return 2 << 20
    return 4096 if "[never]" in setting or "[deny]" in setting else 2 << 20


GRAIN = _grain()
_ZEROS = bytes(1 << 20)
_lock = threading.Lock()
_spare: tuple[mmap.mmap, int, int, tuple] | None = None  # (map, fd, size, spans), under _lock
_closing = False


def spans(lay, size: int) -> tuple[tuple[int, int], ...]:
    """The windows of an arena of size bytes laid out as lay (loader.Layout),
    where programs touch memory first (the runtime's state, the image and
    heap, the top of the mmap area, the stack's, the first thread's block),
    as file ranges: in order, apart, and out to GRAIN boundaries."""
    base = lib.SB_ARENA_BASE
    windows = [(base, lib.SB_IMAGE_BASE + IMAGE_WINDOW), (lay.mmap_top - MMAP_WINDOW, lay.mmap_top),
               (lay.stack_top - STACK_WINDOW, lay.stack_top),
               (lay.threads_base, lay.threads_base + lib.SB_THREAD_BLOCK)]
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        lo = max(lo - base, 0) & ~(GRAIN - 1)
        hi = min((hi - base + GRAIN - 1) & ~(GRAIN - 1), size)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        elif lo < hi:
            out.append((lo, hi))
    return tuple(out)


def take(size: int, spans: tuple[tuple[int, int], ...]) -> tuple[mmap.mmap, int] | None:
    """The spare (map, fd) if it is of size bytes, shaped for spans: all
    zeros, with pages there and nowhere else."""
    global _spare
    with _lock:
        if _spare is None or _spare[2:] != (size, spans):
            return None
        (m, fd, _, _), _spare = _spare, None
    return m, fd


def fds() -> int:
    """How many fds of this process the spare holds (its own, and its
    map's: Python's mmap keeps a duplicate)."""
    return 2 if _spare is not None else 0


def later(m: mmap.mmap, fd: int, size: int, pidfd: int | None, spans: tuple[tuple[int, int], ...],
          cpus: set[int] | None) -> None:
    """Afterwards: the arena (m, fd: size bytes) becomes the spare, shaped
    for spans (spans()), once the process of pidfd (closed here) is gone;
    freed instead without pidfd, if that takes over WAIT, or on any error."""
    owner, deadline = os.getpid(), time.monotonic() + WAIT

    def job() -> bool:
        if os.getpid() != owner:  # (a forked child's copy: the arena is the parent's to free or keep)
            m.close()
            os.close(fd)
            if pidfd is not None:
                os.close(pidfd)
            return True
        kept = False
        if pidfd is not None:
            try:
                gone, late = afterwards.readable(pidfd), time.monotonic() >= deadline
            except (OSError, ValueError):  # (cannot tell: it is not kept)
                gone, late = False, True
            if not gone and not late:
                time.sleep(0.001)  # (the kernel tears its memory down: ~0.4 ms for CPython's)
                return False
            os.close(pidfd)
            try:
                kept = gone and _keep(m, fd, size, spans)
            except OSError:
                kept = False
        if not kept:
            free(m, fd, size)
        return True

    afterwards.later(job, cpus)


def _keep(m: mmap.mmap, fd: int, size: int, spans: tuple[tuple[int, int], ...]) -> bool:
    """Shapes the arena and makes it the spare (the one kept before goes:
    the newest is the likeliest to fit the next start)."""
    global _spare
    if _closing:
        return False
    _shape(fd, size, spans)
    with _lock:
        if _closing:
            return False
        old, _spare = _spare, (m, fd, size, spans)
    if old is not None:
        free(*old[:3])
    return True


def _shape(fd: int, size: int, spans: tuple[tuple[int, int], ...]) -> None:
    """Zero pages in the spans, none elsewhere: everything between them is
    punched (whatever made pages there, seen by SEEK_DATA or not), and zeros
    are written over the spans whole, so that every page there is alike,
    whether the sandbox had it or not (through the file, not our map: our
    RSS stays as it is)."""
    at = 0
    for lo, hi in spans + ((size, size),):
        if at < lo:
            kernel.punch_hole(fd, at, lo - at)
        at = hi
    zeros = memoryview(_ZEROS)
    for lo, hi in spans:
        at = lo
        while at < hi:
            at += os.pwrite(fd, zeros[:min(len(zeros), hi - at)], at)


def free(m: mmap.mmap, fd: int, size: int) -> None:
    """Frees an arena's pages.  A hole punched first frees them without
    this process's memory map lock, which the munmap would hold for as long
    (~0.5 ms for CPython's) while the next run maps its arena and touches
    its pages."""
    try:
        try:
            kernel.punch_hole(fd, 0, size)
            m.close()
        finally:
            os.close(fd)
    except OSError:
        pass


def _exiting() -> None:
    global _closing, _spare
    with _lock:
        _closing, spare, _spare = True, _spare, None
    if spare is not None:
        free(*spare[:3])


def _forked() -> None:
    """A child's copy of the spare is its parent's arena: only closed."""
    global _spare, _lock
    spare, _spare, _lock = _spare, None, threading.Lock()
    if spare is not None:
        spare[0].close()
        os.close(spare[1])


os.register_at_fork(after_in_child=_forked)
atexit.register(_exiting)
