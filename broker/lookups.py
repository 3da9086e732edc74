"""Path lookups the runtime answers itself: the stat cache's rules, and the
warm start that fills it before the program runs.

The runtime keeps a stat answer, or a "no such file", by absolute path
(struct sb_statcache) when the broker says it may: only a frozen mount
decides it (fsview.View.frozen_stat; or the made-up /etc and /dev lack the
name), and the policy gives that call on that path a plain allow whatever
its other arguments.  A missing name is also kept for read-only opens when
the policy allows those the same way.

A WarmStart remembers which such paths earlier runs looked up, and which
regular files and directories there (and made-up /etc files) they opened
read-only, and as a new run starts looks them up again beside it (a step
whenever the broker is idle) and holds those open for it, their first bytes
(a directory: its listing) in prefetch slots, publishing them with each
request: CPython's ~30 (`-c pass`) to ~80 (`import json, decimal, sqlite3`)
stats and missing opens of its start, and its first open of each of those
files (when it has one thread), cost no round trip; so do the names missing
from the directories they were given listings of (listings.py), which it
lists again in their turn.  The answers are the host's as the run starts,
as a run's own kept answers are the host's at its first lookup (the host
may change a read-only mount; the sandbox cannot).

Without a warm start, a dynamic program's start gets the same for what its
loader looks up first, foretold from the program itself (first_lookups)."""

from __future__ import annotations

import errno
import os
import re
import stat as stat_mod
import struct
from collections import OrderedDict
from dataclasses import dataclass

from . import listings
from .calls import fdtable
from ._native import ffi, lib
from .arena import BASE, Fault
from .fsview import STRICT, Node, split
from .policy.model import ALLOW

KEEP_FOUND = lib.SB_STAT_FOUND
KEEP_MISSING = lib.SB_STAT_MISSING
KEEP_MISSING_OPEN = lib.SB_STAT_MISSING_OPEN
KEEP_COMING = lib.SB_STAT_COMING
STATC = ffi.offsetof("struct sb_state", "statc")
# struct sb_statcache's stat: a readlink answer's target fits in it
STAT_BYTES = ffi.offsetof("struct sb_statcache", "held") - ffi.offsetof("struct sb_statcache", "stat")
ENTRY = struct.Struct(f"<II{lib.SB_STAT_PATH}s{STAT_BYTES}sIIQ")
SLOTS = lib.SB_STAT_CACHE
PROBES = 8  # as stat_slot in untrusted_runtime/fd_io.c
# The flags of a read-only open the runtime may answer itself (fd_io.c's
# OPEN_LOOKUP_ONLY): ENOENT for a path kept missing, or the file a warm
# start holds for it, opened with the same ones (O_CLOEXEC aside).
LOOKUP_OPEN_FLAGS = lib.O_CLOEXEC | lib.O_NOCTTY | lib.O_NONBLOCK | lib.O_DIRECTORY | lib.O_NOFOLLOW
HELD_SPARE = 8  # prefetch slots a warm start leaves to the files the program opens
assert ENTRY.size == ffi.sizeof("struct sb_statcache")


# -- what the runtime may keep ------------------------------------------------

# What a lookup the runtime answers itself may be given besides its path:
# any flags of a read-only open that makes nothing (fd_io.c's
# OPEN_LOOKUP_ONLY), and a stat's two (sys_newfstatat); any dirfd, as the
# path is absolute.  A policy whose filters allow each (`strictbox learn`
# writes "flags & O_ACCMODE == O_RDONLY && ...") lets those be answered.
_OPEN_BITS = [1 << i for i in range(32) if LOOKUP_OPEN_FLAGS >> i & 1]
LOOKUP_CASES = {
    "openat": tuple((("flags", sum(b for i, b in enumerate(_OPEN_BITS) if n >> i & 1)),)
                    for n in range(1 << len(_OPEN_BITS))),
    "newfstatat": ((("flags", 0),), (("flags", lib.AT_SYMLINK_NOFOLLOW),)),
}


def given(policy, call: str) -> bool:
    """The policy's call rules allow call (not log it) as the runtime answers
    it itself, whatever else it is given: only path rules may still say no."""
    cases = LOOKUP_CASES.get(call)
    return policy.allows_each(call, cases) if cases else policy.allows(call)


def _plainly_allowed(sb, call: str, path: str, flags: int) -> bool:
    """The policy allows call on path (not logs it) whatever else it is given."""
    if not given(sb.policy, call):  # it looks at other arguments, or says no
        return False
    if not sb.policy.paths:
        return True
    env = {"dirfd": lib.AT_FDCWD, "path": path, "flags": flags, "statbuf": 0, "mode": 0}
    return sb.policy.decide(call, env).action == ALLOW


def _kept_decision(sb, call: str) -> bool:
    """The call being served was a plain allow that no argument but the path
    decides (the path gets the same one next time)."""
    d = getattr(sb, "last_decision", None)
    return d is not None and d.action == ALLOW and given(sb.policy, call)


def keeps(sb) -> bool:
    """The stat being served may be kept."""
    return _kept_decision(sb, "newfstatat")


def judged(path: str) -> str:
    """The path the policy judges for one frozen_stat answers (no `..`, no link)."""
    return "/" + "/".join(split(path))


def missing_kept(sb, path: str) -> int:
    """How a missing path may be kept: for read-only opens too, if allowed alike."""
    ok = _plainly_allowed(sb, "openat", judged(path), lib.O_CLOEXEC)
    return KEEP_MISSING_OPEN if ok else KEEP_MISSING


def open_missing_kept(sb, path: str) -> bool:
    """A read-only open found path missing: may the runtime keep that, for
    such opens and stats alike?  (Both plainly allowed; the read-only flags
    decide nothing then, as a missing name fails them all.)"""
    if not _kept_decision(sb, "openat") or not (sb.view.frozen_stat(path) == errno.ENOENT
                                                or sb.view.virtual_missing(path)):
        return False
    if not _plainly_allowed(sb, "newfstatat", judged(path), 0):
        return False
    noted(sb, path)
    return True


def noted(sb, path: str, open_flags: int | None = None) -> None:
    """path's answer was kept, or it is a file or directory on a read-only
    mount the program opened read-only with open_flags: a shared warm start
    remembers it."""
    if sb.warm is not None:
        sb.warm.note(sb.view, path, open_flags)


# -- the warm start -------------------------------------------------------------

def slot_hash(path: bytes, flags: int) -> int:
    """Where the runtime looks for path first (sb_stat_hash, shared with it)."""
    return lib.sb_stat_hash(path, len(path), flags)


def _view_key(view) -> tuple:
    """What decides frozen_stat's answers: the read-only mounts, and where the
    writable ones sit (not their host directory: a run's private /tmp)."""
    return tuple((m.vparts, None if m.writable else m.host, m.name) for m in view.mounts)


@dataclass(slots=True)
class _Path:
    """A path a warm start remembers, as its view resolves it."""
    raw: bytes  # as the program wrote it
    judged: str  # as the policy judges it
    vparts: tuple[str, ...]
    mount: int  # its mount's index in the view's mounts; MISSING_MADE_UP, MADE_UP: a made-up tree's
    rel: str  # beneath that mount
    open_flags: int | None = None  # a file or directory opened read-only with these (no O_CLOEXEC)


MISSING_MADE_UP, MADE_UP = -1, -2  # _Path.mount: a made-up tree's missing name, or file


@dataclass(slots=True)
class _Listed:
    """A directory a run was given the listing of, among a warm start's paths."""
    path: str


def _plain(sb, call: str, flags: int):
    """True: the policy allows call plainly on every path; False: on none;
    else the function that says for one path."""
    if not given(sb.policy, call):
        return False
    return True if not sb.policy.paths else (lambda path: _plainly_allowed(sb, call, path, flags))


def _hold(sb, p: _Path, slot: int, buf) -> Ready | None:
    """Opens p's file or directory as it was opened before, for a warm open,
    with its first bytes (a directory: its whole listing) in prefetch slot
    `slot`; a .pyc of up to SB_PREFETCH_MOST bytes (CPython reads it whole)
    whole, in free slots in a row, or not at all.  None if it no longer is
    one of those."""
    if slot < 0:
        return None
    m = sb.view.mounts[p.mount]
    # O_NONBLOCK: a FIFO (or a device) put there since must not block the
    # broker, and is not held; the flag goes once the file is found plain.
    fd = lib.sb_openat2(m.dirfd, os.fsencode(p.rel), p.open_flags | os.O_CLOEXEC | os.O_NONBLOCK, 0, STRICT)
    if fd < 0:
        return None
    addr = lib.SB_PREFETCH_BASE + slot * lib.SB_PREFETCH_SLOT
    try:
        plain = lib.fstatat(fd, b"", buf, lib.AT_EMPTY_PATH) == 0 and (
            stat_mod.S_ISREG(buf.st_mode) or stat_mod.S_ISDIR(buf.st_mode))
        if plain and not p.open_flags & os.O_NONBLOCK:
            os.set_blocking(fd, True)
        if plain:
            node = Node(p.vparts, m, p.rel)
            if stat_mod.S_ISREG(buf.st_mode):
                head, slots = fdtable.head_bytes(buf.st_size), 1
                if head < buf.st_size <= lib.SB_PREFETCH_MOST and p.raw.endswith(b".pyc"):
                    head, slots = buf.st_size, fdtable.slots_for(buf.st_size)
                    room = held_slots(sb) + slots <= _holds(sb)  # (the caller counted one slot)
                    slot = fdtable.free_slots(sb, slots) if room else -1
                    addr = lib.SB_PREFETCH_BASE + slot * lib.SB_PREFETCH_SLOT
                if slot >= 0 and sb.arena.copy_in(addr, fd, 0, head) == head:
                    f = fdtable.OpenFile("file", node, fd, slot=slot, slots=slots)
                    return Ready(p.raw, KEEP_FOUND, bytes(ffi.buffer(buf)), f, p.open_flags, head)
            elif stat_mod.S_ISDIR(buf.st_mode):
                listing = fdtable.whole_listing(fd)
                if listing is not None:
                    sb.arena.write(addr, listing)
                    f = fdtable.OpenFile("dir", node, fd, slot=slot, listing=listing)
                    return Ready(p.raw, KEEP_FOUND, bytes(ffi.buffer(buf)), f, p.open_flags, len(listing))
    except (OSError, Fault):  # (Fault: the program mapped a file over the slot)
        pass
    os.close(fd)
    return None


def _hold_made_up(sb, p: _Path, slot: int) -> Ready | None:
    """A made-up /etc file, its contents in prefetch slot `slot`, for a warm
    open of p (as _hold does for a host file); None if it no longer is one or
    does not fit."""
    node = sb.view.made_up_file(p.judged)
    if slot < 0 or node is None:
        return None
    data = node.virtual.make()
    if len(data) > lib.SB_PREFETCH_SLOT:
        return None
    try:
        sb.arena.write(lib.SB_PREFETCH_BASE + slot * lib.SB_PREFETCH_SLOT, data)
    except Fault:  # (the program mapped a file over the slot)
        return None
    f = fdtable.OpenFile("data", node, data=data, slot=slot,  # (as virtual.open_node makes it)
                 status=p.open_flags & (lib.O_ACCMODE | lib.O_APPEND | lib.O_NONBLOCK))
    return Ready(p.raw, KEEP_FOUND, sb.view.virtual.stat_bytes(node), f, p.open_flags, len(data))


class WarmStart:
    """Paths that runs sharing this looked up on read-only mounts, by view
    (the mounts they were made in).  A run that shares it starts with their
    answers, looked up again as it starts, in its stat cache, and with the
    files they opened read-only held open for it, their first bytes in
    place: its first open of each costs no round trip either.

    Share one only between runs you trust alike: a run can read in its own
    memory which paths the runs before it looked up."""

    def __init__(self, limit: int = SLOTS * 3 // 4, views: int = 16):
        self.limit = limit  # paths per view
        self.views = views
        self._paths: OrderedDict[tuple, dict[str, _Path]] = OrderedDict()  # by view, by path

    def _of_view(self, view) -> dict:
        key = _view_key(view)
        paths = self._paths.get(key)
        if paths is None:
            paths = self._paths[key] = {}
            while len(self._paths) > self.views:
                self._paths.popitem(last=False)
        return paths

    def note_listing(self, view, d: str) -> None:
        """The runtime was given directory d's listing (listings.py): it
        comes again in its turn among the paths."""
        paths = self._of_view(view)
        if len(paths) < self.limit:
            paths.setdefault(("listed", d), _Listed(d))  # (a key no path string equals)

    def note(self, view, path: str, open_flags: int | None = None) -> None:
        paths = self._of_view(view)
        known = paths.get(path)
        if known is not None:
            known.open_flags = open_flags if open_flags is not None else known.open_flags
            return
        if len(paths) < self.limit:
            p = _path_of(view, path, open_flags)
            if p is not None:
                paths[path] = p

    def lookups(self, sb):
        """Looks up again, one path a step, what sb starts with: each step
        (the broker takes one whenever it has nothing else to do, so this
        runs beside the program's start) adds a Ready to sb.warm_ready,
        which `publish` puts in the program's stat cache.  The files it holds
        are reserved there (their prefetch slots taken) until then.  The
        directories runs before it were given listings of are listed again
        in their turn (listings.py: the misses those answered never reached
        the broker)."""
        paths = self._paths.get(_view_key(sb.view))
        if paths:
            yield from _look_up(sb, list(paths.values()))


def _path_of(view, path: str, open_flags: int | None) -> _Path | None:
    """path as the view resolves it, for a lookup the runtime may be given:
    on a frozen mount, or a made-up tree's missing name or file (opened)."""
    raw = path.encode("utf-8", "surrogateescape")
    if len(raw) >= lib.SB_STAT_PATH:
        return None
    node = view.frozen(path)
    if node is not None:
        return _Path(raw, judged(path), node.vparts, view.mounts.index(node.mount), node.rel, open_flags)
    if view.virtual_missing(path):
        return _Path(raw, judged(path), (), MISSING_MADE_UP, "")
    if open_flags is not None and view.made_up_file(path) is not None:
        return _Path(raw, judged(path), (), MADE_UP, "", open_flags)
    return None


def _look_up(sb, paths: list):
    """Looks up paths (_Path, _Listed) for sb, a step each: the answers the
    policy lets the runtime give itself go to sb.warm_ready, the files to
    open held open with them."""
    stat_ok = _plain(sb, "newfstatat", 0)
    if not stat_ok:
        return
    open_ok = _plain(sb, "openat", lib.O_CLOEXEC)
    buf = ffi.new("struct stat *")
    for p in paths:
        yield
        if isinstance(p, _Listed):
            listings.relist(sb, p.path)
            continue
        m = sb.view.mounts[p.mount] if p.mount >= 0 else None
        if m is not None and not m.frozen:  # (this run's writable mounts show its files)
            continue
        if stat_ok is not True and not stat_ok(p.judged):
            continue
        may_open = open_ok is True or (open_ok and open_ok(p.judged))
        if p.mount == MISSING_MADE_UP:
            if sb.view.virtual_missing(p.judged):
                sb.warm_ready.append(Ready(p.raw, KEEP_MISSING_OPEN if may_open else KEEP_MISSING))
            continue
        if p.mount == MADE_UP:
            if may_open and held_slots(sb) < _holds(sb):
                held = _hold_made_up(sb, p, fdtable.free_slot(sb))
                if held is not None:
                    sb.warm_ready.append(held)
            continue
        if p.open_flags is not None and may_open and held_slots(sb) < _holds(sb):
            held = _hold(sb, p, fdtable.free_slot(sb), buf)
            if held is not None:
                sb.warm_ready.append(held)
                continue
        r = lib.sb_stat_beneath(m.dirfd, os.fsencode(p.rel), STRICT, buf)
        if r == 0:
            sb.warm_ready.append(Ready(p.raw, KEEP_FOUND, bytes(ffi.buffer(buf))))
        elif r == -errno.ENOENT:
            sb.warm_ready.append(Ready(p.raw, KEEP_MISSING_OPEN if may_open else KEEP_MISSING))


# -- a dynamic program's first lookups ------------------------------------------

PRELOAD, LD_CACHE = "/etc/ld.so.preload", "/etc/ld.so.cache"  # what glibc's ld.so looks up first


def foretold_libraries(sb, prog, env: list[bytes]) -> list[tuple[str, Node]]:
    """The libraries glibc's ld.so will open for prog (libraries.foretell),
    as (the path it opens, the view's file there, links followed, as the
    policy judges it: enforce.py), each on a frozen mount and plainly open
    to the program.  Nothing for a traced run (a tracer must see every
    lookup reach the broker), nor without the made-up ld.so.cache (ld.so
    searches the view's directories then)."""
    from . import libraries, virtual
    if sb.tracer is not None or sb.view.made_up_file(LD_CACHE) is None:
        return []
    cache, open_ok = virtual.host_ld_cache(), _plain(sb, "openat", lib.O_CLOEXEC)
    if cache is None or not open_ok:
        return []
    found: dict[str, Node | None] = {}

    def file_at(path: str) -> Node | None:
        if path not in found:
            # (one host call when no link is on the way, as the walk would go: frozen_stat)
            node = sb.view.frozen(path) if isinstance(sb.view.frozen_stat(path), bytes) else None
            try:
                node = node or sb.view.walk(path)
            except OSError:
                node = None
            if node is None or node.mount is None or not node.mount.frozen or node.virtual is not None \
                    or (open_ok is not True and not open_ok(node.vpath)):
                node = None
            found[path] = node
        return found[path]

    def open_file(path: str) -> int:  # (O_NONBLOCK: a FIFO there must not block the broker)
        node = file_at(path)
        if node is None:
            return -errno.EACCES
        try:
            return sb.view.open(node, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            return -e.errno

    return [(path, file_at(path)) for path in libraries.foretell(prog, env, cache.paths, open_file)
            if len(os.fsencode(path)) < lib.SB_STAT_PATH]


def first_lookups(sb, libs: list[tuple[str, Node]], program: str) -> None:
    """Before the program starts (unless a warm start makes them, or a
    tracer must see every lookup reach the broker): its loader's first
    lookups, made for it: ld.so.preload's miss, by a listing of its
    directory; the made-up ld.so.cache and the libraries foretold_libraries
    names, held open; so ld.so opens each with no round trip.  Nothing here
    comes from earlier runs: only from the program and the host's
    ld.so.cache, which the program can read as well."""
    if sb.tracer is not None:
        return
    sb.warm_ready += program_links(sb, program)  # (warm or not: a warm start has no readlink)
    if sb.warm is None and sb.view.made_up_file(LD_CACHE) is not None:
        listings.list_around(sb, PRELOAD)
        paths = [_path_of(sb.view, LD_CACHE, 0)] + [
            _Path(os.fsencode(path), node.vpath, node.vparts, sb.view.mounts.index(node.mount), node.rel, 0)
            for path, node in libs]
        for _ in _look_up(sb, [p for p in paths if p is not None]):
            pass
    publish(sb, starting=True)


READLINK = lib.SB_STAT_READLINK  # the stat cache's flags of a readlink answer
KEEP_NOTLINK = lib.SB_STAT_NOTLINK
MOST_LINKS = 8  # links followed along the program's path


def program_links(sb, program: str) -> list[Ready]:
    """readlink's answers along the program's own path, for the runtime to
    give (CPython reads where its binary links to, and that this is no
    link: two round trips): each symbolic link there on a frozen mount, by
    its names alone, then where the chain ends (not a link), while the
    policy gives readlink and readlinkat there plainly.  Only from the
    program's path and the host, which the program can read as well."""
    out: list[Ready] = []
    if not (given(sb.policy, "readlink") and given(sb.policy, "readlinkat")):
        return out
    path = program
    for _ in range(MOST_LINKS):
        raw = path.encode("utf-8", "surrogateescape")
        node = sb.view.frozen(path)
        if (node is None or len(raw) >= lib.SB_STAT_PATH
                or not all(_plainly_allowed(sb, c, judged(path), 0) for c in ("readlink", "readlinkat"))):
            break
        try:
            target = sb.view._readlink(node)
        except OSError:  # (a link on the way to it: the walk decides, not the names)
            break
        if target is None:  # not a link, or nothing there
            if isinstance(sb.view.frozen_stat(path), bytes):
                out.append(Ready(raw, KEEP_NOTLINK, flags=READLINK))
            break
        data = os.fsencode(target)
        if len(data) > STAT_BYTES or ".." in target.split("/"):
            break
        out.append(Ready(raw, KEEP_FOUND, data, flags=READLINK, size=len(data)))
        path = target if target.startswith("/") else f"{path.rpartition('/')[0]}/{target}"
    return out


@dataclass(slots=True)
class Ready:
    """A warm start's answer for one path, to publish: kept as `used`
    (KEEP_*), with its stat; and the file held for its warm open, if any."""
    raw: bytes
    used: int
    stat: bytes = b""
    file: object = None  # a calls.fdtable.OpenFile the broker holds open
    open_flags: int = 0
    size: int = 0  # bytes of it in its prefetch slot (a readlink answer: of its target)
    flags: int = 0  # the lookup's (newfstatat's flags; READLINK)


def publish(sb, starting: bool = False) -> None:
    """Puts what the warm start looked up since the last request in the
    program's stat cache: only while its one thread waits for our answer
    (the table is the runtime's to write as it runs), or before it starts;
    at a free entry where the runtime looks for the path (the runtime may
    have kept it itself)."""
    if not sb.warm_ready:  # (every request comes by: first the cheap way out)
        return
    threads = 1 if starting else sb.arena.state_u32(fdtable.LIVE_THREADS)
    if threads == 0:  # (the stub's ready message: the program has not started)
        return
    ready, sb.warm_ready = sb.warm_ready, []
    try:
        while ready:
            r = ready.pop(0)
            _put(sb, _free_entry(sb, r.raw, r.flags) if threads == 1 else None, r)
    finally:  # (should anything else fail: no file is left held for nobody)
        for r in ready:
            if r.file is not None and r.file.hostfd >= 0:
                os.close(r.file.hostfd)
    if threads != 1:
        sb.warming = None  # (a second thread: the stat cache is no longer ours to write)


def _entry_addr(index: int) -> int:
    """Where stat cache entry index lies in the arena."""
    return BASE + STATC + index * ENTRY.size


def _put(sb, index: int | None, r: Ready) -> bool:
    """Writes r at stat cache entry index and holds its file for it; or, if
    there is no index or the write faults (a file mapped over the stat cache:
    the program's loss), closes the file.  True if written."""
    written = False
    if index is not None:
        held = r.file.slot + 1 if r.file is not None else 0
        entry = ENTRY.pack(r.used, r.flags, r.raw, r.stat, held, r.open_flags, r.size)
        try:  # (its `used` word last: the runtime may be looking, for a reserved one)
            sb.arena.write(_entry_addr(index) + 4, entry[4:])
            sb.arena.write(_entry_addr(index), entry[:4])
            written = True
        except Fault:
            pass
    if r.file is not None:
        if written:
            old = sb.held.pop(index, None)
            if old is not None and old[0].hostfd >= 0:  # (never: its entry was not free)
                os.close(old[0].hostfd)
            sb.held[index] = (r.file, r.open_flags, r.raw)
        elif r.file.hostfd >= 0:  # (a made-up file holds none)
            os.close(r.file.hostfd)
    return written


def held_slots(sb) -> int:
    """Prefetch slots the files held for warm opens take, published or not."""
    return (sum(f.slots for f, *_ in sb.held.values())
            + sum(r.file.slots for r in sb.warm_ready if r.file is not None))


# -- what the program opens next, read ahead -------------------------------------

# PEP 3147: the bytecode of D/N.py is D/__pycache__/N.<tag>.pyc (<tag>: the
# interpreter's, e.g. cpython-311), which CPython opens right after it
# stats the source.
PYC = re.compile(r"(.*)/__pycache__/([^/.]+)\.([^/.]+)\.pyc")  # (not N.<tag>.opt-1.pyc: -O's)


def learn_pyc_tag(sb, path: str) -> None:
    """A regular file opened read-only: if it is cached bytecode, its tag."""
    m = PYC.fullmatch(path)
    if m:
        sb.pyc_tag = m.group(3)


def learn_dir_listing(sb, path: str, open_flags: int) -> None:
    """A directory opened read-only: if the program found it by a stat just
    before (CPython's import system does, for each directory it imports
    from), the flags its opens of directories use (opendir's)."""
    if path == sb.stat_found:
        sb.dir_open_flags = open_flags & ~os.O_CLOEXEC


def read_ahead(sb, path: str, stat: bytes) -> bool:
    """A stat found path on a frozen mount: hold the file the program opens
    next, as a warm start would, so that open is made in the sandbox: for
    D/N.py, D/__pycache__/N.<tag>.pyc; for a directory, itself, once the
    program has listed one it had just found.  Only its stat cache entry is
    reserved now; the file is held right after the answer (fill_coming).
    True if path's own entry was reserved (the runtime must not keep the
    stat over it)."""
    sb.stat_found = path
    if stat_mod.S_ISDIR(struct.unpack_from("<I", stat, 24)[0]):  # (st_mode)
        flags = sb.dir_open_flags
        return flags is not None and _reserve(
            sb, path, lambda raw, _: _hold_ahead(sb, path, raw, flags) or Ready(raw, KEEP_FOUND, stat))
    tag = sb.pyc_tag
    if tag is not None and path.endswith(".py"):
        head, _, name = path[:-3].rpartition("/")
        pyc = f"{head}/__pycache__/{name}.{tag}.pyc"
        _reserve(sb, pyc, lambda raw, _: _hold_ahead(sb, pyc, raw, 0))
    return False


# CPython's extension module suffix starts with its bytecode's tag
# (".cpython-311-x86_64-linux-gnu.so": "cpython-311").
INIT_EXTENSION = re.compile(r"__init__\.(cpython-\d+)-[^/]+\.so")


def read_ahead_package(sb, path: str) -> None:
    """A stat found no D/__init__.<suffix> on a frozen mount: CPython's
    import system probes a package's __init__ by suffix, extension modules
    first and D/__init__.py after.  Once the program has shown it is CPython
    (learn_pyc_tag; or this very suffix, CPython's first probe), the stat of
    D/__init__.py comes along, with its bytecode."""
    head, _, name = path.rpartition("/")
    if sb.pyc_tag is None and (m := INIT_EXTENSION.fullmatch(name)):
        sb.pyc_tag = m.group(1)
    if sb.pyc_tag is None or not name.startswith("__init__.") or name == "__init__.py":
        return
    source = f"{head}/__init__.py"
    pyc = f"{head}/__pycache__/__init__.{sb.pyc_tag}.pyc"

    def found(raw: bytes, _) -> Ready | None:
        stat = sb.view.frozen_stat(source)
        if not (isinstance(stat, bytes) and stat_mod.S_ISREG(struct.unpack_from("<I", stat, 24)[0])):
            return None
        noted(sb, source)
        return Ready(raw, KEEP_FOUND, stat)

    if _reserve(sb, source, found):  # (its bytecode's after it: filled in this order)
        sb.stat_found = source
        _reserve(sb, pyc, lambda raw, filled: _hold_ahead(sb, pyc, raw, 0) if source in filled else None)


def _entry_for(sb, path: str) -> tuple[bytes, int] | None:
    """(path as the runtime looks it up, a free stat cache entry for it) if
    the broker may put its stat there: a path that fits, one thread (the
    stat cache is the runtime's to write then), a stat the policy gives
    plainly (the runtime answers it without asking)."""
    raw = path.encode("utf-8", "surrogateescape")
    if (len(raw) >= lib.SB_STAT_PATH or sb.arena.state_u32(fdtable.LIVE_THREADS) != 1
            or not _plainly_allowed(sb, "newfstatat", judged(path), 0)):
        return None
    index = _free_entry(sb, raw)
    return None if index is None else (raw, index)


# -- entries filled after the answer ----------------------------------------------
#
# The runtime writes its stat cache as the program runs, so the broker takes
# an entry only while the program's one thread waits for its answer.  Work
# the answer does not need (opening a file to hold, copying its first
# bytes) is done right after it, beside the program: the entry is reserved
# first (SB_STAT_COMING, with its path, so the runtime neither takes it nor
# evicts it, and a lookup of that path waits for it), then filled, its
# `used` word written last.


def _reserve(sb, path: str, fill) -> bool:
    """Reserves a stat cache entry for path (_entry_for) while the program
    waits for our answer; fill(raw, filled) makes its Ready (or None: the
    entry goes free again) right after the answer.  True if reserved."""
    entry = _entry_for(sb, path)
    if entry is None:
        return False
    raw, index = entry
    try:
        sb.arena.write(_entry_addr(index), ENTRY.pack(KEEP_COMING, 0, raw, b"", 0, 0, 0))
    except Fault:  # (a file mapped over the stat cache: the program's loss)
        return False
    sb.coming.append((index, raw, path, fill, 0))
    return True


def fill_coming(sb) -> None:
    """Right after an answer: fills the entries reserved for it, in order
    (fill(raw, paths filled before it)), each published, or given back the
    `used` word it had (free, or the stat it kept), however the fills end."""
    coming, sb.coming = sb.coming, []
    if sb.done or sb.ending:  # (its arena is no longer ours to write)
        return
    filled: set[str] = set()
    done = 0
    try:
        for index, raw, path, fill, before in coming:
            r = fill(raw, filled)
            if r is not None and _put(sb, index, r):
                filled.add(path)
            else:
                _set_used(sb, index, before)
            done += 1
    finally:
        for index, _, _, _, before in coming[done:]:  # (a fill failed: it and the rest)
            _set_used(sb, index, before)


def hold_again(sb, index: int, raw: bytes, open_flags: int) -> None:
    """The program just opened the directory held at stat cache entry index
    (its fd event, served before our next answer): it is held once more
    for the path's next open, after that answer, while the program has one
    thread (the entry is its to write otherwise).  CPython lists each
    directory it imports from twice (site's listdir, then its path finder's)."""
    if (raw in sb.held_again or sb.arena.state_u32(fdtable.LIVE_THREADS) != 1
            or sb.arena.state_u32(fdtable.THREADS_EXITING)):
        return
    sb.held_again.add(raw)
    path = raw.decode("utf-8", "surrogateescape")
    _set_used(sb, index, KEEP_COMING)  # (its path and kept stat stay: back if the fill fails)
    sb.coming.append((index, raw, path, lambda raw, _: _hold_ahead(sb, path, raw, open_flags), KEEP_FOUND))


def _set_used(sb, index: int, used: int) -> None:
    """An entry's `used` word alone (struct sb_statcache's first)."""
    try:
        sb.arena.write(_entry_addr(index), used.to_bytes(4, "little"))
    except Fault:  # (a file mapped over the stat cache: the program's loss)
        pass


def _hold_ahead(sb, path: str, raw: bytes, open_flags: int) -> Ready | None:
    """path's file or directory held for an open with open_flags, if a slot
    is to spare and the policy gives that open plainly too; else None."""
    node = sb.view.frozen(path)
    if (node is None or held_slots(sb) >= _holds(sb)
            or not _plainly_allowed(sb, "openat", judged(path), open_flags | lib.O_CLOEXEC)):
        return None
    p = _Path(raw, judged(path), node.vparts, sb.view.mounts.index(node.mount), node.rel, open_flags)
    held = _hold(sb, p, fdtable.free_slot(sb), ffi.new("struct stat *"))
    if held is not None:
        noted(sb, path, open_flags)  # (its open is the runtime's now: a warm start would not see it)
    return held


def _holds(sb) -> int:
    """How many prefetch slots held files may take: all, less what the program
    keeps free and what its open files take."""
    return lib.SB_PREFETCH_SLOTS - HELD_SPARE - sum(f.slots for f in sb.fds.values() if f.slot >= 0)


def _free_entry(sb, raw: bytes, flags: int = 0) -> int | None:
    """A free stat cache entry where the runtime looks for raw (with flags)
    first (none if it has one already): the sandbox's table, read as it
    is, and never one whose file the broker holds (its own record decides
    that)."""
    h = slot_hash(raw, flags)
    for i in range(PROBES):
        index = (h + i) % SLOTS
        used, kept, path = struct.unpack_from(f"<II{lib.SB_STAT_PATH}s",
                                              sb.arena.read(_entry_addr(index), 128))
        if used and kept == flags and path.split(b"\0", 1)[0] == raw:
            return None
        if not used and index not in sb.held and all(index != c[0] for c in sb.coming):
            return index
    return None
