"""Timers that end in a signal: alarm, setitimer(ITIMER_REAL) and POSIX
timers (timer_create with SIGEV_SIGNAL, SIGEV_THREAD_ID or SIGEV_NONE).
The broker keeps them and, when one expires, sends the sandbox a real
signal (sandbox.send_signal): a thread blocked in a call is interrupted as
on Linux.  They run on the host's clock whatever the policy's time mode."""

from __future__ import annotations

import errno
import math
import struct
import time
from dataclasses import dataclass

from .._native import lib
from .registry import as_fd, handles

NSEC = 1_000_000_000
ITIMER_REAL = 0
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4
MAX_TIMERS = 64
MAX_SECONDS = 1 << 40
MIN_INTERVAL = 0.001  # a periodic timer fires at most 1000 times a second: the broker keeps it


@dataclass
class Timer:
    sig: int
    slot: int | None = None  # a thread (SIGEV_THREAD_ID), or None: the process
    clock: int = lib.CLOCK_MONOTONIC
    id: int = -1  # timer_create's id; -1: ITIMER_REAL
    value: int = 0  # sigev_value, carried in the signal's siginfo
    deadline: float | None = None  # time.monotonic(); None: disarmed
    interval: float = 0.0
    overrun: int = 0

    def left(self, now: float) -> float:
        return max(0.0, self.deadline - now) if self.deadline is not None else 0.0

    def arm(self, value: float, interval: float, now: float) -> None:
        self.deadline = now + value if value > 0 else None
        self.interval = max(interval, MIN_INTERVAL) if interval > 0 else 0.0


class Timers:
    """A sandbox's timers: id 0 is ITIMER_REAL (and alarm), then timer_create's."""

    def __init__(self):
        self.all: dict[int, Timer] = {0: Timer(lib.SIGALRM)}

    @property
    def next(self) -> float | None:
        deadlines = [t.deadline for t in self.all.values() if t.deadline is not None]
        return min(deadlines) if deadlines else None

    def expired(self, now: float) -> list[Timer]:
        """The timers due by now; periodic ones are rearmed."""
        due = []
        for t in self.all.values():
            if t.deadline is None or t.deadline > now:
                continue
            if t.interval > 0:
                missed = int((now - t.deadline) // t.interval)
                t.overrun = missed
                t.deadline += (missed + 1) * t.interval
            else:
                t.deadline = None
            if t.sig:
                due.append(t)
        return due


def _timeval(raw: bytes, off: int, unit: int) -> float:
    sec, frac = struct.unpack_from("<qq", raw, off)
    if sec < 0 or not 0 <= frac < unit or sec > MAX_SECONDS:
        raise OSError(errno.EINVAL, "bad time value")
    return sec + frac / unit


def _pack(seconds: float, unit: int) -> bytes:
    whole = int(seconds)
    return struct.pack("<qq", whole, min(unit - 1, round((seconds - whole) * unit)))


@handles("alarm")
def sys_alarm(sb, seconds, *_):
    now = time.monotonic()
    t = sb.timers.all[0]
    old = t.left(now)
    t.arm(min(seconds & 0xFFFFFFFF, MAX_SECONDS), 0.0, now)
    return math.ceil(old) if old else 0


def _itimer_check(sb, which: int) -> int:
    if which == ITIMER_REAL:
        return 0
    if which in (1, 2):  # ITIMER_VIRTUAL, ITIMER_PROF: the CPU clocks are the kernel's
        sb.deny("setitimer", "only ITIMER_REAL is served", errno.EINVAL)
    return -errno.EINVAL


@handles("getitimer")
def sys_getitimer(sb, which, curr, *_):
    if (e := _itimer_check(sb, as_fd(which))):
        return e
    t = sb.timers.all[0]
    sb.arena.write(curr, _pack(t.interval, 1_000_000) + _pack(t.left(time.monotonic()), 1_000_000))
    return 0


@handles("setitimer")
def sys_setitimer(sb, which, new, old, *_):
    if (e := _itimer_check(sb, as_fd(which))):
        return e
    raw = sb.arena.read(new, 32) if new else bytes(32)
    interval, value = _timeval(raw, 0, 1_000_000), _timeval(raw, 16, 1_000_000)
    now = time.monotonic()
    t = sb.timers.all[0]
    if old:
        sb.arena.write(old, _pack(t.interval, 1_000_000) + _pack(t.left(now), 1_000_000))
    t.arm(value, interval, now)
    return 0


def _clock_now(clock: int) -> float:
    return time.clock_gettime(lib.CLOCK_REALTIME if clock == lib.CLOCK_REALTIME else time.CLOCK_MONOTONIC)


@handles("timer_create")
def sys_timer_create(sb, clock, sevp, timerid, *_):
    clock = as_fd(clock)
    if clock not in (lib.CLOCK_REALTIME, lib.CLOCK_MONOTONIC, lib.CLOCK_BOOTTIME):
        sb.deny("timer_create", f"clock {clock}: only REALTIME, MONOTONIC and BOOTTIME", errno.EINVAL)
        return -errno.EINVAL
    sig, notify, tid, value = lib.SIGALRM, SIGEV_SIGNAL, 0, None
    if sevp:
        value, sig, notify, tid = struct.unpack("<Qiii", sb.arena.read(sevp, 20))
    timer = Timer(0 if notify == SIGEV_NONE else sig, clock=clock)
    if notify == SIGEV_THREAD_ID:
        timer.slot = sb.slot_of_tid(tid)
        if timer.slot is None:
            return -errno.EINVAL
    elif notify not in (SIGEV_SIGNAL, SIGEV_NONE):
        sb.deny("timer_create", f"notification {notify}: only SIGEV_SIGNAL, _THREAD_ID and _NONE",
                errno.EINVAL)
        return -errno.EINVAL
    if notify != SIGEV_NONE and not 1 <= sig < 65:
        return -errno.EINVAL
    if len(sb.timers.all) > MAX_TIMERS:
        return -errno.EAGAIN
    key = max(sb.timers.all) + 1
    timer.id = key - 1
    timer.value = timer.id if value is None else value  # Linux: no sevp means the id
    sb.arena.write(timerid, struct.pack("<i", timer.id))
    sb.timers.all[key] = timer
    return 0


def _posix_timer(sb, timerid: int) -> Timer | None:
    key = as_fd(timerid) + 1
    return sb.timers.all.get(key) if key > 0 else None


@handles("timer_settime")
def sys_timer_settime(sb, timerid, flags, new, old, *_):
    t = _posix_timer(sb, timerid)
    if t is None:
        return -errno.EINVAL
    raw = sb.arena.read(new, 32)
    interval, value = _timeval(raw, 0, NSEC), _timeval(raw, 16, NSEC)
    now = time.monotonic()
    if old:
        sb.arena.write(old, _pack(t.interval, NSEC) + _pack(t.left(now), NSEC))
    if value and flags & lib.TIMER_ABSTIME:
        value = max(value - _clock_now(t.clock), 1e-9)
    t.arm(value, interval, now)
    return 0


@handles("timer_gettime")
def sys_timer_gettime(sb, timerid, curr, *_):
    t = _posix_timer(sb, timerid)
    if t is None:
        return -errno.EINVAL
    sb.arena.write(curr, _pack(t.interval, NSEC) + _pack(t.left(time.monotonic()), NSEC))
    return 0


@handles("timer_getoverrun")
def sys_timer_getoverrun(sb, timerid, *_):
    t = _posix_timer(sb, timerid)
    return -errno.EINVAL if t is None else min(t.overrun, 0x7FFFFFFF)


@handles("timer_delete")
def sys_timer_delete(sb, timerid, *_):
    key = as_fd(timerid) + 1
    if key <= 0 or key not in sb.timers.all:
        return -errno.EINVAL
    del sb.timers.all[key]
    return 0
