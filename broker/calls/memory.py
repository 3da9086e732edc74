"""The memory calls the runtime forwards: hole punching, and file mappings
(copies, or for large read-only ones the file's own pages)."""

from __future__ import annotations

import errno
import os

from .. import loader
from .._native import lib
from . import fdtable
from .registry import as_fd, as_signed, handles

@handles("munmap")
def sys_munmap(sb, addr, length, *_):
    """The runtime asks us to zero and release a large range of the arena."""
    sb.arena.zero(addr, length)
    return 0


MAP_TYPE = 0x0F
MAP_SHARED = lib.MAP_SHARED
PAGE = 4096
# Smaller mappings are copied: the spawner's round trip costs about as much
# as copying this many bytes (and the copy is freed at the end).
PIN_MIN = 128 * 1024


@handles("mmap")
def sys_mmap(sb, addr, length, prot, flags, fd, offset):
    """Fills a range the runtime chose with a file's bytes (a private copy)."""
    f = fdtable.get(sb, as_fd(fd))
    if f.kind == "data" and f.readable:  # made up by the broker (/etc/ld.so.cache...)
        if offset & 0xFFF or as_signed(offset) < 0:
            return -errno.EINVAL
        if prot & lib.PROT_WRITE and flags & MAP_TYPE != lib.MAP_PRIVATE:
            return -errno.EACCES  # opened read-only, as open_node insists
        sb.arena.check(addr, length)
        data = f.data[offset:offset + length]
        sb.arena.write(addr, data)
        _zero_tail(sb, addr + len(data), addr + length)
        return addr
    f = fdtable.host_file(sb, fd)
    if offset & 0xFFF or as_signed(offset) < 0:
        return -errno.EINVAL
    if flags & MAP_TYPE != lib.MAP_PRIVATE and prot & lib.PROT_WRITE:
        sb.deny("mmap", "writable MAP_SHARED of a file cannot be kept in sync", errno.ENODEV)
        return -errno.ENODEV
    n = _pinnable(sb, f, addr, length, prot, flags, offset)
    if n:  # the file's own pages, then a copy of the rest
        sb.map_pinned(addr, n, f.hostfd, offset)
    sb.arena.check(addr + n, length - n)
    done = n + sb.arena.copy_in(addr + n, f.hostfd, offset + n, length - n)
    _zero_tail(sb, addr + done, addr + length)
    return addr


def _pinnable(sb, f, addr: int, length: int, prot: int, flags: int, offset: int) -> int:
    """How many bytes from addr the spawner maps from the file itself: a
    large private read-only mapping of a regular file on a read-only mount
    (pinned_part).  0: a copy.  (A range pinned already is this call's own
    mapping, served again; else the copy finds it pinned: EFAULT.)"""
    sb.arena.inside(addr, length)  # (Fault: EFAULT)
    if addr < lib.SB_IMAGE_BASE or addr + length > sb.thread_block(0):
        return 0  # (the runtime's state and the thread blocks stay arena memory: we write there)
    if sb.arena.pinned(addr, length):
        n = sb.arena.pin_at(addr)
        return n if n and sb.arena.pinned_exactly(addr, addr + n, offset, os.fstat(f.hostfd)) else 0
    if (not sb.pin_image or addr & (PAGE - 1) or len(sb.arena.pins) >= lib.SB_MAX_PINS  # (list full)
            or prot & lib.PROT_WRITE or flags & MAP_TYPE != lib.MAP_PRIVATE
            or not f.readable or f.node is None or f.node.mount is None or f.node.mount.writable):
        return 0
    return pinned_part(sb, f.hostfd, os.fstat(f.hostfd), length, offset)


def pinned_part(sb, fd: int, st: os.stat_result, length: int, offset: int) -> int:
    """How many bytes of a private read-only mapping of length bytes of the
    file at fd (on a read-only mount) from offset are the file's own pages,
    the rest a copy: whole pages within the file, and for a shared object's
    first mapping its read-only part; 0 for less than PIN_MIN, or a file
    that no sandbox of this process may have open for writing (may_pin)."""
    n = min(length, (st.st_size - offset + PAGE - 1) & ~(PAGE - 1))
    if offset == 0 and n >= PIN_MIN:  # a shared object's first mapping: its read-only part
        n = min(n, _read_only_prefix(fd, st))
    return n if n >= PIN_MIN and sb.may_pin(fd, st) else 0


_PREFIXES = loader.PerFile()  # loader.read_only_prefix


def _read_only_prefix(fd: int, st: os.stat_result) -> int:
    prefix = _PREFIXES.get(st, lambda: loader.read_only_prefix(fd))
    return st.st_size + PAGE if prefix is None else prefix


def _zero_tail(sb, start: int, end: int) -> None:
    """Zeros what the file did not fill of a mapping: the runtime no longer
    clears a range it maps a file over (see sys_mmap in memory.c)."""
    if start >= end:
        return
    page_end = min(end, (start + 0xFFF) & ~0xFFF)
    if page_end > start:
        sb.arena.write(start, bytes(page_end - start))
    if end > page_end:
        sb.arena.zero(page_end, end - page_end)
