"""Path lookups the runtime answers itself: the stat cache's rules, and the
warm start that fills it before the program runs.

The runtime keeps a stat answer, or a "no such file", by absolute path
(struct sb_statcache) when the broker says it may: only a read-only mount
decides it (fsview.View.frozen_stat), and the policy gives that call on that
path a plain allow whatever its other arguments.  A missing name is also
kept for read-only opens when the policy allows those the same way.

A WarmStart remembers which such paths earlier runs looked up and looks
them up again as a new run starts, so CPython's ~30 (`-c pass`) to ~80
(`import json, decimal, sqlite3`) stats and missing opens of its start cost
no round trip.  The answers are the host's at that start, as a run's own
kept answers are the host's at its first lookup (the host may change a
read-only mount; the sandbox cannot)."""

from __future__ import annotations

import errno
import struct
from collections import OrderedDict

from ._native import ffi, lib
from .fsview import split
from .policy.model import ALLOW

KEEP_FOUND = lib.SB_STAT_FOUND
KEEP_MISSING = lib.SB_STAT_MISSING
KEEP_MISSING_OPEN = lib.SB_STAT_MISSING_OPEN
STATC = ffi.offsetof("struct sb_state", "statc")
ENTRY = struct.Struct(f"<II{lib.SB_STAT_PATH}s144s")
SLOTS = lib.SB_STAT_CACHE
PROBES = 8  # as stat_slot in untrusted_runtime/fd_io.c
MASK64 = (1 << 64) - 1
assert ENTRY.size == ffi.sizeof("struct sb_statcache")


# -- what the runtime may keep ------------------------------------------------

def _plainly_allowed(sb, call: str, path: str, flags: int) -> bool:
    """The policy allows call on path (not logs it) whatever else it is given."""
    static = sb.policy.static_decision(call, False)
    if static is None or static.action != ALLOW:  # it looks at other arguments, or says no
        return False
    if not sb.policy.paths:
        return True
    env = {"dirfd": lib.AT_FDCWD, "path": path, "flags": flags, "statbuf": 0, "mode": 0}
    return sb.policy.decide(call, env).action == ALLOW


def keeps(sb) -> bool:
    """The stat being served may be kept: its decision was a plain allow that
    no argument but the path decides (a path gets the same one next time)."""
    d = getattr(sb, "last_decision", None)
    return d is not None and d.action == ALLOW and sb.policy.static_decision("newfstatat", False) is not None


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
    if not keeps_open(sb) or sb.view.frozen_stat(path) != errno.ENOENT:
        return False
    if not _plainly_allowed(sb, "newfstatat", judged(path), 0):
        return False
    noted(sb, path)
    return True


def keeps_open(sb) -> bool:
    d = getattr(sb, "last_decision", None)
    return d is not None and d.action == ALLOW and sb.policy.static_decision("openat", False) is not None


def noted(sb, path: str) -> None:
    """path's answer was kept: a shared warm start remembers it."""
    if sb.warm is not None:
        sb.warm.note(sb.view, path)


# -- the warm start -------------------------------------------------------------

def slot_hash(path: bytes, flags: int) -> int:
    """FNV-1a over the path, seeded with the flags: stat_slot's in fd_io.c."""
    h = 1469598103934665603 ^ flags
    for b in path:
        h = ((h ^ b) * 1099511628211) & MASK64
    return h


def _view_key(view) -> tuple:
    """What decides frozen_stat's answers: the read-only mounts, and where the
    writable ones sit (not their host directory: a run's private /tmp)."""
    return tuple((m.vparts, None if m.writable else m.host, m.name) for m in view.mounts)


class WarmStart:
    """Paths that runs sharing this looked up on read-only mounts, by view
    (the mounts they were made in).  A run that shares it starts with their
    answers, looked up again as it starts, in its stat cache.

    Share one only between runs you trust alike: a run can read in its own
    memory which paths the runs before it looked up."""

    def __init__(self, limit: int = SLOTS * 3 // 4, views: int = 16):
        self.limit = limit  # paths per view
        self.views = views
        self._paths: OrderedDict[tuple, dict[str, int]] = OrderedDict()  # view -> path -> hash

    def note(self, view, path: str) -> None:
        key = _view_key(view)
        paths = self._paths.get(key)
        if paths is None:
            paths = self._paths[key] = {}
            while len(self._paths) > self.views:
                self._paths.popitem(last=False)
        raw = path.encode("utf-8", "surrogateescape")
        if path not in paths and len(paths) < self.limit and 0 < len(raw) < lib.SB_STAT_PATH:
            paths[path] = slot_hash(raw, 0)

    def entries(self, sb) -> list[tuple[int, bytes]]:
        """The stat cache entries sb starts with, as (offset in sb_state, bytes)."""
        paths = self._paths.get(_view_key(sb.view))
        if not paths or sb.policy.static_decision("newfstatat", False) is None:
            return []
        taken: set[int] = set()
        out = []
        for path, h in list(paths.items()):
            if not _plainly_allowed(sb, "newfstatat", judged(path), 0):
                continue
            answer = sb.view.frozen_stat(path)
            if answer is None:
                continue
            slot = next((s for s in ((h + i) % SLOTS for i in range(PROBES)) if s not in taken), None)
            if slot is None:
                continue
            taken.add(slot)
            raw = path.encode("utf-8", "surrogateescape")
            if answer == errno.ENOENT:
                entry = ENTRY.pack(missing_kept(sb, path), 0, raw, b"")
            else:
                entry = ENTRY.pack(KEEP_FOUND, 0, raw, answer)
            out.append((STATC + slot * ENTRY.size, entry))
        return out
