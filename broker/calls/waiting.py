"""Calls that wait: sleeps, poll/select and futex.

None of them blocks the broker.  A call that must wait raises Wait with the
host fds to watch and a deadline; the loop serves it again when one is ready
or the deadline passes, and `sb.pending_deadline` then carries the deadline
of the first attempt so a retry does not restart the clock.

futex itself is served inside the sandbox (untrusted_runtime/futex.c); a
timed wait comes here as SB_OP_WAKE_WAIT, watching the thread's wake pipe.
A signal for a thread whose call waits here cancels it: `interrupted`."""

from __future__ import annotations

import errno
import os
import select
import selectors
import struct
import time

from .. import kernel
from .._native import lib
from ..arena import Fault
from .registry import Wait, as_fd, handles

NSEC = 1_000_000_000
TIMER_ABSTIME = lib.TIMER_ABSTIME
CLOCK_REALTIME = lib.CLOCK_REALTIME
POLLIN, POLLPRI, POLLOUT = select.POLLIN, select.POLLPRI, select.POLLOUT
POLLERR, POLLHUP, POLLNVAL = select.POLLERR, select.POLLHUP, select.POLLNVAL
FD_SETSIZE = 1024
MAX_WAIT_NS = 10**9 * NSEC  # about 31 years: longer is forever


def _timespec(sb, addr: int) -> float:
    sec, nsec = struct.unpack("<qq", sb.arena.read(addr, 16))
    if sec < 0 or not 0 <= nsec < NSEC:
        raise OSError(errno.EINVAL, "bad timespec")
    return sec + nsec / NSEC


def _deadline(sb, seconds: float | None) -> float | None:
    """The monotonic deadline for a wait of `seconds`, fixed at the first attempt."""
    if sb.pending_deadline is not None:
        return sb.pending_deadline
    return None if seconds is None else time.monotonic() + seconds


def _abs_to_relative(clock: int, when: float) -> float:
    now = time.clock_gettime(CLOCK_REALTIME if clock == CLOCK_REALTIME else time.CLOCK_MONOTONIC)
    return max(0.0, when - now)


def _sleep(sb, seconds: float | None) -> int:
    deadline = _deadline(sb, seconds)
    if deadline is not None and time.monotonic() >= deadline:
        return 0
    raise Wait([], deadline)


# -- sleeping ----------------------------------------------------------------

@handles("nanosleep")
def sys_nanosleep(sb, req, rem, *_):
    return _sleep(sb, _timespec(sb, req))


@handles("clock_nanosleep")
def sys_clock_nanosleep(sb, clock, flags, req, rem, *_):
    if clock not in (lib.CLOCK_REALTIME, lib.CLOCK_MONOTONIC, lib.CLOCK_BOOTTIME, lib.CLOCK_TAI):
        return -errno.EINVAL
    t = _timespec(sb, req)
    if flags & TIMER_ABSTIME and sb.pending_deadline is None:
        t = _abs_to_relative(clock, t)
    return _sleep(sb, t)


# -- poll and select ------------------------------------------------------------

def _ready(sb, fd: int, events: int) -> int:
    """poll(2) revents for one virtual fd, without waiting."""
    f = sb.fds.get(fd)
    if f is None:
        return POLLNVAL
    if f.hostfd < 0 or f.kind not in ("pipe", "stdio"):
        return events & (POLLIN | POLLOUT)  # files and directories never block
    p = select.poll()
    p.register(f.hostfd, events)
    got = p.poll(0)
    return got[0][1] if got else 0


def _watch(sb, fds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for fd, events in fds:
        f = sb.fds.get(fd)
        if f is not None and f.hostfd >= 0:
            ev = (selectors.EVENT_READ if events & (POLLIN | POLLPRI) else 0) | \
                 (selectors.EVENT_WRITE if events & POLLOUT else 0)
            out.append((f.hostfd, ev or selectors.EVENT_READ))  # HUP/ERR still wake a reader
    return out


def _poll(sb, fds_addr: int, nfds: int, timeout: float | None) -> int:
    nfds &= 0xFFFFFFFF  # an unsigned int in the kernel
    if nfds > sb.fd_limit:
        return -errno.EINVAL
    raw = sb.arena.read(fds_addr, 8 * nfds) if nfds else b""
    entries = [struct.unpack_from("<ihh", raw, 8 * i) for i in range(nfds)]
    revents = [_ready(sb, fd, ev & 0xFFFF | POLLERR | POLLHUP) if fd >= 0 else 0
               for fd, ev, _ in entries]
    ready = sum(1 for r in revents if r)
    deadline = _deadline(sb, timeout)
    if not ready and (deadline is None or time.monotonic() < deadline):
        raise Wait(_watch(sb, [(fd, ev) for fd, ev, _ in entries if fd >= 0]), deadline)
    out = b"".join(struct.pack("<ihh", fd, ev, r & 0xFFFF)
                   for (fd, ev, _), r in zip(entries, revents))
    if out:
        sb.arena.write(fds_addr, out)
    return ready


@handles("poll")
def sys_poll(sb, fds, nfds, timeout_ms, *_):
    ms = as_fd(timeout_ms)
    return _poll(sb, fds, nfds, None if ms < 0 else ms / 1000)


@handles("ppoll")
def sys_ppoll(sb, fds, nfds, tsp, sigmask, *_):
    return _poll(sb, fds, nfds, _timespec(sb, tsp) if tsp else None)


def _select(sb, nfds: int, addrs: tuple[int, int, int], timeout: float | None) -> int:
    nfds = as_fd(nfds)
    if nfds < 0:
        return -errno.EINVAL
    nfds = min(nfds, FD_SETSIZE)  # Linux: no further than its fd table reaches
    size = (nfds + 63) // 64 * 8
    sets = [int.from_bytes(sb.arena.read(a, size), "little") if a and size else 0 for a in addrs]
    wanted: dict[int, int] = {}
    for bit, (s, ev) in enumerate(zip(sets, (POLLIN, POLLOUT, POLLPRI))):
        for fd in range(nfds):
            if s >> fd & 1:
                wanted[fd] = wanted.get(fd, 0) | ev
    results = [0, 0, 0]
    count = 0
    for fd, ev in wanted.items():
        r = _ready(sb, fd, ev)
        if r & POLLNVAL:
            return -errno.EBADF
        for i, mask in enumerate((POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI)):
            if ev & (POLLIN, POLLOUT, POLLPRI)[i] and r & mask:
                results[i] |= 1 << fd
                count += 1
    deadline = _deadline(sb, timeout)
    if not count and (deadline is None or time.monotonic() < deadline):
        raise Wait(_watch(sb, list(wanted.items())), deadline)
    for a, r in zip(addrs, results):
        if a and size:
            sb.arena.write(a, r.to_bytes(size, "little"))
    return count


@handles("select")
def sys_select(sb, nfds, r, w, e, tvp, *_):
    timeout = None
    if tvp:
        sec, usec = struct.unpack("<qq", sb.arena.read(tvp, 16))
        if sec < 0 or not 0 <= usec < 1_000_000:
            return -errno.EINVAL
        timeout = sec + usec / 1e6
    return _select(sb, nfds, (r, w, e), timeout)


@handles("pselect6")
def sys_pselect6(sb, nfds, r, w, e, tsp, sigmask):
    return _select(sb, nfds, (r, w, e), _timespec(sb, tsp) if tsp else None)


# -- a thread's wake pipe (futex timeouts) and interruptions --------------------

def wake_wait(sb, ch, ns: int) -> int:
    """SB_OP_WAKE_WAIT: a timed futex wait.  0 once a sibling wrote to the
    thread's wake pipe (the runtime then looks whether it was woken),
    ETIMEDOUT after ns."""
    deadline = _deadline(sb, min(ns, MAX_WAIT_NS) / NSEC)
    try:
        os.read(ch.wake, 64)
        return 0
    except BlockingIOError:
        pass
    if time.monotonic() >= deadline:
        return -errno.ETIMEDOUT
    raise Wait([(ch.wake, selectors.EVENT_READ)], deadline)


@handles("pause", "rt_sigsuspend")
def sys_pause(sb, *_):
    """Until a signal: the runtime cancels the wait when one comes."""
    raise Wait([], None)


# Calls the kernel never restarts after a handler ran (ERESTARTNOHAND);
# the others restart if the handler has SA_RESTART (ERESTARTSYS).
NO_RESTART_AFTER_HANDLER = {"poll", "ppoll", "select", "pselect6", "nanosleep", "clock_nanosleep",
                            "pause", "rt_sigsuspend"}
ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND = 512, 513, 514


def interrupted(sb, req, wait: Wait) -> int:
    """The answer to a waiting call a signal interrupted (the runtime turns
    it into a restart or EINTR).  nanosleep reports the time left."""
    if getattr(wait, "remap", False):  # a mapping or remap waits for its turn: after
        return -ERESTARTNOINTR  # the handler the call starts again, as if never begun
    if req.op < 0:  # SB_OP_WAKE_WAIT
        return -ERESTARTNOHAND
    name = kernel.SYSCALL_NAME.get(req.op)
    if name == "clone":  # waiting for the pool to grow: after the handler, as on
        return -ERESTARTNOINTR  # Linux, the call starts again (and claims a slot)

    rem = {"nanosleep": req.args[1], "clock_nanosleep": req.args[3]}.get(name, 0)
    relative = name != "clock_nanosleep" or not req.args[1] & TIMER_ABSTIME
    if rem and relative and wait.deadline is not None:
        left = max(0.0, wait.deadline - time.monotonic())
        try:
            sb.arena.write(rem, struct.pack("<qq", int(left), int(left % 1 * NSEC)))
        except Fault:
            pass
    return -ERESTARTNOHAND if name in NO_RESTART_AFTER_HANDLER else -ERESTARTSYS
