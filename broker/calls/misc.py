"""Small facts ordinary programs ask for: process group and session, no
children to wait for, the ids (the sandbox's own, unchangeable), priority,
CPU affinity and yielding, file system statistics, fadvise, and extended
attributes (the sandbox sees none and may set none)."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct

from .._native import ffi, lib
from . import fdtable
from .metadata import _node_fd
from .paths import AT_FDCWD, read_path, resolve_at
from .registry import as_fd, as_signed, handles


# --- process group and session: the sandbox's process leads both -----------------


def _own(sb, pid: int) -> bool:
    pid = as_fd(pid)
    return pid in (0, sb.identity.pid)


@handles("getpgrp")
def sys_getpgrp(sb, *_):
    return sb.identity.pid


@handles("getpgid", "getsid")
def sys_getpgid(sb, pid, *_):
    return sb.identity.pid if _own(sb, pid) else -errno.ESRCH


# --- children: a sandbox is one process, so it never has any ----------------------


@handles("wait4", "waitid")
def sys_wait4(sb, *_):
    return -errno.ECHILD


# --- real, effective and saved ids: all the sandbox's own, never changed ----------------

UNCHANGED = 0xFFFFFFFF  # (uid_t)-1


def _same_ids(mine: int, *ids: int) -> int:
    return 0 if all(i & 0xFFFFFFFF in (UNCHANGED, mine) for i in ids) else -errno.EPERM


@handles("setreuid")
def sys_setreuid(sb, r, e, *_):
    return _same_ids(sb.identity.uid, r, e)


@handles("setresuid")
def sys_setresuid(sb, r, e, s, *_):
    return _same_ids(sb.identity.uid, r, e, s)


@handles("setregid")
def sys_setregid(sb, r, e, *_):
    return _same_ids(sb.identity.gid, r, e)


@handles("setresgid")
def sys_setresgid(sb, r, e, s, *_):
    return _same_ids(sb.identity.gid, r, e, s)


def _write_ids(sb, value: int, ptrs) -> int:
    for p in ptrs:
        sb.arena.write(p, struct.pack("<I", value))
    return 0


@handles("getresuid")
def sys_getresuid(sb, r, e, s, *_):
    return _write_ids(sb, sb.identity.uid, (r, e, s))


@handles("getresgid")
def sys_getresgid(sb, r, e, s, *_):
    return _write_ids(sb, sb.identity.gid, (r, e, s))


# --- scheduling ---------------------------------------------------------------------


def _nr_cpu_ids() -> int:
    """The kernel's nr_cpu_ids: one past the highest possible CPU."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            spec = f.read().strip()
        return max(int(part.split("-")[-1]) for part in spec.split(",")) + 1
    except (OSError, ValueError):
        return max(os.sched_getaffinity(0)) + 1


@handles("sched_getaffinity")
def sys_sched_getaffinity(sb, pid, size, mask, *_):
    """The CPUs the sandbox's host process may run on, laid out as the kernel
    does: the return value is the number of bytes of mask written."""
    if not _own(sb, pid):
        return -errno.ESRCH
    size &= 0xFFFFFFFF  # an unsigned int in the kernel
    nbits = _nr_cpu_ids()
    if size * 8 < nbits or size % 8:
        return -errno.EINVAL
    try:
        cpus = os.sched_getaffinity(sb.pid)
    except OSError:
        cpus = os.sched_getaffinity(0)
    n = min(size, (nbits + 63) // 64 * 8)
    bits = sum(1 << c for c in cpus if c < n * 8)
    sb.arena.write(mask, bits.to_bytes(n, "little"))
    return n


def _priority_target(sb, which: int, who: int) -> bool:
    """Whether (which, who) names the sandbox's process; EINVAL for a bad which."""
    which, who = as_fd(which), as_fd(who)
    if which not in (os.PRIO_PROCESS, os.PRIO_PGRP, os.PRIO_USER):
        raise OSError(errno.EINVAL, "bad which")
    own = sb.identity.uid if which == os.PRIO_USER else sb.identity.pid
    return who in (0, own)


@handles("getpriority")
def sys_getpriority(sb, which, who, *_):
    """The host process's real nice value, as the raw call gives it (20 - nice)."""
    if not _priority_target(sb, which, who):
        return -errno.ESRCH
    return 20 - os.getpriority(os.PRIO_PROCESS, sb.pid)


@handles("setpriority")
def sys_setpriority(sb, which, who, prio, *_):
    """Nice values only go up (lower priority), and really apply to the host process."""
    if not _priority_target(sb, which, who):
        return -errno.ESRCH
    prio = min(max(as_fd(prio), -20), 19)
    if prio < os.getpriority(os.PRIO_PROCESS, sb.pid):
        return -errno.EACCES
    os.setpriority(os.PRIO_PROCESS, sb.pid, prio)
    return 0


@handles("sched_yield")
def sys_sched_yield(sb, *_):
    return 0


# --- statfs -------------------------------------------------------------------------

STATFS_SIZE = ffi.sizeof("struct statfs")


def _statfs_host(fd: int, read_only: bool) -> bytes:
    buf = ffi.new("struct statfs *")
    if lib.fstatfs(fd, buf):
        e = ffi.errno
        raise OSError(e, os.strerror(e))
    if read_only:  # a read-only mount says so, as a read-only bind mount would
        buf.f_flags |= lib.ST_RDONLY
    return bytes(ffi.buffer(buf))


def _statfs_made_up(vparts: tuple[str, ...]) -> bytes:
    """Files the broker makes up (/proc/self, /dev, /etc/passwd...): a
    read-only procfs or tmpfs with nothing in it, never a host number."""
    buf = ffi.new("struct statfs *")
    buf.f_type = lib.PROC_SUPER_MAGIC if vparts[:1] == ("proc",) else lib.TMPFS_MAGIC
    buf.f_bsize = buf.f_frsize = 4096
    buf.f_namelen = 255
    buf.f_flags = lib.ST_RDONLY | lib.ST_NOSUID | lib.ST_NODEV
    return bytes(ffi.buffer(buf))


def _statfs_node(sb, node) -> bytes:
    if node.virtual is not None:
        return _statfs_made_up(node.vparts)
    fd = _node_fd(sb, node)  # synthetic directories: the host's /, as stat shows them
    try:
        return _statfs_host(fd, node.mount is None or not node.mount.writable)
    finally:
        os.close(fd)


@handles("statfs")
def sys_statfs(sb, path, buf, *_):
    data = _statfs_node(sb, resolve_at(sb, AT_FDCWD, read_path(sb, path)))
    sb.arena.write(buf, data)
    return 0


@handles("fstatfs")
def sys_fstatfs(sb, fd, buf, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.hostfd >= 0:
        data = _statfs_host(f.hostfd, f.node is not None and
                            (f.node.mount is None or not f.node.mount.writable))
    elif f.node is not None:
        data = _statfs_node(sb, f.node)
    else:
        data = _statfs_made_up(())
    sb.arena.write(buf, data)
    return 0


# --- fadvise: advice only, checked and dropped (never touches the host's cache) ---

POSIX_FADV_NOREUSE = os.POSIX_FADV_NOREUSE  # the highest advice value


@handles("fadvise64")
def sys_fadvise64(sb, fd, offset, length, advice, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.kind == "pipe":
        return -errno.ESPIPE
    if f.kind == "stdio" and f.hostfd >= 0 and stat_mod.S_ISFIFO(os.fstat(f.hostfd).st_mode):
        return -errno.ESPIPE
    if as_signed(length) < 0 or not 0 <= as_fd(advice) <= POSIX_FADV_NOREUSE:
        return -errno.EINVAL
    return 0


# --- extended attributes: none are shown, none can be set ---------------------------

XATTR_PREFIXES = (b"user.", b"trusted.", b"security.", b"system.")


def _xattr_name(sb, addr: int) -> bytes:
    """The attribute name, checked as the kernel does: ERANGE when empty or
    too long, EOPNOTSUPP outside the known namespaces."""
    name = sb.arena.read_cstr(addr, lib.XATTR_NAME_MAX + 2)  # ENAMETOOLONG past that
    if not name or len(name) > lib.XATTR_NAME_MAX:
        raise OSError(errno.ERANGE, "bad attribute name")
    if not name.startswith(XATTR_PREFIXES):
        raise OSError(errno.EOPNOTSUPP, "unknown attribute namespace")
    return name


def _xattr_target(sb, path_or_fd: int, how: str):
    """The node an *xattr call names: by path (following the last link or
    not) or by fd."""
    if how == "f":
        f = fdtable.get(sb, as_fd(path_or_fd))
        return f.node
    node = resolve_at(sb, AT_FDCWD, read_path(sb, path_or_fd), follow=how == "")
    if node.virtual is None:  # the view resolves names that do not exist yet: check
        os.close(_node_fd(sb, node))
    return node


def _get(how):
    def handler(sb, target, name, value, size, *_):
        try:
            _xattr_name(sb, name)
        except OSError as e:
            if e.errno == errno.ENAMETOOLONG:
                return -errno.ERANGE
            raise
        _xattr_target(sb, target, how)
        return -errno.ENODATA
    return handler


def _list(how):
    def handler(sb, target, lst, size, *_):
        _xattr_target(sb, target, how)
        return 0  # an empty list
    return handler


def _refuse(node) -> int:
    if node is None or node.virtual is not None:
        return -errno.EPERM
    if node.mount is None or not node.mount.writable:
        return -errno.EROFS
    return -errno.EOPNOTSUPP


def _set(how):
    def handler(sb, target, name, value, size, flags, *_):
        node = _xattr_target(sb, target, how)
        if as_signed(size) > lib.XATTR_SIZE_MAX:
            return -errno.E2BIG
        _xattr_name(sb, name)
        return _refuse(node)
    return handler


def _remove(how):
    def handler(sb, target, name, *_):
        node = _xattr_target(sb, target, how)
        _xattr_name(sb, name)
        return _refuse(node)
    return handler


for _how in ("", "l", "f"):
    handles(f"{_how}getxattr")(_get(_how))
    handles(f"{_how}listxattr")(_list(_how))
    handles(f"{_how}setxattr")(_set(_how))
    handles(f"{_how}removexattr")(_remove(_how))
