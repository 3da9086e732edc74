"""Opening, reading and writing broker-held files and directories."""

from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_mod
import struct

from .. import arena, kernel, listings, lookups, virtual
from ..arena import Fault
from ..fsview import Node
from .._native import lib
from . import disk, fdtable
from .fdtable import OpenFile
from .paths import read_path, resolve_at
from .registry import Wait, as_fd, as_signed, handles

MAX_IO = 1 << 20  # bytes moved by one read/write request
MAX_IOV = 1024
MAX_RW_COUNT = 0x7FFFF000  # Linux's cap on one read or write (INT_MAX & PAGE_MASK)
# The end of user space (x86_64, 4-level paging: TASK_SIZE_MAX).  Linux's
# access_ok() fails a buffer that runs past it (or wraps) before any data
# moves; one that runs into unmapped memory below it gets a short count.
USER_END = (1 << 47) - 4096
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
    cut = _size_before_trunc(sb, node) if flags & lib.O_TRUNC and not flags & lib.O_PATH else None
    if writing and not tmpfile and arena.PINNED_FILES and _runs_pinned(sb, node):
        raise OSError(errno.ETXTBSY, "a sandbox runs this file")  # before O_TRUNC cuts it
    # Never wait in open: a FIFO blocks it until its other end opens, and the
    # broker serves every sandbox.  The flag goes once the file is not one.
    no_wait = 0 if flags & (lib.O_PATH | lib.O_NONBLOCK) else os.O_NONBLOCK
    if creating:
        with kernel.no_umask():
            hostfd = sb.view.open(node, passed | no_wait, mode & 0o777 & ~sb.umask)
    else:
        hostfd = sb.view.open(node, passed | no_wait, 0)
    st = kernel.stat_bytes(hostfd)  # (the fd cache entry takes it as it is)
    ident, mode = struct.unpack_from("<QQ", st, 0), struct.unpack_from("<I", st, 24)[0]
    if stat_mod.S_ISFIFO(mode) and not flags & lib.O_PATH:
        os.close(hostfd)
        sb.log.append(f"openat {node.vpath}: a FIFO on a mount is not opened (its other end is outside)")
        raise OSError(errno.ENXIO, "a FIFO on a mount")
    if no_wait:  # (F_SETFL sets only O_APPEND of what openat2 was given, and O_NONBLOCK)
        fcntl.fcntl(hostfd, fcntl.F_SETFL, passed & os.O_APPEND)
    if writing and ident in arena.PINNED_FILES:  # (it was renamed here meanwhile)
        os.close(hostfd)
        raise OSError(errno.ETXTBSY, "a sandbox runs this file")
    if cut is not None and ident == (cut.st_dev, cut.st_ino):
        disk.charge(sb, -cut.st_size)  # O_TRUNC gave these bytes back
    kind = "dir" if stat_mod.S_ISDIR(mode) else "file"
    return fdtable.install(sb, OpenFile(kind, node, hostfd, writable=bool(writing),
                                cloexec=bool(flags & lib.O_CLOEXEC)), st=st)


def _existing_stat(sb, node: Node) -> os.stat_result | None:
    """What is at node now, or None if nothing is there yet (O_CREAT makes it)."""
    try:
        fd = sb.view.open(node, lib.O_PATH)
    except OSError:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _runs_pinned(sb, node: Node) -> bool:
    """node is a file some sandbox of this broker runs from (arena.PINNED_FILES)."""
    st = _existing_stat(sb, node)
    return st is not None and arena.pinned_file(st)


def _size_before_trunc(sb, node: Node) -> os.stat_result | None:
    """The regular file an O_TRUNC open is about to cut, when the disk limit
    is on."""
    if disk.limit(sb) is None:
        return None
    st = _existing_stat(sb, node)
    return st if st is not None and stat_mod.S_ISREG(st.st_mode) else None


@handles("openat")
def sys_openat(sb, dirfd, path, flags, mode, *_):
    flags &= 0xFFFFFFFF
    follow = not flags & lib.O_NOFOLLOW
    p = read_path(sb, path)
    if flags & lib.O_CREAT and p.endswith("/"):
        return -errno.EISDIR  # Linux: O_CREAT never makes a directory
    lookup_only = not flags & ~lookups.LOOKUP_OPEN_FLAGS
    try:
        fd = _open_direct(sb, p, flags) if lookup_only and follow else None
        if fd is None:
            fd = _open_node(sb, resolve_at(sb, as_fd(dirfd), p, follow), flags, mode)
        if lookup_only and p.endswith(".pyc") and sb.fds[fd].kind == "file":
            lookups.learn_pyc_tag(sb, p)
        elif lookup_only and sb.fds[fd].kind == "dir":
            lookups.learn_dir_listing(sb, p, flags)
        if sb.warm is not None and lookup_only and _plain_file(sb.fds[fd]):
            lookups.noted(sb, p, flags & ~lib.O_CLOEXEC)  # a warm start may hold it open next time
        return fd
    except OSError as e:
        if e.errno != errno.ENOENT or not lookup_only:
            raise
    listings.list_around(sb, p)
    if lookups.open_missing_kept(sb, p):  # the runtime keeps that (fd_io.c's sys_openat)
        return -errno.ENOENT, lookups.KEEP_MISSING_OPEN
    return -errno.ENOENT


def _open_direct(sb, path: str, flags: int) -> int | None:
    """A read-only open of an absolute path in one call, which refuses
    symlinks (most opens: the walk's look for them first is saved); None if
    the walk must decide (ELOOP, EXDEV).  Any other answer is the walk's
    too: a missing name, or a file used as a directory, with no symlink
    before it; and what the open itself says (a FIFO, no free fd)."""
    node = sb.view.direct(path)
    if node is None:
        return None
    try:
        return _open_node(sb, node, flags, 0)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EXDEV):  # a symlink, or a mount, on the way
            return None
        raise


def _plain_file(f: OpenFile) -> bool:
    """A regular file or directory, or a made-up file of a known size (what a
    warm start may hold open)."""
    if f.kind == "data":
        return f.node is not None and f.node.virtual is not None and f.node.virtual.sized
    return f.kind == "dir" or (f.kind == "file" and stat_mod.S_ISREG(os.fstat(f.hostfd).st_mode))


@handles("open")
def sys_open(sb, path, flags, mode, *_):
    return sys_openat(sb, AT_FDCWD, path, flags, mode)


@handles("close")
def sys_close(sb, fd, *_):
    return 0 if fdtable.release(sb, as_fd(fd)) is not None else -errno.EBADF


def user_range(buf: int, count: int) -> None:
    """Linux's access_ok(buf, count): Fault (EFAULT) for a range that wraps
    or passes the end of user space, whatever the arena holds."""
    if buf + count > USER_END:
        raise Fault(f"{count} bytes at {buf:#x} pass the end of user space")


def fill_room(sb, buf: int, count: int) -> int:
    """How many bytes a call that fills [buf, buf + count) may move: EFAULT
    (Fault) past the end of user space or for a buffer that starts outside
    the arena, as Linux when nothing can be copied; else at most MAX_IO, and
    no further than the arena's end -- the broker writes nowhere else, and
    Linux too stops with a short count at the first page it cannot write."""
    user_range(buf, count)
    if count == 0:
        return 0
    return min(count, MAX_IO, sb.arena.room(buf))


@handles("read")
def sys_read(sb, fd, buf, count, *_):
    f = fdtable.stream(sb, fd)
    n = fill_room(sb, buf, count)
    if n == 0:
        return 0  # read(fd, NULL, 0) is 0 on Linux
    data = fdtable.read_from(f, n)
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
        data = fdtable.read_at(f, fill_room(sb, buf, count), offset)
        sb.arena.write(buf, data)
        return len(data)
    f = fdtable.host_file(sb, fd)
    if as_signed(offset) < 0:
        return -errno.EINVAL
    n = fill_room(sb, buf, count)
    if n == 0:
        return 0  # pread(fd, NULL, 0, off) is 0 on Linux
    data = os.pread(f.hostfd, n, offset)
    sb.arena.write(buf, data)
    return len(data)


def _iovecs(sb, iov: int, n: int) -> list[tuple[int, int]]:
    """The iovec array, checked as Linux's import_iovec does: the count is
    32 bits, a negative length is EINVAL, and (for more than one iovec) a
    range past the end of user space EFAULT before any data moves."""
    n &= 0xFFFFFFFF
    if n > MAX_IOV:
        raise OSError(errno.EINVAL, "too many iovecs")
    raw = sb.arena.read(iov, 16 * n) if n else b""
    out = [struct.unpack_from("<QQ", raw, 16 * i) for i in range(n)]
    if any(length >> 63 for _, length in out):
        raise OSError(errno.EINVAL, "negative iovec length")
    for base, length in out:  # one iovec: Linux caps its length first
        user_range(base, min(length, MAX_RW_COUNT) if n == 1 else length)
    return out


@handles("readv")
def sys_readv(sb, fd, iov, n, *_):
    f = fdtable.stream(sb, fd)
    total = 0
    iovecs = _iovecs(sb, iov, n)
    for base, length in iovecs:  # a buffer outside the arena fails before any data moves
        if length:
            sb.arena.room(base)
    for base, length in iovecs:
        if not length:
            continue
        take = min(length, MAX_IO - total, sb.arena.room(base))
        try:
            data = fdtable.read_from(f, take)
        except Wait:
            if total:
                break
            raise
        sb.arena.write(base, data)
        total += len(data)
        if len(data) < length or total >= MAX_IO:  # short: the data or the arena ran out
            break
    return total


@handles("write")
def sys_write(sb, fd, buf, count, *_):
    f = fdtable.stream(sb, fd, writing=True)
    return fdtable.limited_write(sb, f, None, min(count, MAX_IO),
                                 lambda n: fdtable.write_to(f, sb.arena.read(buf, n)))


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
    return fdtable.limited_write(sb, f, None, len(data), lambda n: fdtable.write_to(f, data[:n]))


@handles("lseek")
def sys_lseek(sb, fd, offset, whence, *_):
    f = fdtable.get(sb, as_fd(fd))
    whence &= 0xFFFFFFFF  # an unsigned int to the kernel
    if f.kind == "stdio":  # Linux checks whence first
        return -errno.EINVAL if whence > 4 else -errno.ESPIPE
    if f.kind == "vdir":
        f.pos = 0
        return 0
    if f.kind in fdtable.MADE_UP:
        return fdtable.seek(f, as_signed(offset), whence)
    if whence > 4:
        return -errno.EINVAL
    return os.lseek(f.hostfd, as_signed(offset), whence)


def hand_back(sb, fd: int, position: int) -> int:
    """SB_OP_HAND_BACK: the runtime gives a prefetched file's offset or a
    listing's place back: the host file moves there (no policy: the program
    made no call).  Untrusted numbers: it can only move its own fd."""
    f = sb.fds.get(as_fd(fd))
    if f is None or f.slot < 0:  # only what the broker gave it, once (else a seek past the policy)
        return -errno.EBADF
    if not 0 <= as_signed(position) <= fdtable.MAX_OFFSET:
        return -errno.EINVAL
    f.slot, f.slots, f.listing = -1, 1, b""  # the runtime is done with it
    if f.kind == "data":  # a made-up file: the offset is ours
        f.pos = position
        return 0
    if f.kind not in ("file", "dir") or f.hostfd < 0:
        return -errno.EBADF
    try:
        os.lseek(f.hostfd, position, os.SEEK_SET)
    except OSError as e:
        return -(e.errno or errno.EINVAL)
    return 0


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
    """count is 32 bits and, as in the kernel, a signed int: one too small
    for the next entry (0, or past INT_MAX) is EINVAL, except at the end of
    the directory (0).  Entries go only where the arena has room, so none is
    consumed that the program would not get."""
    f = fdtable.get(sb, as_fd(fd))
    count &= 0xFFFFFFFF
    if count > 0x7FFFFFFF:
        count = 0
    room = sb.arena.room(buf) if count else count
    if f.kind == "dir":
        try:
            data = kernel.getdents64(f.hostfd, min(count, MAX_IO, room))
        except OSError as e:  # no room for an entry the buffer would hold on Linux
            if e.errno == errno.EINVAL and room < min(count, MAX_IO):
                raise Fault("getdents64 buffer runs out of the arena") from None
            raise
    elif f.kind == "vdir":
        out = bytearray()
        names = [".", ".."] + f.entries
        while f.pos < len(names):
            name = names[f.pos].encode() + b"\0"
            reclen = (19 + len(name) + 7) & ~7
            if len(out) + reclen > min(count, MAX_IO, room):
                if not out:
                    return -errno.EINVAL if reclen > min(count, MAX_IO) else -errno.EFAULT
                break
            dtype = f.dtypes.get(names[f.pos], lib.DT_DIR)
            rec = struct.pack("<QqHB", f.pos + 1, f.pos + 1, reclen, dtype) + name
            out += rec.ljust(reclen, b"\0")
            f.pos += 1
        data = bytes(out)
    else:
        return -errno.ENOTDIR
    sb.arena.write(buf, data)
    if f.kind == "dir" and data and _listing_ended(f, len(data), min(count, MAX_IO, room)):
        return len(data), 1  # the runtime answers the next call (0) itself
    return len(data)


def _listing_ended(f, got: int, asked: int) -> bool:
    """Whether a read-only directory has no entry after the ones just read.
    Only a listing that stopped with room for any entry to spare is probed,
    with one more host getdents64; an entry found is left unread (the
    position goes back where it was)."""
    node = f.node
    if node is None or node.mount is None or node.mount.writable or asked - got < fdtable.DIRENT_MAX:
        return False
    pos = os.lseek(f.hostfd, 0, os.SEEK_CUR)
    if not kernel.getdents64(f.hostfd, fdtable.DIRENT_MAX):
        return True
    os.lseek(f.hostfd, pos, os.SEEK_SET)
    return False
