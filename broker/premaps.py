"""A dynamic program's libraries mapped before it starts (struct sb_premap).

ld.so maps each library whole first, then each segment over that mapping:
the first mapping is a broker round trip, with a spawner's turn for the
file's own pages.  For the libraries lookups.foretold_libraries names, the
broker makes that first mapping as the sandbox starts, below the
interpreter and above the mmap area (boot.mmap_top goes down past them):
the read-only part pinned (calls.memory.pinned_part) and mapped by the
stub with the program's own image, the rest copied in (by the stub too).  ld.so's mmap of
the file then takes it in the sandbox (memory.c's premapped), while the
policy lets every mmap by, as for a mapping the runtime copies from a
prefetch slot: only then would the broker not be asked.  One never taken
costs address space and its copied part, until something is mapped there."""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass

from . import loader
from ._native import lib
from .calls.memory import pinned_part

PAGE = 4096
SHARE = 8  # premaps take at most this part of the room between the heap's start and the mmap area's top


@dataclass
class Premap:
    start: int
    length: int  # ld.so's first mapping: its segments' span, in whole pages
    pinned: int  # its first bytes that are the file's own pages (pinned_part)
    fd: int  # ours, open until the start has copied the rest in
    st: os.stat_result
    copied: bool = False  # the stub copies the rest in (struct sb_copy)


def plan(sb, libs: list, loaded: loader.Loaded, pins: int) -> list[Premap]:
    """Places the first mappings of libs ((path, Node)) below loaded.mmap_top
    and lowers it past them; pins: how many of them may be pinned."""
    top, premaps = loaded.mmap_top, []
    room = (loaded.mmap_top - loaded.image.brk_start) // SHARE
    for path, node in libs[:lib.SB_MAX_PREMAPS]:
        try:  # (O_NONBLOCK: a FIFO put there must not block the broker; it is no library)
            fd = sb.view.open(node, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            span = _span(fd, path, st) if stat_mod.S_ISREG(st.st_mode) else None
            if span is None or loaded.mmap_top - (top - span) > room:
                os.close(fd)
                continue
            start = loader.page_down(top - span)
            pinned = pinned_part(sb, fd, st, span, 0) if pins > 0 else 0
        except OSError:
            os.close(fd)
            continue
        pins -= pinned > 0
        premaps.append(Premap(start, span, pinned, fd, st))
        top = start
    loaded.mmap_top = top
    return premaps


def table(premaps: list[Premap]) -> list[tuple[int, ...]]:
    """The runtime's struct sb_premap fields of each (but intact)."""
    return [(p.start, p.length, p.st.st_dev, p.st.st_ino, p.st.st_size, *divmod(p.st.st_mtime_ns, 10**9),
             *divmod(p.st.st_ctime_ns, 10**9)) for p in premaps]


_SPANS = loader.PerFile()  # _span


def _span(fd: int, path: str, st: os.stat_result) -> int | None:
    """The length of ld.so's first mapping of the library at fd, if it maps
    it as plan foretells (_plain_library); once per version of the file."""
    def work():
        try:
            elf = loader.parse_elf(fd, path)
        except loader.ExecError:
            return None
        return elf.span if _plain_library(elf) else None
    return _SPANS.get(st, work)


def _plain_library(elf: loader.Elf) -> bool:
    """ld.so maps it as plan foretells: a shared object whose first segment
    starts the file, aligned to no more than a page (ld.so maps one aligned
    to more with room to spare, then trims it)."""
    loads = elf.loads
    return (elf.e_type == loader.ET_DYN and loader.page_down(loads[0][2]) == 0
            and all(p[7] <= PAGE for p in loads) and loads == sorted(loads, key=lambda p: p[3]))


def fill(sb, premaps: list[Premap]) -> None:
    """Copies in what of each premap is neither pinned nor left to the stub
    (the arena is zero past the file's end), and closes our fds (a pin
    keeps its own)."""
    try:
        for p in premaps:
            if not p.copied:
                sb.arena.copy_in(p.start + p.pinned, p.fd, p.pinned, p.length - p.pinned)
    finally:
        close(premaps)


def close(premaps: list[Premap]) -> None:
    for p in premaps:
        if p.fd >= 0:
            os.close(p.fd)
            p.fd = -1
