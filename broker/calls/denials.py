"""Calls the runtime denies itself (struct sb_local_denial).

A DENIED row of the syscall table that the policy lets by is denied by the
broker whatever its arguments, with nothing to do but log it.  The runtime
answers such calls itself and counts them; the broker logs the new ones
before each request it serves and at the end, as it would have logged each
(CPython's start makes two socket calls: two round trips fewer).  The
counts are the sandbox's word: at worst they fill its log, which is bounded."""

from __future__ import annotations

from .. import kernel
from .._native import ffi, lib
from ..arena import BASE
from ..policy.enforce import PATH_CALLS
from ..policy.model import ALLOW
from ..syscall_table import DENIED, TABLE

TOTAL = BASE + ffi.offsetof("struct sb_state", "denied_local")
ROWS = BASE + ffi.offsetof("struct sb_state", "denials")
ROW = ffi.sizeof("struct sb_local_denial")
COUNT = ffi.offsetof("struct sb_local_denial", "count")
DENIED_ROWS = [c for c in TABLE if c.where == DENIED and c.name in kernel.SYSCALL_NR]


def table(sb) -> list[tuple[int, int]]:
    """(number, errno) of each call the runtime may deny itself, and
    sb's account of them starts anew; none while traced (every call is
    shown as it comes)."""
    rows = []
    if sb.tracer is None:
        for c in DENIED_ROWS:  # (the policy asked only of these: a start asks it afresh)
            decision = sb.policy.static_decision(c.name, c.name in PATH_CALLS)
            if decision is not None and decision.action == ALLOW and len(rows) < lib.SB_LOCAL_DENIALS:
                rows.append((c.name, c.note, kernel.errno_value(c.errno)))
    sb.local_denials, sb.denials_seen, sb.denied_total = rows, [0] * len(rows), 0
    return [(kernel.SYSCALL_NR[name], code) for name, _, code in rows]


def drain(sb) -> None:
    """Logs the calls the runtime denied itself since the last look."""
    if not sb.local_denials:
        return
    total = sb.arena.state_u32(TOTAL)
    if total == sb.denied_total:
        return
    sb.denied_total = total
    for i, (name, note, code) in enumerate(sb.local_denials):
        count = sb.arena.state_u32(ROWS + i * ROW + COUNT)
        new, sb.denials_seen[i] = (count - sb.denials_seen[i]) & 0xFFFFFFFF, count
        logged = min(new, sb.log.room())
        for _ in range(logged):
            sb.deny(name, note, code)
        if new > logged:  # (past what the log keeps: counted at once)
            sb.stats["denied"] += new - logged
            sb.log.not_kept(new - logged)
