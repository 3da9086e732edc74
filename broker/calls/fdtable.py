"""The sandbox's file descriptor table, kept in the broker.

The runtime only knows which fds go straight to an inherited stdio fd
(fd_host in the arena); everything else about an fd lives here."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from ..fsview import Node
from .registry import as_fd


@dataclass
class OpenFile:
    kind: str  # "file", "dir", "vdir" (synthetic directory), "stdio"
    node: Node | None = None
    hostfd: int = -1
    writable: bool = False
    stat: bytes = b""  # stdio: fstat recorded at launch
    status: int = 0  # stdio: file status flags recorded at launch (F_GETFL)
    cloexec: bool = False
    entries: list[str] = field(default_factory=list)  # vdir
    pos: int = 0  # vdir


def get(sb, fd: int) -> OpenFile:
    f = sb.fds.get(fd)
    if f is None:
        raise OSError(errno.EBADF, "bad file descriptor")
    return f


def install(sb, f: OpenFile) -> int:
    for fd in range(sb.limits.open_files):
        if fd not in sb.fds:
            sb.fds[fd] = f
            return fd
    if f.hostfd >= 0:
        os.close(f.hostfd)
    raise OSError(errno.EMFILE, "too many open files")



def host_file(sb, fd: int) -> OpenFile:
    """An fd whose bytes the broker moves: a file (not stdio, not a directory)."""
    f = get(sb, as_fd(fd))
    if f.kind == "stdio":
        raise OSError(errno.EBADF, "stdio is served inside the sandbox")
    if f.kind != "file":
        raise OSError(errno.EISDIR, "is a directory")
    return f


def writable_file(sb, fd) -> OpenFile:
    f = host_file(sb, fd)
    if not f.writable:
        raise OSError(errno.EBADF, "not open for writing")
    return f
