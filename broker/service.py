"""The broker's system call handlers.

Each handler takes the sandbox and the six raw register values, reads any
pointer argument out of the arena exactly once, decides on that private copy
and returns the result (a negative errno on failure), optionally with extra
integers for the runtime.  Handlers are registered against the syscall table,
and a BROKER row without a handler is an import-time error."""

from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_mod
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

from . import kernel
from .arena import Fault
from .fsview import Node
from .syscall_table import BROKER, BY_NAME, DENIED, TABLE
from ._native import lib

MAX_IO = 1 << 20  # bytes moved by one read/write request
MAX_IOV = 1024
AT_FDCWD = lib.AT_FDCWD
AT_EMPTY_PATH = lib.AT_EMPTY_PATH
AT_SYMLINK_NOFOLLOW = lib.AT_SYMLINK_NOFOLLOW
O_ACCMODE = lib.O_ACCMODE
WRITE_FLAGS = lib.O_CREAT | lib.O_TRUNC | lib.O_APPEND
OPEN_PASS = (lib.O_ACCMODE | lib.O_CREAT | lib.O_EXCL | lib.O_TRUNC | lib.O_APPEND
             | lib.O_DIRECTORY | lib.O_NOFOLLOW | lib.O_NONBLOCK | lib.O_PATH)


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


Handler = Callable[..., "int | tuple[int, ...]"]
HANDLERS: dict[str, Handler] = {}


def handles(*names: str):
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn
    return register


def as_fd(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def as_signed(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def serve(sb, nr: int, args: tuple[int, ...]) -> tuple[int, ...]:
    """One forwarded system call: never raises for anything the sandbox sent."""
    name = kernel.SYSCALL_NAME.get(nr)
    call = BY_NAME.get(name) if name else None
    if call is None:
        sb.deny(name or f"syscall {nr}", "not in strictbox's syscall table", errno.ENOSYS)
        return (-errno.ENOSYS,)
    if call.where == DENIED:
        code = kernel.errno_value(call.errno)
        sb.deny(name, call.note, code)
        return (-code,)
    handler = HANDLERS.get(name)
    if handler is None:  # a SANDBOX row: only a misbehaving runtime sends it here
        sb.deny(name, "served inside the sandbox, not by the broker", errno.ENOSYS)
        return (-errno.ENOSYS,)
    try:
        result = handler(sb, *args)
    except Fault:
        result = -errno.EFAULT
    except OSError as e:
        result = -(e.errno or errno.EIO)
    except (OverflowError, ValueError) as e:  # an argument no host call accepts
        sb.log.append(f"{name}: rejected argument ({e})")
        result = -errno.EINVAL
    sb.stats["broker"] += 1
    return result if isinstance(result, tuple) else (result,)


# -- paths ------------------------------------------------------------------

def _path(sb, addr: int) -> str:
    raw = sb.arena.read_cstr(addr)
    return os.fsdecode(raw)


def _at(sb, dirfd: int, path: str, follow: bool = True, empty_ok: bool = False) -> Node:
    """Resolves path relative to a virtual dirfd (or the cwd)."""
    if not path:
        if empty_ok:
            f = _file(sb, dirfd) if dirfd != AT_FDCWD else None
            if f is None:
                return sb.view.resolve(sb.cwd)
            if f.node is None:
                raise OSError(errno.EBADF, "fd has no path")
            return f.node
        raise OSError(errno.ENOENT, "empty path")
    if path.startswith("/") or dirfd == AT_FDCWD:
        return sb.view.resolve(path, sb.cwd, follow)
    f = _file(sb, dirfd)
    if f.kind not in ("dir", "vdir"):
        raise OSError(errno.ENOTDIR, "dirfd is not a directory")
    return sb.view.resolve(path, f.node.vpath, follow)


def _file(sb, fd: int) -> OpenFile:
    f = sb.fds.get(fd)
    if f is None:
        raise OSError(errno.EBADF, "bad file descriptor")
    return f


def _new_fd(sb, f: OpenFile) -> int:
    for fd in range(sb.limits.open_files):
        if fd not in sb.fds:
            sb.fds[fd] = f
            return fd
    if f.hostfd >= 0:
        os.close(f.hostfd)
    raise OSError(errno.EMFILE, "too many open files")


def _open_node(sb, node: Node, flags: int, mode: int) -> int:
    tmpfile = (flags & lib.O_TMPFILE) == lib.O_TMPFILE  # O_TMPFILE includes O_DIRECTORY
    writing = (flags & O_ACCMODE) != os.O_RDONLY or flags & WRITE_FLAGS or tmpfile
    if node.mount is None:
        if writing:
            raise OSError(errno.EROFS, "read-only")
        return _new_fd(sb, OpenFile("vdir", node, entries=sb.view.synthetic_children(node)))
    if writing and not node.mount.writable:
        raise OSError(errno.EROFS, "read-only mount")
    if tmpfile:
        raise OSError(errno.EOPNOTSUPP, "O_TMPFILE is not supported yet")
    hostfd = sb.view.open(node, (flags & OPEN_PASS) | os.O_NOCTTY, mode & 0o777 & ~sb.umask)
    st = os.fstat(hostfd)
    kind = "dir" if stat_mod.S_ISDIR(st.st_mode) else "file"
    return _new_fd(sb, OpenFile(kind, node, hostfd, writable=bool(writing),
                                cloexec=bool(flags & lib.O_CLOEXEC)))


@handles("openat")
def sys_openat(sb, dirfd, path, flags, mode, *_):
    flags &= 0xFFFFFFFF
    follow = not flags & lib.O_NOFOLLOW
    node = _at(sb, as_fd(dirfd), _path(sb, path), follow)
    return _open_node(sb, node, flags, mode)


@handles("open")
def sys_open(sb, path, flags, mode, *_):
    return sys_openat(sb, AT_FDCWD, path, flags, mode)


@handles("close")
def sys_close(sb, fd, *_):
    f = sb.fds.pop(as_fd(fd), None)
    if f is None:
        return -errno.EBADF
    if f.hostfd >= 0:
        os.close(f.hostfd)
    return 0


# -- data -------------------------------------------------------------------

def _host_file(sb, fd: int) -> OpenFile:
    f = _file(sb, as_fd(fd))
    if f.kind == "stdio":
        raise OSError(errno.EBADF, "stdio is served inside the sandbox")
    if f.kind != "file":
        raise OSError(errno.EISDIR, "is a directory")
    return f


@handles("read")
def sys_read(sb, fd, buf, count, *_):
    f = _host_file(sb, fd)
    data = os.read(f.hostfd, min(count, MAX_IO, sb.arena.room(buf)))
    sb.arena.write(buf, data)
    return len(data)


@handles("pread64")
def sys_pread64(sb, fd, buf, count, offset, *_):
    f = _host_file(sb, fd)
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
    f = _host_file(sb, fd)
    total = 0
    iovecs = _iovecs(sb, iov, n)
    for base, length in iovecs:  # like Linux: a bad buffer fails before any data moves
        if length:
            sb.arena.check(base, min(length, MAX_IO))
    for base, length in iovecs:
        data = os.read(f.hostfd, min(length, MAX_IO - total))
        sb.arena.write(base, data)
        total += len(data)
        if len(data) < length or total >= MAX_IO:
            break
    return total


def _writable(sb, fd) -> OpenFile:
    f = _host_file(sb, fd)
    if not f.writable:
        raise OSError(errno.EBADF, "not open for writing")
    return f


@handles("write")
def sys_write(sb, fd, buf, count, *_):
    f = _writable(sb, fd)
    return os.write(f.hostfd, sb.arena.read(buf, min(count, MAX_IO)))


@handles("writev")
def sys_writev(sb, fd, iov, n, *_):
    f = _writable(sb, fd)
    parts, total = [], 0
    for base, length in _iovecs(sb, iov, n):  # copy at most MAX_IO bytes in all
        take = min(length, MAX_IO - total)
        parts.append(sb.arena.read(base, take))
        total += take
        if total >= MAX_IO:
            break
    return os.write(f.hostfd, b"".join(parts))


@handles("lseek")
def sys_lseek(sb, fd, offset, whence, *_):
    f = _file(sb, as_fd(fd))
    if f.kind == "stdio":
        return -errno.ESPIPE
    if f.kind == "vdir":
        f.pos = 0
        return 0
    if whence > 4:
        return -errno.EINVAL
    return os.lseek(f.hostfd, as_signed(offset), whence)


@handles("ioctl")
def sys_ioctl(sb, fd, *_):
    _file(sb, as_fd(fd))
    return -errno.ENOTTY


@handles("getdents64")
def sys_getdents64(sb, fd, buf, count, *_):
    f = _file(sb, as_fd(fd))
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
            rec = struct.pack("<QqHB", f.pos + 1, f.pos + 1, reclen, 4) + name
            out += rec.ljust(reclen, b"\0")
            f.pos += 1
        data = bytes(out)
    else:
        return -errno.ENOTDIR
    sb.arena.write(buf, data)
    return len(data)


# -- metadata ---------------------------------------------------------------

def _node_fd(sb, node: Node) -> int:
    """An O_PATH fd for node's metadata.  A synthetic directory (a parent of
    mount points only) is shown as the host's /."""
    if node.mount is None:
        return os.open("/", os.O_PATH | os.O_CLOEXEC)
    return sb.view.open(node, lib.O_PATH | lib.O_NOFOLLOW)


def _stat_node(sb, node: Node) -> bytes:
    fd = _node_fd(sb, node)
    try:
        return kernel.stat_bytes(fd)
    finally:
        os.close(fd)


def _stat_fd(sb, fd: int) -> bytes:
    f = _file(sb, fd)
    if f.kind == "stdio":
        if not f.stat:
            raise OSError(errno.EBADF, "no stat recorded")
        return f.stat
    if f.kind == "vdir":
        return _stat_node(sb, f.node)
    return kernel.stat_bytes(f.hostfd)


@handles("fstat")
def sys_fstat(sb, fd, buf, *_):
    sb.arena.write(buf, _stat_fd(sb, as_fd(fd)))
    return 0


@handles("newfstatat")
def sys_newfstatat(sb, dirfd, path, buf, flags, *_):
    dirfd, p = as_fd(dirfd), _path(sb, path)
    if not p and flags & AT_EMPTY_PATH:
        data = _stat_fd(sb, dirfd) if dirfd != AT_FDCWD else _stat_node(sb, _at(sb, dirfd, "", empty_ok=True))
    else:
        data = _stat_node(sb, _at(sb, dirfd, p, follow=not flags & AT_SYMLINK_NOFOLLOW))
    sb.arena.write(buf, data)
    return 0


@handles("stat")
def sys_stat(sb, path, buf, *_):
    return sys_newfstatat(sb, AT_FDCWD, path, buf, 0)


@handles("lstat")
def sys_lstat(sb, path, buf, *_):
    return sys_newfstatat(sb, AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW)


@handles("statx")
def sys_statx(sb, dirfd, path, flags, mask, buf, *_):
    dirfd, p = as_fd(dirfd), _path(sb, path)
    f = sb.fds.get(dirfd) if not p and flags & AT_EMPTY_PATH else None
    if f is not None and f.hostfd >= 0:
        data = kernel.statx_bytes(f.hostfd, mask & 0xFFFFFFFF)
    else:
        node = _at(sb, dirfd, p, follow=not flags & AT_SYMLINK_NOFOLLOW, empty_ok=bool(flags & AT_EMPTY_PATH))
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
    node = _at(sb, as_fd(dirfd), _path(sb, path), follow=not flags & AT_SYMLINK_NOFOLLOW)
    st = struct.unpack_from("<QQQIII", _stat_node(sb, node))
    st_mode = st[3]
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
    node = _at(sb, as_fd(dirfd), _path(sb, path), follow=False)
    target = sb.view._readlink(node)
    if target is None:
        return -errno.EINVAL
    data = os.fsencode(target)[: min(size, 4096)]
    sb.arena.write(buf, data)
    return len(data)


@handles("readlink")
def sys_readlink(sb, path, buf, size, *_):
    return sys_readlinkat(sb, AT_FDCWD, path, buf, size)


@handles("getcwd")
def sys_getcwd(sb, buf, size, *_):
    data = sb.cwd.encode() + b"\0"
    if len(data) > size:
        return -errno.ERANGE
    sb.arena.write(buf, data)
    return len(data)


def _enter(sb, node: Node) -> int:
    if node.mount is not None:
        fd = sb.view.open(node, lib.O_PATH | lib.O_DIRECTORY)
        os.close(fd)
    sb.cwd = node.vpath
    return 0


@handles("chdir")
def sys_chdir(sb, path, *_):
    return _enter(sb, _at(sb, AT_FDCWD, _path(sb, path)))


@handles("fchdir")
def sys_fchdir(sb, fd, *_):
    f = _file(sb, as_fd(fd))
    if f.kind not in ("dir", "vdir"):
        return -errno.ENOTDIR
    return _enter(sb, f.node)


@handles("clock_getres")
def sys_clock_getres(sb, clock, res, *_):
    if clock > 11 or clock == 10:
        return -errno.EINVAL
    if res:
        coarse = clock in (5, 6)
        sb.arena.write(res, struct.pack("<qq", 0, 4_000_000 if coarse else 1))
    return 0


# -- memory helpers the runtime forwards -------------------------------------

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
    f = _host_file(sb, fd)
    if offset & 0xFFF or as_signed(offset) < 0:
        return -errno.EINVAL
    if flags & MAP_TYPE != lib.MAP_PRIVATE and prot & lib.PROT_WRITE:
        sb.deny("mmap", "writable MAP_SHARED of a file cannot be kept in sync", errno.ENODEV)
        return -errno.ENODEV
    sb.arena.check(addr, length)
    remaining, pos = length, offset
    while remaining:
        data = os.pread(f.hostfd, min(remaining, MAX_IO), pos)
        if not data:
            break
        sb.arena.write(addr + (pos - offset), data)
        pos += len(data)
        remaining -= len(data)
    return addr


# -- process facts ------------------------------------------------------------

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
FD_CLOEXEC = 1
SETFL_MASK = lib.O_APPEND | lib.O_NONBLOCK


@handles("fcntl")
def sys_fcntl(sb, fd, cmd, arg, *_):
    f = _file(sb, as_fd(fd))
    cmd, arg = cmd & 0xFFFFFFFF, arg & 0xFFFFFFFF
    if cmd == F_GETFD:
        return FD_CLOEXEC if f.cloexec else 0
    if cmd == F_SETFD:
        f.cloexec = bool(arg & FD_CLOEXEC)
        return 0
    if cmd == F_GETFL:
        if f.kind == "stdio":
            return f.status
        if f.hostfd < 0:
            return lib.O_RDONLY | lib.O_DIRECTORY
        return fcntl.fcntl(f.hostfd, F_GETFL) & ~lib.O_CLOEXEC
    if cmd == F_SETFL:
        if f.kind == "stdio":
            f.status = (f.status & ~SETFL_MASK) | (arg & SETFL_MASK)
            return 0
        if f.hostfd >= 0:
            cur = fcntl.fcntl(f.hostfd, F_GETFL)
            fcntl.fcntl(f.hostfd, F_SETFL, (cur & ~SETFL_MASK) | (arg & SETFL_MASK))
        return 0
    sb.deny("fcntl", f"command {cmd} is not supported", errno.EINVAL)
    return -errno.EINVAL


RLIM_INFINITY = (1 << 64) - 1
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_AS = 0, 1, 2, 3, 7, 9


def _rlimits(sb) -> dict[int, tuple[int, int]]:
    cpu = RLIM_INFINITY if sb.limits.cpu is None else int(-(-sb.limits.cpu // 1))
    mem = sb.limits.memory
    return {RLIMIT_CPU: (cpu, cpu), RLIMIT_DATA: (mem, mem), RLIMIT_AS: (mem, mem),
            RLIMIT_STACK: (8 << 20, 8 << 20),
            RLIMIT_NOFILE: (sb.limits.open_files, sb.limits.open_files)}


@handles("prlimit64")
def sys_prlimit64(sb, pid, resource, new, old, *_):
    if pid not in (0, sb.identity.pid):
        return -errno.ESRCH
    if resource > 15:
        return -errno.EINVAL
    cur = sb.rlimits.get(resource) or _rlimits(sb).get(resource, (RLIM_INFINITY, RLIM_INFINITY))
    if new:
        soft, hard = struct.unpack("<QQ", sb.arena.read(new, 16))
        if soft > hard or hard > cur[1]:
            return -errno.EPERM  # limits only go down: they are ours to enforce
    if old:
        sb.arena.write(old, struct.pack("<QQ", *cur))
    if new:
        sb.rlimits[resource] = (soft, hard)
    return 0


@handles("getrlimit")
def sys_getrlimit(sb, resource, old, *_):
    return sys_prlimit64(sb, 0, resource, 0, old)


@handles("sysinfo")
def sys_sysinfo(sb, info, *_):
    """The sandbox's own view: its memory limit as total RAM, one process."""
    uptime = int(time.monotonic() - sb.started)
    mem = sb.limits.memory
    sb.arena.write(info, struct.pack("<q3Q6QHHxxxxQQI4x", uptime, 0, 0, 0, mem, mem, 0, 0, 0, 0,
                                     1, 0, 0, 0, 1))
    return 0


def time_now(sb) -> tuple[int, ...]:
    cpu_clock = ((~sb.pid) << 3) | 2  # the kernel's CPUCLOCK_SCHED for another process
    try:
        cpu = time.clock_gettime_ns(cpu_clock)
    except OSError:
        cpu = 0
    return (0, time.clock_gettime_ns(time.CLOCK_REALTIME), time.monotonic_ns(), cpu)


_missing = [c.name for c in TABLE if c.where == BROKER and c.name not in HANDLERS]
assert not _missing, f"BROKER rows without a handler: {_missing}"
_stray = [n for n in HANDLERS if n not in BY_NAME or BY_NAME[n].where == DENIED]
assert not _stray, f"handlers for calls the table does not route to the broker: {_stray}"
