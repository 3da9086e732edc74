"""The policy's disk limit: the bytes a sandbox adds to its writable mounts
(its `--rw` mounts and its private /tmp alike), net of what it gives back.

Counted, in apparent size (a hole counts, so a sparse file cannot be filled
in later unaccounted): the growth of regular files by write, writev,
pwrite64, truncate, ftruncate and fallocate (also the range a KEEP_SIZE
fallocate reserves past the end).  Given back: a file made shorter
(truncate, O_TRUNC) and a file whose last name the sandbox unlinks or
renames over (once it closes the last fd it holds of it).  Not counted:
directories, names and symlinks.

Past the limit a write answers ENOSPC after writing what fits, fallocate
ENOSPC, and truncate EFBIG (its errno for a size it cannot have)."""

from __future__ import annotations

import errno
import os
import stat as stat_mod


def limit(sb) -> int | None:
    return getattr(sb.limits, "disk", None)


def added(sb) -> int:
    """Net bytes the sandbox has added so far."""
    return getattr(sb, "disk_added", 0)


def room(sb) -> int | None:
    """Bytes the sandbox may still add (None: no limit; may be negative)."""
    lim = limit(sb)
    return None if lim is None else lim - added(sb)


def charge(sb, n: int) -> None:
    """Counts n more bytes (negative: given back)."""
    if limit(sb) is not None and n:
        sb.disk_added = added(sb) + n


def need(sb, n: int, code: int = errno.ENOSPC) -> None:
    """OSError(code) unless n more bytes fit under the limit."""
    r = room(sb)
    if r is not None and n > 0 and n > r:
        raise OSError(code, "disk limit")


def held(sb, st: os.stat_result) -> bool:
    """Whether one of the sandbox's fds holds the file st describes."""
    for f in sb.fds.values():
        if f.kind == "file" and f.hostfd >= 0:
            mine = os.fstat(f.hostfd)
            if (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino):
                return True
    return False


def about_to_remove(sb, dirfd: int, name: str) -> os.stat_result | None:
    """lstat of a name a call may remove, when the limit is on and it exists."""
    if limit(sb) is None:
        return None
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except OSError:
        return None


def removed(sb, st: os.stat_result | None) -> None:
    """Gives back a regular file's bytes once its last name is gone, unless
    the sandbox still holds it open (then closed() gives them back)."""
    if st is not None and st.st_nlink == 1:
        _give_back(sb, st)


def closed(sb, st: os.stat_result) -> None:
    """An fd was closed on the file st described (fstat just before): the
    bytes of a file with no name left are free once no fd holds it."""
    if st.st_nlink == 0:
        _give_back(sb, st)


def _give_back(sb, st: os.stat_result) -> None:
    if stat_mod.S_ISREG(st.st_mode) and not held(sb, st):
        charge(sb, -st.st_size)
