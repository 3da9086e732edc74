"""The sandbox's file descriptor table, kept in the broker.

The runtime only knows which fds go straight to an inherited stdio fd
(fd_host in the arena); everything else about an fd lives here."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import selectors
import stat as stat_mod
import struct
import time
from dataclasses import dataclass, field

from .. import kernel, listings
from ..arena import BASE
from ..fsview import Node
from .._native import ffi, lib
from . import disk
from .registry import Wait, as_fd


@dataclass
class OpenFile:
    kind: str  # "file", "dir", "vdir" (synthetic directory), "stdio", "pipe",
    #            "data", "dev" (files the broker makes up: broker/virtual.py)
    node: Node | None = None
    hostfd: int = -1  # stdio: the broker's own duplicate, for poll
    writable: bool = False
    readable: bool = True
    stat: bytes = b""  # stdio: fstat recorded at launch
    status: int = 0  # stdio, pipe: the F_GETFL flags the program sees
    cloexec: bool = False
    entries: list[str] = field(default_factory=list)  # vdir
    pos: int = 0  # vdir, data
    real: int = -1  # stdio: the inherited fd (0, 1 or 2) the runtime uses directly
    dtypes: dict[str, int] = field(default_factory=dict)  # vdir: d_type by name (else DT_DIR)
    data: bytes = b""  # data: the contents, made when it was opened
    slot: int = -1  # the prefetch slot holding a copy of the contents, if any
    slots: int = 1  # ... and the slots on from it that hold the rest (SB_PREFETCH_MOST)
    listing: bytes = b""  # dir: the whole listing in that slot, as the runtime got it


def get(sb, fd: int) -> OpenFile:
    f = sb.fds.get(fd)
    if f is None:
        raise OSError(errno.EBADF, "bad file descriptor")
    return f


def install(sb, f: OpenFile, lowest: int = 0, prefetch: bool = True, st: bytes | None = None) -> int:
    """Puts f at the lowest free fd >= lowest, like the kernel (st: its
    fstat, if the caller just made it)."""
    for fd in range(lowest, sb.fd_limit):
        if fd not in sb.fds:
            place(sb, fd, f, prefetch, st)
            return fd
    if f.hostfd >= 0:
        os.close(f.hostfd)
    raise OSError(errno.EMFILE, "too many open files")


def place(sb, fd: int, f: OpenFile, prefetch: bool = True, st: bytes | None = None) -> None:
    """Puts f at fd (closing whatever was there) and tells the runtime what
    it may answer about it locally (a dup shares its offset: no prefetch)."""
    release(sb, fd)
    sb.fds[fd] = f
    publish(sb, fd, f, prefetch, st)


def release(sb, fd: int, told: bool = False) -> OpenFile | None:
    """Closes fd; the runtime forgets it too (unless it told us: it has)."""
    f = sb.fds.pop(fd, None)
    if f is not None and not told and 0 <= fd < lib.SB_MAX_FDS:
        sb.arena.write(FDC + fd * FDC_SIZE, bytes(4))  # flags: a free fd, for warm opens
    if f is not None and f.hostfd >= 0:
        st = os.fstat(f.hostfd) if f.kind == "file" and disk.limit(sb) is not None else None
        os.close(f.hostfd)
        if st is not None:
            disk.closed(sb, st)
    return f


def duplicate(f: OpenFile, cloexec: bool) -> OpenFile:
    """A new fd on the same open file description (shared offset and flags)."""
    return dataclasses.replace(f, hostfd=os.dup(f.hostfd) if f.hostfd >= 0 else -1,
                               cloexec=cloexec, slot=-1, slots=1)


# -- the runtime's per-fd cache (struct sb_fdcache): round trips saved -------

FDC = BASE + ffi.offsetof("struct sb_state", "fdc")
LIVE_THREADS = BASE + ffi.offsetof("struct sb_state", "live_threads")
THREADS_EXITING = BASE + ffi.offsetof("struct sb_state", "threads_exiting")
FDC_SIZE = ffi.sizeof("struct sb_fdcache")
STAT_SIZE = ffi.sizeof("struct stat")


def _slots_taken(sb) -> set[int]:
    files = [*sb.fds.values(), *(f for f, *_ in sb.held.values()),
             *(r.file for r in sb.warm_ready if r.file is not None)]
    return {i for f in files if f.slot >= 0 for i in range(f.slot, f.slot + f.slots)}


def free_slot(sb) -> int:
    return free_slots(sb, 1)


def free_slots(sb, n: int) -> int:
    """The first of n free prefetch slots in a row, or -1."""
    taken, run = _slots_taken(sb), 0
    for i in range(lib.SB_PREFETCH_SLOTS):
        run = 0 if i in taken else run + 1
        if run == n:
            return i - n + 1
    return -1


def publish(sb, fd: int, f: OpenFile, prefetch: bool = True, fstat: bytes | None = None) -> None:
    """Writes fd's entry: ENOTTY for files and directories; on read-only
    mounts the fstat result, and (prefetch: the file is at its start) for a
    small file its whole contents in a prefetch slot.  Only the sandbox's
    own answers depend on it."""
    if fd >= lib.SB_MAX_FDS:
        return
    # The runtime keeps a position only while one thread runs (fd_io.c's
    # own_position; the count is the sandbox's word, and only its own
    # answers depend on it).
    prefetch = prefetch and sb.arena.state_u32(LIVE_THREADS) == 1
    flags, size, st, kept = 0, 0, b"", 0
    flags |= lib.SB_FD_OPEN | lib.SB_FD_FDKNOWN | (lib.SB_FD_CLOEXEC if f.cloexec else 0)
    if f.kind in ("stdio", "pipe"):  # sys_lseek answers ESPIPE for both
        flags |= lib.SB_FD_NOSEEK
    if f.kind in ("file", "dir", "data"):
        flags |= lib.SB_FD_NOTTY
    frozen = f.node is not None and f.node.mount is not None and f.node.mount.frozen
    if f.kind in ("file", "dir") and frozen and not f.writable:
        st = fstat if fstat is not None else kernel.stat_bytes(f.hostfd)
        flags |= lib.SB_FD_STAT
        mode, size = struct.unpack_from("<I", st, 24)[0], struct.unpack_from("<q", st, 48)[0]
        if stat_mod.S_ISDIR(mode) and prefetch:  # its whole listing, if a slot holds it
            f.slot = free_slot(sb)
            f.listing = whole_listing(f.hostfd) if f.slot >= 0 else None
            if f.listing is None:
                f.slot, f.listing = -1, b""
            else:
                sb.arena.write(lib.SB_PREFETCH_BASE + f.slot * lib.SB_PREFETCH_SLOT, f.listing)
                flags, size = flags | lib.SB_FD_LISTING, len(f.listing)
        # A larger file gets its first SB_PREFETCH_HEAD bytes (ld.so reads an
        # ELF header and its notes, then maps the rest; a locale is mapped
        # whole): size stays the file's, and a read past them moves the window.
        if stat_mod.S_ISREG(mode) and size > 0 and prefetch:  # (procfs files say 0, yet have bytes)
            f.slot = free_slot(sb)
            if f.slot >= 0:
                addr = lib.SB_PREFETCH_BASE + f.slot * lib.SB_PREFETCH_SLOT
                try:
                    head = head_bytes(size)
                    kept = sb.arena.copy_in(addr, f.hostfd, 0, head)
                    size = size if kept == head < size else kept  # (it may have shrunk)
                    flags |= lib.SB_FD_DATA
                except OSError:  # an O_PATH fd cannot be read: no copy, read says EBADF
                    f.slot, size = -1, 0
    if f.kind == "data" and f.node is not None and f.node.virtual is not None and f.node.virtual.sized:
        st = sb.view.virtual.stat_bytes(f.node)  # (a made-up /etc file: fixed for the sandbox)
        flags |= lib.SB_FD_STAT
    if f.kind == "data" and len(f.data) <= lib.SB_PREFETCH_SLOT and prefetch:
        f.slot = free_slot(sb)
        if f.slot >= 0:
            sb.arena.write(lib.SB_PREFETCH_BASE + f.slot * lib.SB_PREFETCH_SLOT, f.data)
            kept = len(f.data)
            flags, size = flags | lib.SB_FD_DATA, kept
    held = kept if flags & lib.SB_FD_DATA else 0  # the slot: from offset 0
    entry = struct.pack("<IIQQQQ", flags, max(f.slot, 0), size, f.pos if f.kind == "data" else 0,
                        0, held)
    sb.arena.write(FDC + fd * FDC_SIZE, entry + st.ljust(FDC_SIZE - len(entry), b"\0"))


def head_bytes(size: int) -> int:
    """How much of a file of size bytes a prefetch slot starts with: all of
    it, or for a larger one its head."""
    return size if size <= lib.SB_PREFETCH_SLOT else lib.SB_PREFETCH_HEAD


def slots_for(size: int) -> int:
    """The prefetch slots a file of size bytes (up to SB_PREFETCH_MOST) fills."""
    return max(1, -(-size // lib.SB_PREFETCH_SLOT))


# The longest linux_dirent64: 19 bytes of header, a 255-byte name and its NUL,
# rounded up to 8.
DIRENT_MAX = 280


# Whole listings as read before, kept for this process's later sandboxes
# while their directories stay as they were (listings.DirMemo): CPython
# opens the same half dozen directories as each run starts.
_LISTED = listings.DirMemo(8 << 20)


def whole_listing(hostfd: int) -> bytes | None:
    """A directory's entries (linux_dirent64 records), if its position is at
    the start and they all fit in a prefetch slot; else None.  The position
    stays at the start: for the runtime to hand back (fd_io.c's uncache), and
    for the dups that share it."""
    try:
        if os.lseek(hostfd, 0, os.SEEK_CUR) != 0:
            return None
        key = _LISTED.key(hostfd, os.fstat(hostfd))
    except OSError:  # an O_PATH fd: no listing
        return None
    data = _LISTED.get(key)
    if data is not None:
        return data
    now = time.time_ns()
    data = b""
    try:
        while True:
            room = lib.SB_PREFETCH_SLOT - len(data)
            chunk = kernel.getdents64(hostfd, max(room, DIRENT_MAX))
            if not chunk or len(chunk) > room:
                break
            data += chunk
        os.lseek(hostfd, 0, os.SEEK_SET)
    except OSError:
        return None
    if chunk:
        return None
    _LISTED.put(key, now, data)
    return data


def listing_position(f: OpenFile, pos: int) -> int:
    """The kernel's position for the record at byte pos of f's listing (the
    d_off of the one before it; 0 at the start)."""
    at = cookie = 0
    while at < pos and at + 19 <= len(f.listing):
        cookie, reclen = struct.unpack_from("<qH", f.listing, at + 8)
        at += max(reclen, 19)
    return cookie


MAX_OFFSET = (1 << 63) - 1  # loff_t's largest
STREAMS = ("file", "pipe", "data", "dev")  # kinds whose bytes the broker moves with read/write
MADE_UP = ("data", "dev")  # no host fd: the bytes come from the broker


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


def room_to(sb, end: int, size: int | None = None) -> None:
    """Whether a file may be made `end` bytes long: EFBIG past the file_size
    limit, or (given its current size) past the disk limit."""
    limit = sb.limits.file_size
    if limit is not None and end > limit:
        raise OSError(errno.EFBIG, "file size limit")
    if size is not None:
        disk.need(sb, end - size, errno.EFBIG)


def limited_write(sb, f: OpenFile, start: int | None, n: int, put) -> int:
    """put(k) writes k <= n bytes at `start` (None: the file offset, or the
    end for O_APPEND) and returns how many it wrote.  In a regular file, k
    stops at the file_size limit (EFBIG if nothing fits, as Linux under
    RLIMIT_FSIZE) and at the disk limit (ENOSPC if nothing fits, as on a
    full file system), and the growth is counted against the disk limit."""
    limit = sb.limits.file_size
    if f.kind != "file" or n == 0 or (limit is None and disk.limit(sb) is None):
        return put(n)
    size = os.fstat(f.hostfd).st_size
    if start is None:
        append = fcntl.fcntl(f.hostfd, fcntl.F_GETFL) & os.O_APPEND
        start = size if append else os.lseek(f.hostfd, 0, os.SEEK_CUR)
    if limit is not None:
        if start >= limit:
            raise OSError(errno.EFBIG, "file size limit")
        n = min(n, limit - start)
    room = disk.room(sb)
    if room is not None and start + n > size:
        fits = size + room - start
        if fits <= 0:
            raise OSError(errno.ENOSPC, "disk limit")
        n = min(n, fits)
    done = put(n)
    disk.charge(sb, max(0, start + done - size))
    return done


def read_from(f: OpenFile, n: int) -> bytes:
    """Up to n bytes; a pipe with nothing in it makes the caller wait."""
    if f.kind in MADE_UP:
        data = read_at(f, n, f.pos)
        f.pos += len(data) if f.kind == "data" else 0
        return data
    try:
        return os.read(f.hostfd, n)
    except BlockingIOError:
        if f.status & os.O_NONBLOCK:
            raise
        raise Wait([(f.hostfd, selectors.EVENT_READ)]) from None


def read_at(f: OpenFile, n: int, offset: int) -> bytes:
    """pread on a made-up file: a slice of its data, or /dev/null, /dev/zero
    and /dev/random, /dev/urandom (the broker's os.urandom)."""
    if f.kind == "data":
        return f.data[offset:offset + n]
    device = f.node.virtual.device
    return b"" if device == "null" else bytes(n) if device == "zero" else os.urandom(n)


def seek(f: OpenFile, offset: int, whence: int) -> int:
    """lseek on a made-up file: data keeps a position, devices stay at 0."""
    if f.kind == "dev":
        return 0
    base = {os.SEEK_SET: 0, os.SEEK_CUR: f.pos, os.SEEK_END: len(f.data)}.get(whence)
    if base is None or not 0 <= base + offset <= MAX_OFFSET:
        raise OSError(errno.EINVAL, "invalid seek")
    f.pos = base + offset
    return f.pos


def write_to(f: OpenFile, data: bytes) -> int:
    if f.kind == "dev":  # every device here swallows what is written, like Linux
        return len(data)
    try:
        return os.write(f.hostfd, data)
    except BlockingIOError:
        if f.status & os.O_NONBLOCK:
            raise
        raise Wait([(f.hostfd, selectors.EVENT_WRITE)]) from None
