"""The memory calls the runtime forwards: hole punching and file copies."""

from __future__ import annotations

import errno

from .._native import lib
from . import fdtable
from .registry import as_signed, handles

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
    f = fdtable.host_file(sb, fd)
    if offset & 0xFFF or as_signed(offset) < 0:
        return -errno.EINVAL
    if flags & MAP_TYPE != lib.MAP_PRIVATE and prot & lib.PROT_WRITE:
        sb.deny("mmap", "writable MAP_SHARED of a file cannot be kept in sync", errno.ENODEV)
        return -errno.ENODEV
    sb.arena.copy_in(addr, f.hostfd, offset, length)
    return addr
