"""An ended sandbox's arena, made ready for the next start of the same size.

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

WAIT = 2.0  # seconds the ended process may take to go; then its arena is freed instead
IMAGE_WINDOW = 8 << 20  # the windows' sizes past the image's base, below the mmap area's top,
MMAP_WINDOW = 8 << 20  # and below the stack's top
STACK_WINDOW = 256 << 10
MOST_RANGES = 4096  # an arena with more ranges of pages is punched whole, not range by range
_ZEROS = bytes(1 << 20)
_lock = threading.Lock()
_spare: tuple[mmap.mmap, int, int] | None = None  # (map, fd, size), under _lock
_closing = False


def windows(base: int, image_base: int, block: int, lay) -> list[tuple[int, int]]:
    """The windows (sandbox address ranges) of a layout (loader.Layout)
    where programs touch memory first: the runtime's state, the image and
    heap, the top of the mmap area, the stack's, the first thread's block."""
    return [(base, image_base + IMAGE_WINDOW), (lay.mmap_top - MMAP_WINDOW, lay.mmap_top),
            (lay.stack_top - STACK_WINDOW, lay.stack_top), (lay.threads_base, lay.threads_base + block)]


def take(size: int) -> tuple[mmap.mmap, int] | None:
    """The spare (map, fd) if it is of size bytes: all zeros, its pages
    where the windows are."""
    global _spare
    with _lock:
        if _spare is None or _spare[2] != size:
            return None
        (m, fd, _), _spare = _spare, None
    return m, fd


def fds() -> int:
    """How many fds of this process the spare holds (its own, and its
    map's: Python's mmap keeps a duplicate)."""
    return 2 if _spare is not None else 0


def later(m: mmap.mmap, fd: int, size: int, pidfd: int | None, windows: list[tuple[int, int]],
          cpus: set[int] | None) -> None:
    """Afterwards: the arena (m, fd: file offsets 0..size) becomes the spare
    with pages in windows (file offset ranges) once the process of pidfd
    (closed here) is gone; freed instead without pidfd, if that takes over
    WAIT, or on any error."""
    owner, deadline = os.getpid(), time.monotonic() + WAIT

    def job() -> bool:
        if os.getpid() != owner:  # (a forked child's copy: the arena is the parent's to free or keep)
            m.close()
            os.close(fd)
            if pidfd is not None:
                os.close(pidfd)
            return True
        if pidfd is not None:
            gone = afterwards.readable(pidfd)
            if not gone and time.monotonic() < deadline:
                time.sleep(0.001)  # (the kernel tears its memory down: ~0.4 ms for CPython's)
                return False
            os.close(pidfd)
            try:
                if gone and _keep(m, fd, size, windows):
                    return True
            except OSError:
                pass
        free(m, fd, size)
        return True

    afterwards.later(job, cpus)


def _keep(m: mmap.mmap, fd: int, size: int, windows: list[tuple[int, int]]) -> bool:
    """Shapes the arena and makes it the spare (the one kept before goes:
    the newest is the likeliest size of the next start)."""
    global _spare
    _shape(fd, size, windows)
    with _lock:
        if _closing:
            return False
        old, _spare = _spare, (m, fd, size)
    if old is not None:
        free(*old)
    return True


def _shape(fd: int, size: int, windows: list[tuple[int, int]]) -> None:
    """Zero pages in the windows, none elsewhere: the pages outside are
    punched, and zeros are written over the windows whole (so that every
    page there is alike, whether the sandbox had it or not; through the
    file, not our map: our RSS stays as it is)."""
    ranges = []
    for r in _data_ranges(fd, size):
        ranges.append(r)
        if len(ranges) > MOST_RANGES:
            kernel.punch_hole(fd, 0, size)
            ranges = []
            break
    for start, end in ranges:
        at = start
        for lo, hi in windows:  # (in order, apart)
            if lo < end and at < hi:
                if at < lo:
                    kernel.punch_hole(fd, at, lo - at)
                at = min(end, hi)
        if at < end:
            kernel.punch_hole(fd, at, end - at)
    zeros = memoryview(_ZEROS)
    for lo, hi in windows:
        at = lo
        while at < hi:
            at += os.pwrite(fd, zeros[:min(len(zeros), hi - at)], at)


def _data_ranges(fd: int, size: int):
    """The ranges of the memfd that have pages (SEEK_DATA, SEEK_HOLE)."""
    at = 0
    while at < size:
        try:
            start = os.lseek(fd, at, os.SEEK_DATA)
        except OSError:  # ENXIO: no data past at
            return
        at = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, at


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
        free(*spare)


def _forked() -> None:
    """A child's copy of the spare is its parent's arena: only closed."""
    global _spare, _lock
    spare, _spare, _lock = _spare, None, threading.Lock()
    if spare is not None:
        spare[0].close()
        os.close(spare[1])


os.register_at_fork(after_in_child=_forked)
atexit.register(_exiting)
