"""Directory listings the runtime answers missing names from
(untrusted_runtime/listings.c): when a lookup finds a path missing, the
broker lists the deepest directory on its way, and a later lookup whose next
name after it is not among its names fails there, with no round trip.

Only a directory whose names the sandbox can never change is listed: one on a
frozen mount, looked up with no symlink on the way, or one that mount points
and the made-up /etc and /dev make (fsview.View.listable).  Its names are the
host's as it is listed, as a kept stat is the host's at its first lookup
(lookups.py).  A listing answers only the calls the policy allows plainly on
every path beneath it: then ENOENT is the broker's answer too."""

from __future__ import annotations

import errno
import os
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ._native import ffi, lib
from .arena import BASE
from .fsview import STRICT, split
from .policy.model import ALLOW

COUNT = BASE + ffi.offsetof("struct sb_state", "nlistings")
ENTRIES = BASE + ffi.offsetof("struct sb_state", "listings")
NAMES = BASE + ffi.offsetof("struct sb_state", "listed_names")
ENTRY = struct.Struct(f"<QIIII{lib.SB_STAT_PATH}s")
assert ENTRY.size == ffi.sizeof("struct sb_listing")
MOST_NAMES = 4096  # a larger directory is not listed (its names would crowd out the rest)
UP = 3  # directories tried on the way up from a missing path's parent
CALLS = ((lib.SB_LISTED_STAT, ("newfstatat",)), (lib.SB_LISTED_OPEN, ("openat",)),
         (lib.SB_LISTED_ACCESS, ("access", "faccessat", "faccessat2")))
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NONBLOCK

SETTLED_NS = 1_000_000_000
STAMPING = {lib.EXT4_SUPER_MAGIC, lib.XFS_SUPER_MAGIC, lib.BTRFS_SUPER_MAGIC, lib.TMPFS_MAGIC,
            lib.OVERLAYFS_SUPER_MAGIC}


class DirMemo:
    """What was read of host directories (their names' hashes here, their
    whole listings in calls/fdtable.py), kept for this process's later
    sandboxes by what changes with them (st_dev, st_ino, st_ctime_ns,
    st_mtime_ns): the fstat that checks one costs a hundredth of reading
    /usr/bin again.  Only on file systems that stamp every change
    (STAMPING), and only when the directory had not changed for SETTLED_NS
    before it was read: a change after that moves its ctime, however coarse
    the clock that stamps it.  At most most_bytes, the oldest used going."""

    def __init__(self, most_bytes: int):
        self.most, self.size = most_bytes, 0
        self._kept: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, fd: int, st: os.stat_result) -> tuple | None:
        """The key of directory fd (st: its fstat), if its reads may be kept."""
        if not _stamps_changes(fd):
            return None
        return (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns)

    def get(self, key: tuple | None) -> bytes | None:
        with self._lock:
            data = self._kept.get(key) if key else None
            if data is not None:
                self._kept.move_to_end(key)
        return data

    def put(self, key: tuple | None, read_at_ns: int, data: bytes) -> None:
        """data, read at read_at_ns (time.time_ns), is kept if it had settled."""
        if not key or read_at_ns - max(key[2], key[3]) <= SETTLED_NS or len(data) > self.most:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            self.size += len(data) - (len(old) if old is not None else 0)
            self._kept[key] = data
            while self.size > self.most:
                self.size -= len(self._kept.popitem(last=False)[1])

    def __contains__(self, key) -> bool:
        return key in self._kept


_memo = DirMemo(4 << 20)  # names' hashes: /usr/bin's are 4 KB


@dataclass
class Listings:
    """What one sandbox's runtime was given: directories tried (listed or
    not listable), and how much of the table the listings fill."""
    tried: set[str] = field(default_factory=set)
    count: int = 0
    names: int = 0
    calls: int | None = None  # what the policy lets a listing answer, if no path rule says otherwise


def calls_for(sb, d: str) -> int:
    """The lookups (SB_LISTED_*) a listing of directory d may answer: those
    the policy allows whatever their arguments, unless a path rule that is
    not an allow may decide a path beneath d.  Path rules are tried in
    order, and the first that matches decides (Policy._by_paths): a rule
    that matches nothing beneath d (its text before the first wildcard and
    d/ disagree) is passed over, as is one for writes only (a listing
    answers reads); an allow that matches everything beneath d (that text,
    then `*`) decides every such path, so the rules after it do not count
    (a learned policy's catch-all at the end)."""
    done, policy = sb.listings, sb.policy
    if done.calls is None:
        from . import lookups  # (which imports this module)
        done.calls = 0
        for bit, names in CALLS:
            if all(lookups.given(policy, n) for n in names):
                done.calls |= bit
    beneath = d.rstrip("/") + "/"
    for rule in policy.paths:
        fixed = _fixed_text(rule.match)
        if rule.access == "write" or not (fixed.startswith(beneath) or beneath.startswith(fixed)):
            continue
        if rule.action.kind != ALLOW:
            return 0
        if rule.match == fixed + "*" and beneath.startswith(fixed):
            break
    return done.calls


def _fixed_text(pattern: str) -> str:
    """A glob's text before its first wildcard."""
    for i, c in enumerate(pattern):
        if c in "*?[":
            return pattern[:i]
    return pattern


def list_around(sb, path: str) -> None:
    """A lookup found path missing: list for the runtime the deepest
    directory on its way (UP of them at most), if it has no listing yet."""
    if sb.listings.count >= lib.SB_LISTINGS or not path.startswith("/"):
        return
    parts = tuple(split(path))
    if ".." in parts:
        return
    for depth in range(len(parts) - 1, max(len(parts) - 1 - UP, -1), -1):
        if _list(sb, parts[:depth]) != -errno.ENOENT:
            return


def relist(sb, d: str) -> None:
    """A warm start's step: directory d again, as a run before this one
    had it listed (lookups.WarmStart)."""
    if sb.listings.count < lib.SB_LISTINGS:
        _list(sb, tuple(split(d)))


def _list(sb, parts: tuple[str, ...]) -> int:
    """Lists directory parts (from /) for the runtime, unless it was tried
    before: 0, or why not (a negative errno; ENOENT: nothing is there)."""
    d = "/" + "/".join(parts)
    done = sb.listings
    if d in done.tried:
        return -errno.EEXIST
    try:
        where = sb.view.listable(parts)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return -errno.ENOENT
        where = None
    r = _publish(sb, d, *where) if where is not None else -errno.EPERM
    if r != -errno.ENOENT:
        done.tried.add(d)
    if r == 0 and sb.warm is not None:
        sb.warm.note_listing(sb.view, d)
    return r


def _publish(sb, d: str, dirfd: int, rel: str, extra: list[str]) -> int:
    """Writes directory d's listing (struct sb_listing) for the runtime: 0,
    or why not (a negative errno)."""
    done = sb.listings
    calls = calls_for(sb, d)
    path = os.fsencode(d)
    room = min(MOST_NAMES, lib.SB_LISTING_NAMES - done.names)
    if not calls or len(path) >= lib.SB_STAT_PATH or len(extra) > room:
        return -errno.EPERM
    names = _host_names(dirfd, rel, room) if dirfd >= 0 else b""
    if isinstance(names, int):
        return names
    if extra:  # (mount points and made-up names: merged into the host's, sorted)
        n = len(names) // 4
        if n + len(extra) > room:
            return -errno.E2BIG
        out = ffi.new("uint32_t[]", n + len(extra))
        ffi.memmove(out, names, len(names))
        for i, name in enumerate(extra):
            raw = os.fsencode(name)
            out[n + i] = lib.sb_stat_hash(raw, len(raw), 0) & 0xFFFFFFFF
        n = lib.sb_list_names(-1, out, n + len(extra), n + len(extra))
        names = bytes(ffi.buffer(out, 4 * n))
    n = len(names) // 4
    sb.arena.write(NAMES + 4 * done.names, names)
    sb.arena.write(ENTRIES + done.count * ENTRY.size,
                   ENTRY.pack(lib.sb_stat_hash(path, len(path), 0), done.names, n, calls, len(path), path))
    done.names += n
    done.count += 1
    sb.arena.write(COUNT, done.count.to_bytes(4, "little"))  # (last: the entry is whole)
    return 0


def _stamps_changes(fd: int) -> bool:
    """Whether the directory's file system moves its ctime with every entry
    added or removed, to the nanosecond: the local disk and memory ones
    (not procfs or sysfs, which never do; nor NFS's cached attributes, nor
    FAT's two-second grain)."""
    buf = ffi.new("struct statfs *")
    return lib.fstatfs(fd, buf) == 0 and buf.f_type in STAMPING


def _host_names(dirfd: int, rel: str, room: int) -> bytes | int:
    """The sorted name hashes of directory rel beneath dirfd (no symlink
    followed), from the memo when it has not changed; or a negative errno."""
    fd = lib.sb_openat2(dirfd, os.fsencode(rel), DIR_FLAGS, 0, STRICT)
    if fd < 0:
        return fd
    try:
        key = _memo.key(fd, os.fstat(fd))
        names = _memo.get(key)
        if names is not None:
            return names if len(names) // 4 <= room else -errno.E2BIG
        now = time.time_ns()
        out = ffi.new("uint32_t[]", room)
        n = lib.sb_list_names(fd, out, 0, room)
    finally:
        os.close(fd)
    if n < 0:
        return n
    names = bytes(ffi.buffer(out, 4 * n))
    _memo.put(key, now, names)
    return names
