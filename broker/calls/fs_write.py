"""Write-side file calls: data, names and metadata, in writable mounts only.

A call that makes, removes or renames a name works on (parent directory,
final name): the parent is resolved in the virtual view (symlinks followed
inside it), opened from its mount's directory fd with openat2(RESOLVE_BENEATH
| RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), and the host call gets that
fd and one component, which it never follows.  A call that changes an
existing file (chmod, utimensat, truncate) resolves it fully in the view and
acts on an O_PATH | O_NOFOLLOW fd of it.  Read-only mounts and synthetic
directories answer EROFS, names in two different mounts EXDEV, and a name
that is a mount point or lies on the way to one cannot be removed, replaced
or renamed (that could move another mount's host directory into reach).

Symlinks the program creates are stored as given: strictbox resolves them in
the view, never on the host.  Host programs that later follow them in a
writable directory are on their own, as with any untrusted file."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct
from contextlib import contextmanager

from .. import arena, kernel
from ..fsview import O_PATH, STRICT, Mount, Node
from .._native import ffi, lib
from . import disk, fdtable, files
from .paths import read_path, resolve_at
from .registry import as_fd, as_signed, handles

AT_FDCWD = lib.AT_FDCWD
AT_EMPTY_PATH = lib.AT_EMPTY_PATH
AT_SYMLINK_NOFOLLOW = lib.AT_SYMLINK_NOFOLLOW
AT_SYMLINK_FOLLOW = lib.AT_SYMLINK_FOLLOW
AT_REMOVEDIR = lib.AT_REMOVEDIR
PERM_BITS = 0o777 | lib.S_ISVTX  # what chmod may set: never setuid or setgid
RENAME_FLAGS = lib.RENAME_NOREPLACE | lib.RENAME_EXCHANGE | lib.RENAME_WHITEOUT
FALLOC_MODES = (lib.FALLOC_FL_KEEP_SIZE | lib.FALLOC_FL_PUNCH_HOLE | lib.FALLOC_FL_ZERO_RANGE
                | lib.FALLOC_FL_COLLAPSE_RANGE | lib.FALLOC_FL_INSERT_RANGE
                | lib.FALLOC_FL_UNSHARE_RANGE)
NSEC = 1_000_000_000

def _check(r: int) -> None:
    if r < 0:
        raise OSError(-r, os.strerror(-r))


# -- where a call acts ---------------------------------------------------------

def _writable(mount: Mount | None) -> Mount:
    if mount is None or not mount.writable:
        raise OSError(errno.EROFS, "read-only file system")
    return mount


def _locate(sb, dirfd: int, path: str, busy: int, dots: tuple[int, int]) -> tuple[Node, str, bool]:
    """(parent directory, final name, had a trailing slash) of path; the final
    name is not followed.  busy: the errno for a mount point (or a name on
    the way to one); dots: the errnos for a final '.' and '..'."""
    if not path:
        raise OSError(errno.ENOENT, "empty path")
    stripped = path.rstrip("/")
    if not stripped:
        raise OSError(busy, "the root directory")
    head, sep, name = stripped.rpartition("/")
    if name in (".", ".."):  # (after the name before it, which Linux looks up first;
        # a working directory or dirfd is there even once removed)
        if sep and sb.view.missing(resolve_at(sb, dirfd, (head or "/") + "/")):
            raise OSError(errno.ENOENT, "no such directory")
        raise OSError(dots[name == ".."], "not a name")
    parent = resolve_at(sb, dirfd, (head or "/") if sep else ".")
    if parent.mount is None:
        raise OSError(errno.EROFS, "read-only file system")
    if parent.mount.name:  # a file mount is not a directory
        raise OSError(errno.ENOTDIR, "not a directory")
    child = parent.vparts + (name,)
    if any(m is not parent.mount and m.vparts[: len(child)] == child for m in sb.view.mounts):
        raise OSError(busy, "a mount point")
    if sb.view._node(child).virtual is not None:  # a made-up /dev, /proc or /etc over a / mount
        raise OSError(busy, "made up by the broker")
    return parent, name, stripped != path


@contextmanager
def _dir_fd(node: Node):
    """An O_PATH fd of a resolved directory, opened beneath its mount."""
    fd = kernel.openat2(node.mount.dirfd, node.rel, O_PATH | os.O_DIRECTORY, resolve=STRICT)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _existing(sb, node: Node):
    """An O_PATH fd of the resolved node itself (a symlink is not followed),
    which must exist (ENOENT) in a writable mount (EROFS)."""
    if node.mount is None:
        raise OSError(errno.EROFS, "read-only file system")
    fd = sb.view.open(node, O_PATH | os.O_NOFOLLOW)
    try:
        _writable(node.mount)
        yield fd
    finally:
        os.close(fd)


def _via_proc(fd: int) -> str:
    """A path to the broker's own fd: the host follows this magic link to
    exactly that inode, which has already been checked."""
    return f"/proc/self/fd/{fd}"


def _not_symlink(fd: int, code: int) -> os.stat_result:
    # The view resolved the symlinks; one here means the name changed under us.
    st = os.fstat(fd)
    if stat_mod.S_ISLNK(st.st_mode):
        raise OSError(code, "a symbolic link")
    return st


def _must_be_dir(pfd: int, name: str) -> None:
    """`name/`: like the kernel, a trailing slash needs a directory."""
    if not stat_mod.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
        raise OSError(errno.ENOTDIR, "not a directory")


def _new_name_with_slash(pfd: int, name: str) -> None:
    """symlink/link to `name/`: the kernel only makes directories that way."""
    try:
        os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, "no such directory") from None
    raise OSError(errno.EEXIST, "exists")


def _fd_in_writable_mount(sb, call: str, fd: int) -> fdtable.OpenFile:
    """An open file or directory whose metadata the program may change."""
    f = fdtable.get(sb, fd)
    if f.kind in ("stdio", "pipe"):  # the host's fds, or the broker's pipes
        sb.deny(call, f"{f.kind} fds are not the sandbox's files", errno.EPERM)
        raise OSError(errno.EPERM, "not permitted")
    _writable(f.node.mount if f.node is not None else None)
    return f


def _perm(sb, call: str, mode: int) -> int:
    mode &= 0o7777
    if mode & (lib.S_ISUID | lib.S_ISGID):
        sb.log.append(f"{call}: setuid/setgid bits dropped from mode {mode:#o}")
    return mode & PERM_BITS


# -- data ----------------------------------------------------------------------

@handles("pwrite64")
def sys_pwrite64(sb, fd, buf, count, offset, *_):
    f = fdtable.writable_file(sb, fd)
    if as_signed(offset) < 0:
        return -errno.EINVAL
    return fdtable.limited_write(sb, f, offset, min(count, files.MAX_IO),
                                 lambda n: os.pwrite(f.hostfd, sb.arena.read(buf, n), offset))


@handles("ftruncate")
def sys_ftruncate(sb, fd, length, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.kind != "file" or not f.writable:  # the kernel's answer for both
        return -errno.EINVAL
    size = os.fstat(f.hostfd).st_size
    fdtable.room_to(sb, as_signed(length), size)
    os.ftruncate(f.hostfd, as_signed(length))
    disk.charge(sb, as_signed(length) - size)
    return 0


@handles("truncate")
def sys_truncate(sb, path, length, *_):
    node = resolve_at(sb, AT_FDCWD, read_path(sb, path))
    if as_signed(length) < 0:
        return -errno.EINVAL
    fdtable.room_to(sb, length)
    with _existing(sb, node) as fd:
        st = _not_symlink(fd, errno.ELOOP)
        if arena.pinned_file(st):
            raise OSError(errno.ETXTBSY, "a sandbox runs this file")
        size = st.st_size
        fdtable.room_to(sb, length, size)
        os.truncate(_via_proc(fd), length)
        disk.charge(sb, length - size)
    return 0


@handles("fallocate")
def sys_fallocate(sb, fd, mode, offset, length, *_):
    mode &= 0xFFFFFFFF
    if mode & ~FALLOC_MODES:
        return -errno.EOPNOTSUPP
    f = fdtable.writable_file(sb, fd)
    offset, length = as_signed(offset), as_signed(length)
    if not mode & lib.FALLOC_FL_KEEP_SIZE:
        fdtable.room_to(sb, offset + length)
    # The disk limit: what is allocated past the end, KEEP_SIZE or not; an
    # inserted range; nothing for a punched hole or a collapsed range.
    grow = 0
    if disk.limit(sb) is not None and offset >= 0 and length > 0:
        size = os.fstat(f.hostfd).st_size
        if mode & lib.FALLOC_FL_INSERT_RANGE:
            grow = length
        elif not mode & (lib.FALLOC_FL_PUNCH_HOLE | lib.FALLOC_FL_COLLAPSE_RANGE):
            grow = max(0, offset + length - size)
        disk.need(sb, grow)
    if lib.fallocate(f.hostfd, mode, offset, length):
        return -ffi.errno
    disk.charge(sb, grow)
    return 0


@handles("fsync")
def sys_fsync(sb, fd, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.hostfd < 0:
        return -errno.EINVAL
    os.fsync(f.hostfd)
    return 0


@handles("fdatasync")
def sys_fdatasync(sb, fd, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.hostfd < 0:
        return -errno.EINVAL
    os.fdatasync(f.hostfd)
    return 0


@handles("creat")
def sys_creat(sb, path, mode, *_):
    return files.sys_openat(sb, AT_FDCWD, path, lib.O_CREAT | lib.O_WRONLY | lib.O_TRUNC, mode)


@handles("umask")
def sys_umask(sb, mask, *_):
    old, sb.umask = sb.umask, mask & 0o777
    return old


# -- names -----------------------------------------------------------------------

@handles("unlinkat")
def sys_unlinkat(sb, dirfd, path, flags, *_):
    flags &= 0xFFFFFFFF
    if flags & ~AT_REMOVEDIR:
        return -errno.EINVAL
    rmdir = bool(flags & AT_REMOVEDIR)
    dots = (errno.EINVAL, errno.ENOTEMPTY) if rmdir else (errno.EISDIR, errno.EISDIR)
    parent, name, slash = _locate(sb, as_fd(dirfd), read_path(sb, path), errno.EBUSY, dots)
    _writable(parent.mount)
    with _dir_fd(parent) as pfd:
        if rmdir:
            os.rmdir(name, dir_fd=pfd)
        else:
            if slash:
                _must_be_dir(pfd, name)
            gone = disk.about_to_remove(sb, pfd, name)
            os.unlink(name, dir_fd=pfd)
            disk.removed(sb, gone)
    return 0


@handles("unlink")
def sys_unlink(sb, path, *_):
    return sys_unlinkat(sb, AT_FDCWD, path, 0)


@handles("rmdir")
def sys_rmdir(sb, path, *_):
    return sys_unlinkat(sb, AT_FDCWD, path, AT_REMOVEDIR)


@handles("mkdirat")
def sys_mkdirat(sb, dirfd, path, mode, *_):
    parent, name, _ = _locate(sb, as_fd(dirfd), read_path(sb, path), errno.EEXIST,
                              (errno.EEXIST, errno.EEXIST))
    _writable(parent.mount)
    with _dir_fd(parent) as pfd:
        with kernel.no_umask():
            os.mkdir(name, mode & PERM_BITS & ~sb.umask, dir_fd=pfd)
    return 0


@handles("mkdir")
def sys_mkdir(sb, path, mode, *_):
    return sys_mkdirat(sb, AT_FDCWD, path, mode)


@handles("symlinkat")
def sys_symlinkat(sb, target, newdirfd, linkpath, *_):
    content = read_path(sb, target)
    if not content:
        return -errno.ENOENT
    parent, name, slash = _locate(sb, as_fd(newdirfd), read_path(sb, linkpath), errno.EEXIST,
                                  (errno.EEXIST, errno.EEXIST))
    _writable(parent.mount)
    with _dir_fd(parent) as pfd:
        if slash:
            _new_name_with_slash(pfd, name)
        os.symlink(content, name, dir_fd=pfd)
    return 0


@handles("symlink")
def sys_symlink(sb, target, linkpath, *_):
    return sys_symlinkat(sb, target, AT_FDCWD, linkpath)


@handles("renameat2")
def sys_renameat2(sb, olddirfd, oldpath, newdirfd, newpath, flags, *_):
    flags &= 0xFFFFFFFF
    if flags & ~RENAME_FLAGS:
        return -errno.EINVAL
    old, new = read_path(sb, oldpath), read_path(sb, newpath)
    if flags & lib.RENAME_WHITEOUT:  # makes a character device: overlayfs's business
        sb.deny("renameat2", "RENAME_WHITEOUT", errno.EPERM)
        return -errno.EPERM
    dots = (errno.EBUSY, errno.EBUSY)
    src, sname, sslash = _locate(sb, as_fd(olddirfd), old, errno.EBUSY, dots)
    dst, dname, dslash = _locate(sb, as_fd(newdirfd), new, errno.EBUSY, dots)
    if src.mount is not dst.mount:  # even when both lie on one host file system
        return -errno.EXDEV
    _writable(src.mount)
    with _dir_fd(src) as sfd, _dir_fd(dst) as dfd:
        if sslash or dslash:
            _must_be_dir(sfd, sname)
        gone = None if flags else disk.about_to_remove(sb, dfd, dname)
        if gone is not None:  # renaming a name onto another of the same file removes nothing
            moved = disk.about_to_remove(sb, sfd, sname)
            if moved is not None and (moved.st_dev, moved.st_ino) == (gone.st_dev, gone.st_ino):
                gone = None
        if flags:
            _check(lib.sb_renameat2(sfd, os.fsencode(sname), dfd, os.fsencode(dname), flags))
        else:
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
        disk.removed(sb, gone)
    return 0


@handles("renameat")
def sys_renameat(sb, olddirfd, oldpath, newdirfd, newpath, *_):
    return sys_renameat2(sb, olddirfd, oldpath, newdirfd, newpath, 0)


@handles("rename")
def sys_rename(sb, oldpath, newpath, *_):
    return sys_renameat2(sb, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@handles("linkat")
def sys_linkat(sb, olddirfd, oldpath, newdirfd, newpath, flags, *_):
    """A hard link is a second name for the same inode, with the same access:
    a file from a read-only mount linked into a writable one would become
    writable through the new name, even though its mount said read-only.  So
    both names must lie in one virtual mount (EXDEV otherwise, whatever the
    host file systems are), and that mount must be writable.  The legitimate
    use of AT_EMPTY_PATH is naming an O_TMPFILE file, whose fd remembers the
    directory (and so the mount) it was made in."""
    flags &= 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    olddirfd, old, new = as_fd(olddirfd), read_path(sb, oldpath), read_path(sb, newpath)
    dst, dname, dslash = _locate(sb, as_fd(newdirfd), new, errno.EEXIST,
                                 (errno.EEXIST, errno.EEXIST))
    if not old and flags & AT_EMPTY_PATH:
        f = fdtable.get(sb, olddirfd) if olddirfd != AT_FDCWD else None
        if f is None or f.kind in ("dir", "vdir"):
            return -errno.EPERM  # the kernel's answer for directories
        if f.kind != "file" or f.node is None or f.node.mount is not dst.mount:
            return -errno.EXDEV
        _writable(dst.mount)
        if not stat_mod.S_ISREG(os.fstat(f.hostfd).st_mode):
            return -errno.EPERM  # only regular files: nothing for the host to follow
        with _dir_fd(dst) as dfd:
            if dslash:
                _new_name_with_slash(dfd, dname)
            # The kernel links the inode behind the magic link (an O_TMPFILE
            # made without O_EXCL included) and, unlike AT_EMPTY_PATH, needs
            # no CAP_DAC_READ_SEARCH.
            os.link(_via_proc(f.hostfd), dname, dst_dir_fd=dfd, follow_symlinks=True)
        return 0
    if flags & AT_SYMLINK_FOLLOW:  # follow in the view, then link what it names
        node = resolve_at(sb, olddirfd, old)
        if node.mount is None:
            return -errno.EXDEV if node.virtual is not None else -errno.EPERM
        if node.rel == ".":
            return -errno.EPERM  # a directory
        prel, _, sname = node.rel.rpartition("/")
        src, sslash = Node(node.vparts[:-1], node.mount, prel or "."), False
    else:
        src, sname, sslash = _locate(sb, olddirfd, old, errno.EXDEV, (errno.EPERM, errno.EPERM))
    if src.mount is not dst.mount:
        return -errno.EXDEV
    _writable(dst.mount)
    with _dir_fd(src) as sfd, _dir_fd(dst) as dfd:
        if sslash:
            _must_be_dir(sfd, sname)  # and then the kernel refuses the directory
        if dslash:
            _new_name_with_slash(dfd, dname)
        # Never followed on the host: after a race we link a symlink itself.
        os.link(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
    return 0


@handles("link")
def sys_link(sb, oldpath, newpath, *_):
    return sys_linkat(sb, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


# -- metadata ----------------------------------------------------------------------

def _chmod_node(sb, node: Node, mode: int) -> int:
    with _existing(sb, node) as fd:
        _not_symlink(fd, errno.EOPNOTSUPP)  # Linux has no modes on symlinks
        os.chmod(_via_proc(fd), _perm(sb, "chmod", mode))
    return 0


@handles("fchmodat")
def sys_fchmodat(sb, dirfd, path, mode, *_):
    return _chmod_node(sb, resolve_at(sb, as_fd(dirfd), read_path(sb, path)), mode)


@handles("chmod")
def sys_chmod(sb, path, mode, *_):
    return sys_fchmodat(sb, AT_FDCWD, path, mode)


@handles("fchmod")
def sys_fchmod(sb, fd, mode, *_):
    f = _fd_in_writable_mount(sb, "fchmod", as_fd(fd))
    if f.hostfd < 0:
        return -errno.EROFS
    os.fchmod(f.hostfd, _perm(sb, "fchmod", mode))  # an O_PATH fd: EBADF, as on Linux
    return 0


def _times(times: bytes | None):
    return ffi.NULL if times is None else times


def _utimens_fd(sb, fd: int, times: bytes | None) -> int:
    if fd == AT_FDCWD:
        return -errno.EFAULT
    f = _fd_in_writable_mount(sb, "utimensat", fd)
    if f.hostfd < 0:
        return -errno.EROFS
    _check(lib.sb_utimensat(f.hostfd, ffi.NULL, _times(times), 0))
    return 0


def _utimens(sb, dirfd: int, path: int, times: bytes | None, flags: int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    if path == 0:  # futimens(fd, ...) passes a NULL path
        return _utimens_fd(sb, dirfd, times)
    p = read_path(sb, path)
    if not p and flags & AT_EMPTY_PATH and dirfd != AT_FDCWD:
        return _utimens_fd(sb, dirfd, times)
    node = resolve_at(sb, dirfd, p, follow=not flags & AT_SYMLINK_NOFOLLOW,
                      empty_ok=bool(flags & AT_EMPTY_PATH))
    with _existing(sb, node) as fd:  # a symlink here (NOFOLLOW, or a race) gets its own times
        _check(lib.sb_utimensat(fd, b"", _times(times), AT_EMPTY_PATH))
    return 0


@handles("utimensat")
def sys_utimensat(sb, dirfd, path, times, flags, *_):
    ts = sb.arena.read(times, 32) if times else None  # two struct timespec; the kernel checks them
    return _utimens(sb, as_fd(dirfd), path, ts, flags & 0xFFFFFFFF)


def _from_timevals(sb, tv: int) -> bytes | None:
    if not tv:
        return None
    a_sec, a_usec, m_sec, m_usec = struct.unpack("<qqqq", sb.arena.read(tv, 32))
    if not (0 <= a_usec < 1_000_000 and 0 <= m_usec < 1_000_000):
        raise OSError(errno.EINVAL, "bad microseconds")
    return struct.pack("<qqqq", a_sec, a_usec * 1000, m_sec, m_usec * 1000)


@handles("futimesat")
def sys_futimesat(sb, dirfd, path, tv, *_):
    return _utimens(sb, as_fd(dirfd), path, _from_timevals(sb, tv), 0)


@handles("utimes")
def sys_utimes(sb, path, tv, *_):
    if not path:
        return -errno.EFAULT
    return _utimens(sb, AT_FDCWD, path, _from_timevals(sb, tv), 0)


@handles("utime")
def sys_utime(sb, path, buf, *_):
    if not path:
        return -errno.EFAULT
    ts = None
    if buf:
        actime, modtime = struct.unpack("<qq", sb.arena.read(buf, 16))
        ts = struct.pack("<qqqq", actime, 0, modtime, 0)
    return _utimens(sb, AT_FDCWD, path, ts, 0)


def _refuse_chown(sb, call: str, node: Node | None, uid: int = 0, gid: int = 0) -> int:
    if node is not None:  # a missing file or a read-only mount says so first, like Linux
        with _existing(sb, node):
            pass
    if uid & 0xFFFFFFFF == 0xFFFFFFFF and gid & 0xFFFFFFFF == 0xFFFFFFFF:
        return 0  # chown(-1, -1) changes nothing: the kernel allows it
    sb.deny(call, "the sandbox cannot change owners", errno.EPERM)
    return -errno.EPERM


@handles("fchownat")
def sys_fchownat(sb, dirfd, path, uid, gid, flags, *_):
    flags &= 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    dirfd, p = as_fd(dirfd), read_path(sb, path)
    if not p and flags & AT_EMPTY_PATH and dirfd != AT_FDCWD:
        return sys_fchown(sb, dirfd, uid, gid)
    node = resolve_at(sb, dirfd, p, follow=not flags & AT_SYMLINK_NOFOLLOW,
                      empty_ok=bool(flags & AT_EMPTY_PATH))
    return _refuse_chown(sb, "fchownat", node, uid, gid)


@handles("chown")
def sys_chown(sb, path, uid, gid, *_):
    return _refuse_chown(sb, "chown", resolve_at(sb, AT_FDCWD, read_path(sb, path)), uid, gid)


@handles("lchown")
def sys_lchown(sb, path, uid, gid, *_):
    return _refuse_chown(sb, "lchown", resolve_at(sb, AT_FDCWD, read_path(sb, path), follow=False),
                         uid, gid)


@handles("fchown")
def sys_fchown(sb, fd, uid, gid, *_):
    f = fdtable.get(sb, as_fd(fd))
    if f.node is not None:
        _writable(f.node.mount)
    return _refuse_chown(sb, "fchown", None, uid, gid)
