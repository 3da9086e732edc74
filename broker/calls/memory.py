"""The memory calls the runtime forwards: hole punching and file copies."""

from __future__ import annotations

import errno

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
    sb.arena.check(addr, length)
    done = sb.arena.copy_in(addr, f.hostfd, offset, length)
    _zero_tail(sb, addr + done, addr + length)
    return addr


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
