"""Files the broker makes up: a small /dev, the sandbox's own /proc/<pid>,
and an /etc with passwd and group.  None is backed by a host file; every
byte is made from the Sandbox (its identity, argv, fd table...).

    /dev     null zero random urandom (read and write like Linux), tty (open:
             ENXIO, the sandbox never has a controlling terminal), stdin
             stdout stderr -> /proc/self/fd/0..2, fd -> /proc/self/fd
    /proc    self -> <pid>; <pid>/ exe cwd cmdline comm environ status fd/
             (nothing else: /proc/1, /proc/sys... are ENOENT)
    /etc     passwd, group: root and the sandbox user; ld.so.cache, the host's,
             when every library it names lies in a read-only mount that
             shows the host's own directory (else ld.so searches, as before)

The three trees behave like mounts at /dev, /proc and /etc: the longest
mount point wins.  So a user mount at /etc (or /etc/passwd, or /dev/shm)
replaces that part, while a mount of the host's / leaves the made-up trees
in front of the host's real /dev, /proc and /etc.

Opening /proc/self/fd/N duplicates fd N when it is a pipe or inherited stdio
(Linux reopens it; for pipes and terminals that is the same file), and opens
the file's path otherwise.  File contents are a snapshot taken at open."""

from __future__ import annotations

import errno
import functools
import os
import stat as st
import struct
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple

from . import kernel
from ._native import ffi, lib
from .arena import BASE
from .calls import fdtable
from .calls.fdtable import OpenFile
from .fsview import Node

USER = "sandbox"  # the sandbox user's name in /etc/passwd and /etc/group
VDEV = 0  # st_dev of made-up files: no real device
# Linux's fixed character devices (Documentation/admin-guide/devices.txt).
DEVICES = {"null": (lib.MEM_MAJOR, 3), "zero": (lib.MEM_MAJOR, 5),
           "random": (lib.MEM_MAJOR, 8), "urandom": (lib.MEM_MAJOR, 9),
           "tty": (lib.TTYAUX_MAJOR, 0)}
STD = ("stdin", "stdout", "stderr")
FD_HOST = BASE + ffi.offsetof("struct sb_state", "fd_host")


@dataclass
class VNode:
    kind: str  # "dir", "link", "data", "dev", or "open" (the pipe or stdio a fd link names)
    mode: int  # st_mode, type included
    uid: int = 0
    gid: int = 0
    target: str | None = None  # link: what readlink says
    follow: str | None = None  # link: where resolution goes on; None for a pipe or stdio fd
    make: Callable[[], bytes] | None = None  # data: the contents
    sized: bool = False  # data: st_size is the contents' length (/proc files say 0, like Linux)
    device: str = ""  # dev: a DEVICES key
    file: OpenFile | None = None  # link to, or "open" of, a pipe or stdio fd

    @property
    def dtype(self) -> int:
        return {st.S_IFDIR: lib.DT_DIR, st.S_IFLNK: lib.DT_LNK,
                st.S_IFCHR: lib.DT_CHR}.get(st.S_IFMT(self.mode), lib.DT_REG)


def _dir(mode=0o755, uid=0, gid=0) -> VNode:
    return VNode("dir", st.S_IFDIR | mode, uid, gid)


def _link(target: str, mode=0o777, uid=0, gid=0) -> VNode:
    return VNode("link", st.S_IFLNK | mode, uid, gid, target=target, follow=target)


FIXED_DIRS = (("dev",), ("etc",), ("proc",))


class Files:
    """The made-up files of one sandbox; View consults it for /dev, /proc, /etc."""

    roots = ("dev", "etc", "proc")

    def __init__(self, sb):
        self.sb = sb
        self.time = time.time()  # every made-up file's timestamps
        self._inos: dict[tuple[str, ...], int] = {}
        self._ldcache: bytes | None | bool = False  # False: not decided yet
        self._fixed: dict[tuple[str, ...], dict[str, VNode]] = {}  # /dev, /etc, /proc: made once

    # -- the tree ------------------------------------------------------------

    def lookup(self, parts: tuple[str, ...]) -> VNode | None:
        """The node at parts (parts[0] in roots), or None if there is none."""
        node = self._top(parts[0])
        for i in range(1, len(parts)):
            if node.kind != "dir":
                raise OSError(errno.ENOTDIR, "not a directory", "/" + "/".join(parts))
            node = self._children(parts[:i]).get(parts[i])
            if node is None:
                return None
        return node

    def children(self, parts: tuple[str, ...]) -> list[str]:
        """Names of the made-up entries of directory parts (none if it is not one)."""
        if not parts:
            return list(self.roots)
        if parts[0] not in self.roots:
            return []
        try:
            node = self.lookup(parts)
        except OSError:
            return []
        return list(self._children(parts)) if node is not None and node.kind == "dir" else []

    def dtypes(self, parts: tuple[str, ...]) -> dict[str, int]:
        if parts and parts[0] in self.roots:
            return {name: v.dtype for name, v in self._children(parts).items()}
        return {}

    def _top(self, name: str) -> VNode:
        return _dir(0o555 if name == "proc" else 0o755)

    def _children(self, parts: tuple[str, ...]) -> dict[str, VNode]:
        if parts in FIXED_DIRS:  # (what they hold never changes during a run)
            out = self._fixed.get(parts)
            if out is None:
                out = self._fixed[parts] = self._make_children(parts)
            return out
        return self._make_children(parts)

    def _make_children(self, parts: tuple[str, ...]) -> dict[str, VNode]:
        sb = self.sb
        me, pid = (sb.identity.uid, sb.identity.gid), str(sb.identity.pid)
        if parts == ("dev",):
            out = {name: VNode("dev", st.S_IFCHR | 0o666, device=name) for name in DEVICES}
            out.update({name: _link(f"/proc/self/fd/{i}") for i, name in enumerate(STD)})
            out["fd"] = _link("/proc/self/fd")
            return out
        if parts == ("etc",):
            out = {"passwd": VNode("data", st.S_IFREG | 0o644, make=self._passwd, sized=True),
                   "group": VNode("data", st.S_IFREG | 0o644, make=self._group, sized=True)}
            cache = self._ld_cache()
            if cache is not None:
                out["ld.so.cache"] = VNode("data", st.S_IFREG | 0o644, make=lambda: cache,
                                           sized=True)
            return out
        if parts == ("proc",):
            return {"self": _link(pid), pid: _dir(0o555, *me)}
        if parts == ("proc", pid):
            def data(make, mode=0o444):
                return VNode("data", st.S_IFREG | mode, *me, make=make)
            return {"cmdline": data(lambda: b"".join(a + b"\0" for a in sb.argv)),
                    "comm": data(lambda: self._comm().encode() + b"\n", 0o644),
                    "cwd": _link(sb.cwd, 0o777, *me),
                    "environ": data(lambda: b"".join(e + b"\0" for e in sb.env), 0o400),
                    "exe": _link(sb.vprogram, 0o777, *me),
                    "fd": _dir(0o500, *me),
                    "status": data(self._status)}
        if parts == ("proc", pid, "fd"):
            return {str(fd): self._fd_link(f) for fd, f in sorted(sb.fds.items())}
        return {}

    def _fd_link(self, f: OpenFile) -> VNode:
        readable, writable = _access(f)
        mode = st.S_IFLNK | (0o500 if readable else 0) | (0o300 if writable else 0)  # as Linux
        me = (self.sb.identity.uid, self.sb.identity.gid)
        if f.node is not None:
            return VNode("link", mode, *me, target=f.node.vpath, follow=f.node.vpath)
        return VNode("link", mode, *me, target=_describe(f), file=f)

    def followed(self, node: Node) -> Node:
        """node as a path that follows symlinks names it: a fd link to a pipe
        or stdio names that open file (other links were followed already)."""
        v = node.virtual
        if v.kind == "link" and v.file is not None:
            return Node(node.vparts, None, "", VNode("open", v.mode, v.uid, v.gid, file=v.file))
        return node

    # -- contents --------------------------------------------------------------

    def _passwd(self) -> bytes:
        i = self.sb.identity
        lines = ["root:x:0:0:root:/root:/bin/sh"]
        if i.uid != 0:
            lines.append(f"{USER}:x:{i.uid}:{i.gid}:{USER}:/:/bin/sh")
        return "".join(line + "\n" for line in lines).encode()

    def _group(self) -> bytes:
        gid = self.sb.identity.gid
        lines = ["root:x:0:"] + ([f"{USER}:x:{gid}:"] if gid != 0 else [])
        return "".join(line + "\n" for line in lines).encode()

    def _ld_cache(self) -> bytes | None:
        """The host's /etc/ld.so.cache if the view shows every directory it
        names as the host's own (decided once per sandbox).  Without it ld.so
        probes ~40 hwcaps directories, a broker round trip each."""
        if self._ldcache is False:
            self._ldcache = None
            cache = host_ld_cache()
            if cache is not None and _shows_all(self.sb.view, cache):
                self._ldcache = cache.data
        return self._ldcache

    def _comm(self) -> str:
        return os.path.basename(self.sb.vprogram)[:15]  # TASK_COMM_LEN - 1, like Linux

    def _status(self) -> bytes:
        sb, i = self.sb, self.sb.identity
        ppid = max(i.pid - 1, 0)  # as loader.boot_state tells getppid
        ids = lambda v: "\t".join([str(v)] * 4)  # real, effective, saved, filesystem
        rows = [("Name", self._comm()), ("Umask", f"{sb.umask:04o}"), ("State", "R (running)"),
                ("Tgid", i.pid), ("Ngid", 0), ("Pid", i.pid), ("PPid", ppid), ("TracerPid", 0),
                ("Uid", ids(i.uid)), ("Gid", ids(i.gid)), ("FDSize", sb.limits.open_files),
                ("Groups", f"{i.gid} "), ("NStgid", i.pid), ("NSpid", i.pid),
                ("NSpgid", i.pid), ("NSsid", i.pid),
                ("VmSize", f"{sb.limits.memory >> 10:8d} kB"),
                ("Threads", 1),  # clone is refused: one thread
                ("NoNewPrivs", 0), ("Seccomp", lib.SECCOMP_MODE_STRICT), ("Seccomp_filters", 0)]
        return "".join(f"{k}:\t{v}\n" for k, v in rows).encode()

    # -- metadata --------------------------------------------------------------

    def _attrs(self, node: Node) -> tuple[int, int, int, int, int, int, int]:
        """(mode, ino, nlink, uid, gid, rdev, size) of a made-up node."""
        v = node.virtual
        ino = self._inos.setdefault(node.vparts, len(self._inos) + 1)
        size = 0
        if v.kind == "link":
            size = len(os.fsencode(v.target))
        elif v.kind == "data" and v.sized:
            size = len(v.make())
        rdev = os.makedev(*DEVICES[v.device]) if v.kind == "dev" else 0
        return v.mode, ino, 2 if v.kind == "dir" else 1, v.uid, v.gid, rdev, size

    def stat_bytes(self, node: Node) -> bytes:
        v = node.virtual
        if v.kind == "open":
            if v.file.kind == "stdio" and v.file.stat:
                return v.file.stat
            return kernel.stat_bytes(v.file.hostfd)
        mode, ino, nlink, uid, gid, rdev, size = self._attrs(node)
        s = ffi.new("struct stat *")
        s.st_dev, s.st_ino, s.st_mode, s.st_nlink = VDEV, ino, mode, nlink
        s.st_uid, s.st_gid, s.st_rdev, s.st_size = uid, gid, rdev, size
        s.st_blksize, s.st_blocks = 4096, (size + 511) // 512
        sec, nsec = int(self.time), int(self.time % 1 * 1e9)
        for ts in (s.st_atim, s.st_mtim, s.st_ctim):
            ts.tv_sec, ts.tv_nsec = sec, nsec
        return bytes(ffi.buffer(s))

    def statx_bytes(self, node: Node, mask: int) -> bytes:
        v = node.virtual
        if v.kind == "open":
            return kernel.statx_bytes(v.file.hostfd, mask)
        mode, ino, nlink, uid, gid, rdev, size = self._attrs(node)
        s = ffi.new("struct statx *")
        s.stx_mask, s.stx_blksize, s.stx_nlink = lib.STATX_BASIC_STATS, 4096, nlink
        s.stx_uid, s.stx_gid, s.stx_mode, s.stx_ino = uid, gid, mode, ino
        s.stx_size, s.stx_blocks = size, (size + 511) // 512
        s.stx_rdev_major, s.stx_rdev_minor = os.major(rdev), os.minor(rdev)
        s.stx_dev_major, s.stx_dev_minor = os.major(VDEV), os.minor(VDEV)
        sec, nsec = int(self.time), int(self.time % 1 * 1e9)
        for ts in (s.stx_atime, s.stx_ctime, s.stx_mtime):
            ts.tv_sec, ts.tv_nsec = sec, nsec
        return bytes(ffi.buffer(s))

    def access(self, node: Node, mode: int) -> int:
        """faccessat: 0 or a negative errno.  Nothing made up is writable
        except the devices, nothing executable but directories."""
        v = node.virtual
        if mode & os.X_OK and v.kind != "dir":
            return -errno.EACCES
        if mode & os.W_OK and v.kind in ("dir", "data", "link"):
            return -errno.EACCES
        return 0


LD_CACHE = "/etc/ld.so.cache"
LD_CACHE_MAX = 1 << 20
LD_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
_ld_cache_memo: tuple = (None, None)  # (host file's identity, LdCache or None)
X86_64_LIBC6 = 0x0303  # an entry's flags: FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 (glibc's ldconfig.h)


class LdCache(NamedTuple):
    data: bytes
    dirs: frozenset[str]  # the directories of the libraries it names
    paths: dict[str, str]  # name -> path, for the names it has one plain x86-64 entry for


def host_ld_cache() -> LdCache | None:
    """The host's ld.so.cache (new format only); None if absent, too big or
    not understood."""
    global _ld_cache_memo
    try:
        s = os.stat(LD_CACHE)
    except OSError:
        return None
    key = (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns)
    if _ld_cache_memo[0] == key:
        return _ld_cache_memo[1]
    result = None
    if s.st_size <= LD_CACHE_MAX:
        try:
            with open(LD_CACHE, "rb") as f:
                data = f.read(LD_CACHE_MAX + 1)
            result = _parse_ld_cache(data)
        except (OSError, ValueError, struct.error):
            result = None
    _ld_cache_memo = (key, result)
    return result


def _parse_ld_cache(data: bytes) -> LdCache | None:
    if not data.startswith(LD_CACHE_MAGIC) or len(data) < 48:
        return None
    nlibs = struct.unpack_from("<I", data, 20)[0]
    if 48 + 24 * nlibs > len(data):
        return None
    dirs, paths, seen = set(), {}, set()

    def text(at: int) -> str | None:
        end = data.find(b"\0", at)
        return os.fsdecode(data[at:end]) if at < len(data) and end >= 0 else None

    for i in range(nlibs):
        flags, key, value, _, hwcap = struct.unpack_from("<iIIIQ", data, 48 + 24 * i)
        name, path = text(key), text(value)
        if name is None or path is None:
            return None
        d = os.path.dirname(path)
        if not path.startswith("/") or not d or ".." in path.split("/"):
            return None
        dirs.add(d)
        if name in seen:  # (ld.so chooses among several by the CPU: not foretold)
            paths.pop(name, None)
        elif flags == X86_64_LIBC6 and hwcap == 0:
            paths[name] = path
        seen.add(name)
    return LdCache(data, frozenset(dirs), paths)


_shown: dict[tuple, bool] = {}  # (the host cache's identity, the view's mounts) -> _shows_all


def _shows_all(view, cache: LdCache) -> bool:
    """Whether the view shows every directory the host's cache names as the
    host's own; remembered by the view's mounts (the links on the way to
    each are the host's as this process first saw them: _realpath)."""
    key = (_ld_cache_memo[0], tuple((m.vparts, m.host, m.writable, m.name) for m in view.mounts))
    shown = _shown.get(key)
    if shown is None:
        if len(_shown) >= 256:
            _shown.clear()
        shown = _shown[key] = all(_shows_host_dir(view, d) for d in cache.dirs)
    return shown


def _shows_host_dir(view, d: str) -> bool:
    """Whether the view's directory d is the host's d: d lies in a read-only
    directory mount, the mount's host path for it has no symlink, and that
    is where the host's own d leads."""
    from .fsview import split
    parts = tuple(split(d))
    m = view._mount_of(parts)
    if m is None or m.writable or m.name or view._is_mount_parent(parts):
        return False
    if view.virtual is not None and parts and parts[0] in view.virtual.roots and not m.vparts:
        return False
    there = os.path.join(m.host, *parts[len(m.vparts):])
    return _realpath(there) == there == _realpath(d)


# The host's library directories, resolved once per process (~60 realpath
# walks a start otherwise).  A symlink the host adds later among them can
# only make a sandbox's ld.so look for a library where the view has none.
_realpath = functools.lru_cache(maxsize=1024)(os.path.realpath)


def _access(f: OpenFile) -> tuple[bool, bool]:
    """(readable, writable): for stdio, as the inherited fd was opened."""
    if f.kind == "stdio":
        acc = f.status & lib.O_ACCMODE
        return acc != lib.O_WRONLY, acc != lib.O_RDONLY
    return f.readable, f.writable


def _describe(f: OpenFile) -> str:
    """readlink of /proc/self/fd/N for an fd with no path: never a host path."""
    if f.kind == "pipe":
        return f"pipe:[{os.fstat(f.hostfd).st_ino}]"
    s = ffi.new("struct stat *")
    if f.stat:
        ffi.memmove(s, f.stat, min(len(f.stat), ffi.sizeof(s[0])))
    if st.S_ISFIFO(s.st_mode):
        return f"pipe:[{s.st_ino}]"
    if st.S_ISSOCK(s.st_mode):
        return f"socket:[{s.st_ino}]"
    if st.S_ISCHR(s.st_mode):
        return "/dev/null" if s.st_rdev == os.makedev(*DEVICES["null"]) else "/dev/tty"
    return f"anon_inode:[{f.kind}]"


# -- opening -------------------------------------------------------------------

def open_node(sb, node: Node, flags: int) -> int:
    """openat of a made-up node: a new fd, or OSError."""
    v = node.virtual
    acc = flags & lib.O_ACCMODE
    writing = acc != lib.O_RDONLY or flags & lib.O_TRUNC
    cloexec = bool(flags & lib.O_CLOEXEC)
    status = flags & (lib.O_ACCMODE | lib.O_APPEND | lib.O_NONBLOCK)
    if flags & lib.O_CREAT and flags & lib.O_EXCL:
        raise OSError(errno.EEXIST, "file exists")
    if flags & lib.O_DIRECTORY and v.kind != "dir":
        raise OSError(errno.ENOTDIR, "not a directory")
    if flags & lib.O_PATH:  # a handle for *at calls and fstat, nothing more
        kind = "vdir" if v.kind == "dir" else "data"
        return fdtable.install(sb, OpenFile(kind, node, readable=False, cloexec=cloexec,
                                            status=lib.O_PATH))
    if v.kind == "link":  # only O_NOFOLLOW leaves a link unfollowed here
        raise OSError(errno.ELOOP, "too many levels of symbolic links")
    if v.kind == "dir":
        if acc != lib.O_RDONLY:
            raise OSError(errno.EISDIR, "is a directory")
        f = OpenFile("vdir", node, cloexec=cloexec)
        fd = fdtable.install(sb, f)
        # listed after install, so /proc/self/fd shows this fd too, like Linux
        f.entries = sb.view.synthetic_children(node)
        f.dtypes = sb.view.virtual.dtypes(node.vparts)
        return fd
    if v.kind == "data":
        if writing:
            raise OSError(errno.EACCES, "permission denied")
        return fdtable.install(sb, OpenFile("data", node, data=v.make(), cloexec=cloexec,
                                            status=status))
    if v.kind == "dev":
        if v.device == "tty":
            raise OSError(errno.ENXIO, "no controlling terminal")
        return fdtable.install(sb, OpenFile("dev", node, readable=acc != lib.O_WRONLY,
                                            writable=acc != lib.O_RDONLY, cloexec=cloexec,
                                            status=status))
    return _reopen(sb, v.file, acc, cloexec)


def _reopen(sb, f: OpenFile, acc: int, cloexec: bool) -> int:
    """/proc/self/fd/N of a pipe or stdio: a duplicate of fd N."""
    readable, writable = _access(f)
    if (acc != lib.O_WRONLY and not readable) or (acc != lib.O_RDONLY and not writable):
        raise OSError(errno.EACCES, "permission denied")
    fd = fdtable.install(sb, fdtable.duplicate(f, cloexec))
    if f.kind == "stdio" and fd < lib.SB_MAX_FDS:
        # The runtime does stdio I/O itself: tell it, as it notes its own dups.
        sb.arena.write(FD_HOST + 4 * fd, struct.pack("<i", f.real))
    return fd
