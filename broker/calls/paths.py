"""Path arguments: copied out of the arena once and resolved in the view."""

from __future__ import annotations

import errno
import os

from ..fsview import Node
from .._native import lib
from . import fdtable

AT_FDCWD = lib.AT_FDCWD


def read_path(sb, addr: int) -> str:
    checked = getattr(sb, "checked_paths", None)
    if checked and addr in checked:  # the copy the policy judged: act on that one
        return checked[addr]
    raw = sb.arena.read_cstr(addr)
    return os.fsdecode(raw)


def resolve_at(sb, dirfd: int, path: str, follow: bool = True, empty_ok: bool = False,
               links: list[tuple[Node, str]] | None = None) -> Node:
    """Resolves path relative to a virtual dirfd (or the cwd); the symlinks
    followed, and their targets, are added to `links`, if given."""
    if not path:
        if empty_ok:
            f = fdtable.get(sb, dirfd) if dirfd != AT_FDCWD else None
            if f is None:
                return sb.view.resolve(sb.cwd)
            if f.node is None:
                raise OSError(errno.EBADF, "fd has no path")
            return f.node
        raise OSError(errno.ENOENT, "empty path")
    if path.startswith("/") or dirfd == AT_FDCWD:
        return sb.view.resolve(path, sb.cwd, follow, links)
    f = fdtable.get(sb, dirfd)
    if f.kind not in ("dir", "vdir"):
        raise OSError(errno.ENOTDIR, "dirfd is not a directory")
    return sb.view.resolve(path, f.node.vpath, follow, links)
