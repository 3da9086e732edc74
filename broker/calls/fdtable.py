"""The sandbox's file descriptor table, kept in the broker.

The runtime only knows which fds go straight to an inherited stdio fd
(fd_host in the arena); everything else about an fd lives here."""

from __future__ import annotations

import errno
import os
import selectors
from dataclasses import dataclass, field

from ..fsview import Node
from .registry import Wait, as_fd


@dataclass
class OpenFile:
    kind: str  # "file", "dir", "vdir" (synthetic directory), "stdio", "pipe"
    node: Node | None = None
    hostfd: int = -1  # stdio: the broker's own duplicate, for poll
    writable: bool = False
    readable: bool = True
    stat: bytes = b""  # stdio: fstat recorded at launch
    status: int = 0  # stdio, pipe: the F_GETFL flags the program sees
    cloexec: bool = False
    entries: list[str] = field(default_factory=list)  # vdir
    pos: int = 0  # vdir
    real: int = -1  # stdio: the inherited fd (0, 1 or 2) the runtime uses directly


def get(sb, fd: int) -> OpenFile:
    f = sb.fds.get(fd)
    if f is None:
        raise OSError(errno.EBADF, "bad file descriptor")
    return f


def install(sb, f: OpenFile, lowest: int = 0) -> int:
    """Puts f at the lowest free fd >= lowest, like the kernel."""
    for fd in range(lowest, sb.limits.open_files):
        if fd not in sb.fds:
            sb.fds[fd] = f
            return fd
    if f.hostfd >= 0:
        os.close(f.hostfd)
    raise OSError(errno.EMFILE, "too many open files")



STREAMS = ("file", "pipe")  # kinds whose bytes the broker moves with read/write


def host_file(sb, fd: int) -> OpenFile:
    """An open regular file held by the broker (pread, mmap, ftruncate...)."""
    f = get(sb, as_fd(fd))
    if f.kind == "pipe":
        raise OSError(errno.ESPIPE, "illegal seek")
    if f.kind in ("dir", "vdir"):
        raise OSError(errno.EISDIR, "is a directory")
    if f.kind != "file":
        raise OSError(errno.EBADF, "stdio is served inside the sandbox")
    return f


def stream(sb, fd: int, writing: bool = False) -> OpenFile:
    """An fd the broker reads or writes bytes on."""
    f = get(sb, as_fd(fd))
    if f.kind in ("dir", "vdir"):
        raise OSError(errno.EISDIR, "is a directory")
    if f.kind not in STREAMS or not (f.writable if writing else f.readable):
        raise OSError(errno.EBADF, f"not open for {'writing' if writing else 'reading'}")
    return f


def writable_file(sb, fd) -> OpenFile:
    f = host_file(sb, fd)
    if not f.writable:
        raise OSError(errno.EBADF, "not open for writing")
    return f


def read_from(f: OpenFile, n: int) -> bytes:
    """Up to n bytes; a pipe with nothing in it makes the caller wait."""
    try:
        return os.read(f.hostfd, n)
    except BlockingIOError:
        if f.status & os.O_NONBLOCK:
            raise
        raise Wait([(f.hostfd, selectors.EVENT_READ)]) from None


def write_to(f: OpenFile, data: bytes) -> int:
    try:
        return os.write(f.hostfd, data)
    except BlockingIOError:
        if f.status & os.O_NONBLOCK:
            raise
        raise Wait([(f.hostfd, selectors.EVENT_WRITE)]) from None
