"""The descriptor calls: fcntl, dup and pipes.

A duplicate shares its open file description like on Linux: host-backed
fds are duplicated with os.dup (so offsets and status flags are shared),
the rest copy the entry.  The runtime mirrors dups of inherited stdio in
its fd_host map, so they keep going straight to the real fd."""

from __future__ import annotations

import errno
import fcntl
import os
import struct

from .._native import lib
from . import fdtable
from .fdtable import OpenFile
from .registry import as_fd, handles

FD_CLOEXEC = lib.FD_CLOEXEC
SETFL_MASK = lib.O_APPEND | lib.O_NONBLOCK
VIRTUAL_STATUS = ("stdio", "pipe", "data", "dev")  # kinds whose F_GETFL/F_SETFL flags we keep ourselves


def _duplicate(sb, f: OpenFile, lowest: int, cloexec: bool) -> int:
    return fdtable.install(sb, fdtable.duplicate(f, cloexec), lowest, prefetch=False)


@handles("dup")
def sys_dup(sb, fd, *_):
    return _duplicate(sb, fdtable.get(sb, as_fd(fd)), 0, False)


def _dup3(sb, old: int, new: int, cloexec: bool) -> int:
    f = fdtable.get(sb, old)
    if not 0 <= new < sb.fd_limit:
        return -errno.EBADF
    if new == old:
        return new
    fdtable.place(sb, new, fdtable.duplicate(f, cloexec), prefetch=False)
    return new


@handles("dup2")
def sys_dup2(sb, old, new, *_):
    return _dup3(sb, as_fd(old), as_fd(new), False)


@handles("dup3")
def sys_dup3(sb, old, new, flags, *_):
    old, new, flags = as_fd(old), as_fd(new), flags & 0xFFFFFFFF
    if old == new or flags & ~lib.O_CLOEXEC:
        return -errno.EINVAL
    return _dup3(sb, old, new, bool(flags & lib.O_CLOEXEC))


@handles("pipe2")
def sys_pipe2(sb, fds, flags, *_):
    if flags & ~(lib.O_CLOEXEC | lib.O_NONBLOCK | lib.O_DIRECT):
        return -errno.EINVAL
    sb.arena.check(fds, 8)
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # the broker never blocks on it
    status = flags & lib.O_NONBLOCK
    cloexec = bool(flags & lib.O_CLOEXEC)
    rfd = wfd = -1
    try:
        rfd = fdtable.install(sb, OpenFile("pipe", hostfd=r, readable=True, writable=False,
                                           status=status, cloexec=cloexec))
        wfd = fdtable.install(sb, OpenFile("pipe", hostfd=w, readable=False, writable=True,
                                           status=status | lib.O_WRONLY, cloexec=cloexec))
    except OSError:
        if rfd >= 0:
            fdtable.release(sb, rfd)
        else:
            os.close(r)
        raise
    sb.arena.write(fds, struct.pack("<ii", rfd, wfd))
    return 0


@handles("pipe")
def sys_pipe(sb, fds, *_):
    return sys_pipe2(sb, fds, 0)


@handles("fcntl")
def sys_fcntl(sb, fd, cmd, arg, *_):
    f = fdtable.get(sb, as_fd(fd))
    cmd, arg = cmd & 0xFFFFFFFF, arg & 0xFFFFFFFF
    if cmd in (lib.F_DUPFD, lib.F_DUPFD_CLOEXEC):
        if arg >= sb.fd_limit:
            return -errno.EINVAL
        return _duplicate(sb, f, arg, cmd == lib.F_DUPFD_CLOEXEC)
    if cmd == lib.F_GETFD:
        return FD_CLOEXEC if f.cloexec else 0
    if cmd == lib.F_SETFD:
        f.cloexec = bool(arg & FD_CLOEXEC)
        return 0
    if cmd == lib.F_GETFL:
        if f.kind in VIRTUAL_STATUS:
            return f.status
        if f.hostfd < 0:
            return lib.O_RDONLY | lib.O_DIRECTORY
        return fcntl.fcntl(f.hostfd, lib.F_GETFL) & ~lib.O_CLOEXEC
    if cmd == lib.F_SETFL:
        if f.kind in VIRTUAL_STATUS:
            f.status = (f.status & ~SETFL_MASK) | (arg & SETFL_MASK)
        elif f.hostfd >= 0:
            cur = fcntl.fcntl(f.hostfd, lib.F_GETFL)
            fcntl.fcntl(f.hostfd, lib.F_SETFL, (cur & ~SETFL_MASK) | (arg & SETFL_MASK))
        return 0
    if cmd in (lib.F_GETLK, lib.F_SETLK, lib.F_SETLKW, lib.F_OFD_GETLK, lib.F_OFD_SETLK,
               lib.F_OFD_SETLKW):
        return 0 if f.kind == "file" else -errno.EBADF  # one process: no one to conflict with
    sb.deny("fcntl", f"command {cmd} is not supported", errno.EINVAL)
    return -errno.EINVAL
