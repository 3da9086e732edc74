"""Opening, reading and writing broker-held files and directories."""

from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_mod
import struct

from .. import kernel, virtual
from ..fsview import Node
from .._native import lib
from . import fdtable
from .fdtable import OpenFile
from .paths import read_path, resolve_at
from .registry import Wait, as_fd, as_signed, handles

MAX_IO = 1 << 20  # bytes moved by one read/write request
MAX_IOV = 1024
AT_FDCWD = lib.AT_FDCWD
O_ACCMODE = lib.O_ACCMODE
WRITE_FLAGS = lib.O_CREAT | lib.O_TRUNC | lib.O_APPEND
OPEN_PASS = (lib.O_ACCMODE | lib.O_CREAT | lib.O_EXCL | lib.O_TRUNC | lib.O_APPEND
             | lib.O_DIRECTORY | lib.O_NOFOLLOW | lib.O_NONBLOCK | lib.O_PATH)


def _open_node(sb, node: Node, flags: int, mode: int) -> int:
    if node.virtual is not None:  # /dev/null, /proc/self/..., /etc/passwd: made up
        return virtual.open_node(sb, node, flags)
    if flags & lib.O_PATH:  # open(2) ignores the other flags; openat2 would refuse them
        flags &= lib.O_PATH | lib.O_DIRECTORY | lib.O_NOFOLLOW | lib.O_CLOEXEC
    tmpfile = (flags & lib.O_TMPFILE) == lib.O_TMPFILE  # O_TMPFILE includes O_DIRECTORY
    writing = (flags & O_ACCMODE) != os.O_RDONLY or flags & WRITE_FLAGS or tmpfile
    if node.mount is None:
        if writing:
            raise OSError(errno.EROFS, "read-only")
        return fdtable.install(sb, OpenFile("vdir", node, entries=sb.view.synthetic_children(node)))
    if writing and not node.mount.writable:
        raise OSError(errno.EROFS, "read-only mount")
    # O_TMPFILE: an unnamed file in the directory node (kept as its node, so
    # linkat can check the mount).  openat2 takes a mode only when creating.
    creating = flags & lib.O_CREAT or tmpfile
    passed = (flags & OPEN_PASS) | (lib.O_TMPFILE if tmpfile else 0)
    passed |= 0 if flags & lib.O_PATH else os.O_NOCTTY
    if creating:
        with kernel.no_umask():
            hostfd = sb.view.open(node, passed, mode & 0o777 & ~sb.umask)
    else:
        hostfd = sb.view.open(node, passed, 0)
    st = os.fstat(hostfd)
    kind = "dir" if stat_mod.S_ISDIR(st.st_mode) else "file"
    return fdtable.install(sb, OpenFile(kind, node, hostfd, writable=bool(writing),
                                cloexec=bool(flags & lib.O_CLOEXEC)))


@handles("openat")
def sys_openat(sb, dirfd, path, flags, mode, *_):
    flags &= 0xFFFFFFFF
    follow = not flags & lib.O_NOFOLLOW
    p = read_path(sb, path)
    if flags & lib.O_CREAT and p.endswith("/"):
        return -errno.EISDIR  # Linux: O_CREAT never makes a directory
    node = resolve_at(sb, as_fd(dirfd), p, follow)
    return _open_node(sb, node, flags, mode)


@handles("open")
def sys_open(sb, path, flags, mode, *_):
    return sys_openat(sb, AT_FDCWD, path, flags, mode)


@handles("close")
def sys_close(sb, fd, *_):
    return 0 if fdtable.release(sb, as_fd(fd)) is not None else -errno.EBADF


@handles("read")
def sys_read(sb, fd, buf, count, *_):
    f = fdtable.stream(sb, fd)
    data = fdtable.read_from(f, min(count, MAX_IO, sb.arena.room(buf)))
    sb.arena.write(buf, data)
    return len(data)


@handles("pread64")
def sys_pread64(sb, fd, buf, count, offset, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.kind in fdtable.MADE_UP:
        if not f.readable:
            return -errno.EBADF
        if as_signed(offset) < 0:
            return -errno.EINVAL
        data = fdtable.read_at(f, min(count, MAX_IO, sb.arena.room(buf)), offset)
        sb.arena.write(buf, data)
        return len(data)
    f = fdtable.host_file(sb, fd)
    if as_signed(offset) < 0:
        return -errno.EINVAL
    data = os.pread(f.hostfd, min(count, MAX_IO, sb.arena.room(buf)), offset)
    sb.arena.write(buf, data)
    return len(data)


def _iovecs(sb, iov: int, n: int) -> list[tuple[int, int]]:
    if n > MAX_IOV:
        raise OSError(errno.EINVAL, "too many iovecs")
    raw = sb.arena.read(iov, 16 * n)
    return [struct.unpack_from("<QQ", raw, 16 * i) for i in range(n)]


@handles("readv")
def sys_readv(sb, fd, iov, n, *_):
    f = fdtable.stream(sb, fd)
    total = 0
    iovecs = _iovecs(sb, iov, n)
    for base, length in iovecs:  # like Linux: a bad buffer fails before any data moves
        if length:
            sb.arena.check(base, min(length, MAX_IO))
    for base, length in iovecs:
        if not length:
            continue
        try:
            data = fdtable.read_from(f, min(length, MAX_IO - total))
        except Wait:
            if total:
                break
            raise
        sb.arena.write(base, data)
        total += len(data)
        if len(data) < length or total >= MAX_IO:
            break
    return total


@handles("write")
def sys_write(sb, fd, buf, count, *_):
    f = fdtable.stream(sb, fd, writing=True)
    n = fdtable.allowed_write(sb, f, None, min(count, MAX_IO))
    return fdtable.write_to(f, sb.arena.read(buf, n))


@handles("writev")
def sys_writev(sb, fd, iov, n, *_):
    f = fdtable.stream(sb, fd, writing=True)
    parts, total = [], 0
    for base, length in _iovecs(sb, iov, n):  # copy at most MAX_IO bytes in all
        take = min(length, MAX_IO - total)
        parts.append(sb.arena.read(base, take))
        total += take
        if total >= MAX_IO:
            break
    data = b"".join(parts)
    return fdtable.write_to(f, data[: fdtable.allowed_write(sb, f, None, len(data))])


@handles("lseek")
def sys_lseek(sb, fd, offset, whence, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.kind == "stdio":
        return -errno.ESPIPE
    if f.kind == "vdir":
        f.pos = 0
        return 0
    if f.kind in fdtable.MADE_UP:
        return fdtable.seek(f, as_signed(offset), whence)
    if whence > 4:
        return -errno.EINVAL
    return os.lseek(f.hostfd, as_signed(offset), whence)


@handles("ioctl")
def sys_ioctl(sb, fd, request, arg, *_):
    """FIONREAD (bytes ready to read) and FIONBIO (O_NONBLOCK); no other
    request reaches a device here."""
    f = fdtable.get(sb, as_fd(fd))
    if request & 0xFFFFFFFF == lib.FIONBIO:
        on = struct.unpack("<i", sb.arena.read(arg, 4))[0] != 0
        if f.kind in ("stdio", "pipe", "data", "dev"):  # flags we keep ourselves (see fds.py)
            f.status = f.status | os.O_NONBLOCK if on else f.status & ~os.O_NONBLOCK
        elif f.hostfd >= 0:
            flags = fcntl.fcntl(f.hostfd, fcntl.F_GETFL)
            fcntl.fcntl(f.hostfd, fcntl.F_SETFL,
                        flags | os.O_NONBLOCK if on else flags & ~os.O_NONBLOCK)
        return 0
    if request & 0xFFFFFFFF != lib.FIONREAD:
        return -errno.ENOTTY
    if f.kind == "data":
        ready = len(f.data) - f.pos
    elif f.kind == "file":
        ready = max(0, os.fstat(f.hostfd).st_size - os.lseek(f.hostfd, 0, os.SEEK_CUR))
    elif f.kind in ("pipe", "stdio") and f.hostfd >= 0:
        ready = struct.unpack("<i", fcntl.ioctl(f.hostfd, lib.FIONREAD, bytes(4)))[0]
    elif f.kind in ("dir", "vdir"):
        return -errno.ENOTTY
    else:
        ready = 0
    sb.arena.write(arg, struct.pack("<i", max(0, min(ready, 0x7FFFFFFF))))
    return 0


@handles("getdents64")
def sys_getdents64(sb, fd, buf, count, *_):
    f = fdtable.get(sb, as_fd(fd))
    count = min(count, MAX_IO)
    if f.kind == "dir":
        data = kernel.getdents64(f.hostfd, count)
    elif f.kind == "vdir":
        out = bytearray()
        names = [".", ".."] + f.entries
        while f.pos < len(names):
            name = names[f.pos].encode() + b"\0"
            reclen = (19 + len(name) + 7) & ~7
            if len(out) + reclen > count:
                if not out:
                    return -errno.EINVAL
                break
            dtype = f.dtypes.get(names[f.pos], lib.DT_DIR)
            rec = struct.pack("<QqHB", f.pos + 1, f.pos + 1, reclen, dtype) + name
            out += rec.ljust(reclen, b"\0")
            f.pos += 1
        data = bytes(out)
    else:
        return -errno.ENOTDIR
    sb.arena.write(buf, data)
    return len(data)
