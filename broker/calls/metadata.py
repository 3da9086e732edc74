"""stat, access, readlink and the virtual working directory."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct

from .. import kernel, listings, lookups
from ..fsview import Node
from .._native import lib
from . import fdtable
from .paths import read_path, resolve_at
from .registry import as_fd, as_signed, handles

AT_FDCWD = lib.AT_FDCWD
AT_EMPTY_PATH = lib.AT_EMPTY_PATH
AT_SYMLINK_NOFOLLOW = lib.AT_SYMLINK_NOFOLLOW


def _node_fd(sb, node: Node) -> int:
    """An O_PATH fd for node's metadata.  A synthetic directory (a parent of
    mount points only) is shown as the host's /."""
    if node.mount is None:
        return os.open("/", os.O_PATH | os.O_CLOEXEC)
    return sb.view.open(node, lib.O_PATH | lib.O_NOFOLLOW)


def _owned(sb, node: Node | None, st: bytes) -> bytes:
    """Files the broker made in a writable mount belong to the sandbox user:
    show the broker's own uid/gid there as the sandbox's (like an id map)."""
    if node is None or node.mount is None or not node.mount.writable:
        return st
    uid, gid = struct.unpack_from("<II", st, 28)
    if (uid, gid) == (os.geteuid(), os.getegid()):
        return st[:28] + struct.pack("<II", sb.identity.uid, sb.identity.gid) + st[36:]
    if uid == os.geteuid():
        return st[:28] + struct.pack("<I", sb.identity.uid) + st[32:]
    return st


def _stat_node(sb, node: Node) -> bytes:
    if node.virtual is not None:
        return sb.view.virtual.stat_bytes(node)
    fd = _node_fd(sb, node)
    try:
        return _owned(sb, node, kernel.stat_bytes(fd))
    finally:
        os.close(fd)


def _stat_fd(sb, fd: int) -> bytes:
    f = fdtable.get(sb, fd)
    if f.kind == "stdio":
        if not f.stat:
            raise OSError(errno.EBADF, "no stat recorded")
        return f.stat
    if f.kind in ("vdir",) + fdtable.MADE_UP:
        return _stat_node(sb, f.node)
    return _owned(sb, f.node, kernel.stat_bytes(f.hostfd))


@handles("fstat")
def sys_fstat(sb, fd, buf, *_):
    sb.arena.write(buf, _stat_fd(sb, as_fd(fd)))
    return 0


@handles("newfstatat")
def sys_newfstatat(sb, dirfd, path, buf, flags, *_):
    dirfd, p = as_fd(dirfd), read_path(sb, path)
    if not p and flags & AT_EMPTY_PATH:
        data = _stat_fd(sb, dirfd) if dirfd != AT_FDCWD else _stat_node(sb, resolve_at(sb, dirfd, "", empty_ok=True))
    else:
        # The runtime may keep an answer for this path (lookups.KEEP_*) that
        # only a read-only mount decides and the policy gives every time.
        keep = flags == 0 and lookups.keeps(sb)
        answer = sb.view.frozen_stat(p) if keep else None
        if answer is None and keep and sb.view.virtual_missing(p):
            answer = errno.ENOENT
        if answer == errno.ENOENT:
            lookups.noted(sb, p)
            listings.list_around(sb, p)
            lookups.read_ahead_package(sb, p)
            return -errno.ENOENT, lookups.missing_kept(sb, p)
        if answer is not None:
            lookups.noted(sb, p)
            sb.arena.write(buf, answer)
            if lookups.read_ahead(sb, p, answer):
                return 0  # (its entry, the stat and the held directory, is written)
            return 0, lookups.KEEP_FOUND
        links: list[tuple[Node, str]] = []
        try:
            node = resolve_at(sb, dirfd, p, follow=not flags & AT_SYMLINK_NOFOLLOW, links=links)
            data = _stat_node(sb, node)
        except FileNotFoundError:
            listings.list_around(sb, p)
            raise
        # (a link the program can change, in a writable mount or /proc, may
        # lead elsewhere next time, and so may a `..`, in the path or in a
        # link's target, after a name it can make a link)
        if (p.startswith("/") and _fixed(node) and ".." not in p.split("/")
                and all(_fixed(link) and ".." not in target.split("/") for link, target in links)
                and lookups.keeps(sb)):
            sb.arena.write(buf, data)
            return 0, lookups.KEEP_FOUND
    sb.arena.write(buf, data)
    return 0


def _fixed(node: Node) -> bool:
    """A file whose stat the sandbox itself can never change: on a frozen
    mount (the host could; like the view's link cache, we accept that), a
    directory only mount points make (the host's / shows through), or made
    up in /etc or /dev (not /proc: it follows the program's fds and cwd)."""
    if node.virtual is not None:
        return node.vparts[:1] in (("etc",), ("dev",))
    return node.mount is None or node.mount.frozen


@handles("stat")
def sys_stat(sb, path, buf, *_):
    return sys_newfstatat(sb, AT_FDCWD, path, buf, 0)


@handles("lstat")
def sys_lstat(sb, path, buf, *_):
    return sys_newfstatat(sb, AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW)


@handles("statx")
def sys_statx(sb, dirfd, path, flags, mask, buf, *_):
    dirfd, p = as_fd(dirfd), read_path(sb, path)
    f = sb.fds.get(dirfd) if not p and flags & AT_EMPTY_PATH else None
    if f is not None and f.hostfd >= 0:
        data = kernel.statx_bytes(f.hostfd, mask & 0xFFFFFFFF)
    else:
        node = resolve_at(sb, dirfd, p, follow=not flags & AT_SYMLINK_NOFOLLOW, empty_ok=bool(flags & AT_EMPTY_PATH))
        if node.virtual is not None:
            sb.arena.write(buf, sb.view.virtual.statx_bytes(node, mask & 0xFFFFFFFF))
            return 0
        fd = _node_fd(sb, node)
        try:
            data = kernel.statx_bytes(fd, mask & 0xFFFFFFFF)
        finally:
            os.close(fd)
    sb.arena.write(buf, data)
    return 0


@handles("faccessat2")
def sys_faccessat2(sb, dirfd, path, mode, flags, *_):
    if mode & ~7:
        return -errno.EINVAL
    p = read_path(sb, path)
    try:
        node = resolve_at(sb, as_fd(dirfd), p, follow=not flags & AT_SYMLINK_NOFOLLOW)
        st = _stat_node(sb, node) if node.virtual is None else b""
    except FileNotFoundError:
        listings.list_around(sb, p)
        raise
    if node.virtual is not None:
        return sb.view.virtual.access(node, mode)
    st_mode = struct.unpack_from("<I", st, 24)[0]
    if mode & os.W_OK and (node.mount is None or not node.mount.writable):
        return -errno.EROFS
    if mode & os.X_OK and not (st_mode & 0o111 or stat_mod.S_ISDIR(st_mode)):
        return -errno.EACCES
    return 0


@handles("faccessat")
def sys_faccessat(sb, dirfd, path, mode, *_):
    return sys_faccessat2(sb, dirfd, path, mode, 0)


@handles("access")
def sys_access(sb, path, mode, *_):
    return sys_faccessat2(sb, AT_FDCWD, path, mode, 0)


@handles("readlinkat")
def sys_readlinkat(sb, dirfd, path, buf, size, *_):
    if as_signed(size) <= 0:
        return -errno.EINVAL
    node = resolve_at(sb, as_fd(dirfd), read_path(sb, path), follow=False)
    target = node.virtual.target if node.virtual is not None else sb.view._readlink(node)
    if target is None:
        _stat_node(sb, node)  # ENOENT for a missing name, like Linux
        return -errno.EINVAL
    data = os.fsencode(target)[: min(size, 4096)]
    sb.arena.write(buf, data)
    return len(data)


@handles("readlink")
def sys_readlink(sb, path, buf, size, *_):
    return sys_readlinkat(sb, AT_FDCWD, path, buf, size)


@handles("getcwd")
def sys_getcwd(sb, buf, size, *_):
    data = os.fsencode(sb.cwd) + b"\0"
    if len(data) > size:
        return -errno.ERANGE
    sb.arena.write(buf, data)
    return len(data)


def _enter(sb, node: Node) -> int:
    if node.virtual is not None and node.virtual.kind != "dir":
        raise OSError(errno.ENOTDIR, "not a directory")
    if node.mount is not None:
        fd = sb.view.open(node, lib.O_PATH | lib.O_DIRECTORY)
        os.close(fd)
    sb.cwd = node.vpath
    return 0


@handles("chdir")
def sys_chdir(sb, path, *_):
    return _enter(sb, resolve_at(sb, AT_FDCWD, read_path(sb, path)))


@handles("fchdir")
def sys_fchdir(sb, fd, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.kind not in ("dir", "vdir"):
        return -errno.ENOTDIR
    return _enter(sb, f.node)
