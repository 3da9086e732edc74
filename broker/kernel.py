"""Kernel facts for the broker, all read from the headers through cffi."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import struct

from ._native import ffi, lib

SYSCALL_NR: dict[str, int] = {
    n[len("__NR_"):]: getattr(lib, n) for n in dir(lib) if n.startswith("__NR_")
}
SYSCALL_NAME: dict[int, str] = {nr: name for name, nr in SYSCALL_NR.items()}

RESOLVE = lib.RESOLVE_BENEATH | lib.RESOLVE_NO_MAGICLINKS


def const(name: str) -> int:
    """A constant by its header name (O_RDONLY, AT_FDCWD, ...)."""
    return getattr(lib, name)


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = RESOLVE) -> int:
    """openat2 confined by `resolve`; raises OSError with the kernel's errno."""
    r = lib.sb_openat2(dirfd, os.fsencode(path), flags | os.O_CLOEXEC, mode, resolve)
    if r < 0:
        raise OSError(-r, os.strerror(-r), path)
    return r


def pidfd_exit_status(pidfd: int) -> int | None:
    """How the task behind pidfd ended (a wait status), or None if unknown."""
    status = lib.sb_pidfd_exit_status(pidfd)
    return None if status < 0 else status


def pidfd_pid(fd: int) -> int | None:
    """The id of the task behind a pidfd (-1: it has ended), from its
    fdinfo; None if fd is no pidfd."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            info = f.read(4096)
    except OSError:
        return None
    for line in info.splitlines():
        if line.startswith(b"Pid:"):
            try:
                return int(line[4:])
            except ValueError:
                return None
    return None


def stat_bytes(fd: int, path: str = "", flags: int = 0) -> bytes:
    """struct stat exactly as the kernel lays it out (fstatat)."""
    buf = ffi.new("struct stat *")
    if lib.fstatat(fd, os.fsencode(path), buf, flags | (lib.AT_EMPTY_PATH if not path else 0)):
        e = ffi.errno
        raise OSError(e, os.strerror(e))
    return bytes(ffi.buffer(buf))


def statx_bytes(fd: int, mask: int) -> bytes:
    buf = ffi.new("struct statx *")
    if lib.statx(fd, b"", lib.AT_EMPTY_PATH, mask, buf):
        e = ffi.errno
        raise OSError(e, os.strerror(e))
    return bytes(ffi.buffer(buf))


def getdents64(fd: int, n: int) -> bytes:
    buf = ffi.new("char[]", n)
    r = lib.sb_getdents64(fd, buf, n)
    if r < 0:
        raise OSError(-r, os.strerror(-r))
    return bytes(ffi.buffer(buf, r))


def punch_hole(fd: int, offset: int, length: int) -> None:
    mode = lib.FALLOC_FL_PUNCH_HOLE | lib.FALLOC_FL_KEEP_SIZE
    if lib.fallocate(fd, mode, offset, length):
        e = ffi.errno
        raise OSError(e, os.strerror(e))


@contextlib.contextmanager
def no_umask():
    """Creates files with exactly the mode asked for: the sandbox's own umask
    is already applied, the broker's must not be applied again.  (The umask
    is per process; the broker's loop is the only thread that creates.)"""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def errno_value(name: str) -> int:
    value = getattr(errno, name, None)
    if not isinstance(value, int):
        raise ValueError(f"unknown errno name {name!r}")
    return value


@functools.cache  # (the kernel and the CPU stay what they are while we run)
def host_problem() -> str | None:
    """Why this machine cannot run sandboxes, or None."""
    if os.uname().machine != "x86_64":
        return "strictbox needs x86_64"
    release = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    if release < (6, 9):
        return (f"strictbox needs thread pidfds (PIDFD_THREAD, Linux >= 6.9); "
                f"this kernel is {os.uname().release}")
    with open("/proc/self/auxv", "rb") as f:
        raw = f.read()
    auxv = dict(struct.iter_unpack("<QQ", raw))
    if not auxv.get(lib.AT_HWCAP2, 0) & 2:  # HWCAP2_FSGSBASE
        return "strictbox needs FSGSBASE (a CPU and kernel that allow wrfsbase in user space)"
    return None
