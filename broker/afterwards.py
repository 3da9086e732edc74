"""What a run leaves to do once its result is out: make its arena the next
start's or free its pages (~0.5 ms for CPython's: recycle.py) and reap its
process while the kernel tears it down (its memory map: ~0.4 ms).  One
thread does both, in turn, so that a result waits for neither.  It runs
where the job says, or on the CPUs this process had when it imported us,
not only on the one a paired broker keeps (loop.py): a paired sandbox's
jobs go to its own CPU, which its end leaves idle, so that they do not
slow the next start on the broker's."""

from __future__ import annotations

import atexit
import collections
import os
import select
import threading
import time
import traceback
from typing import Callable

_CPUS = os.sched_getaffinity(0)
_cond = threading.Condition()
_jobs: collections.deque = collections.deque()  # under _cond
_busy = False  # the thread is doing one (taken off the deque)
_worker: threading.Thread | None = None


def later(job: Callable[[], bool | None], cpus: set[int] | None = None) -> None:
    """Runs job on the thread (on cpus if given), and again later while it
    returns False; it must not raise for anything but a bug."""
    global _worker
    with _cond:
        if _worker is None:
            _worker = threading.Thread(target=_work, name="strictbox-afterwards", daemon=True)
            _worker.start()
        _jobs.append((job, cpus or _CPUS))
        _cond.notify_all()


def _work() -> None:
    global _busy
    placed = None
    while True:
        with _cond:
            while not _jobs:
                _cond.wait()
            job, cpus = _jobs.popleft()
            _busy = True
        try:
            if cpus != placed:
                placed = cpus
                try:
                    os.sched_setaffinity(0, cpus)
                except OSError:  # (a cpuset changed): the kernel places it
                    pass
            done = job() is not False  # (without the GIL for the most part: a close, a wait)
        except Exception:  # a bug: shown, and the thread goes on with the rest
            traceback.print_exc()
            done = True
        finally:
            with _cond:
                _busy = False
                if not done:  # (after the others: one that waits must not hold them up)
                    _jobs.append((job, cpus))
                _cond.notify_all()


def wait(timeout: float | None = None) -> bool:
    """Returns once every job so far is done (for counting our fds and
    processes), or False once timeout seconds have passed."""
    end = None if timeout is None else time.monotonic() + timeout
    with _cond:
        while _jobs or _busy:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            _cond.wait(left)
    return True


def readable(fd: int, timeout_ms: int = 0) -> bool:
    """fd is readable within timeout_ms (a pidfd: its process is gone).
    poll, not select: fd numbers pass FD_SETSIZE in a busy broker."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout_ms))


def reap(pidfd: int) -> Callable[[], bool]:
    """A job that reaps our killed child once it is gone (its pidfd, which
    the job closes then), looking a while each turn: one the kernel cannot
    finish killing (stuck in a hung file system) holds up nothing else."""
    def job() -> bool:
        try:
            if os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG) is None:
                if not readable(pidfd, 50):
                    return False
                os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        except ChildProcessError:  # (a forked copy of this job: not this process's child)
            pass
        os.close(pidfd)
        return True
    return job


def _before_fork() -> None:  # (no job half done in the child, none taken off meanwhile)
    _cond.acquire()
    while _busy:
        _cond.wait()


def _forked() -> None:
    """A child has no thread: it does what was queued at the fork (frees its
    copies of arenas; a reap finds no child), and starts its own thread
    when it needs one."""
    global _cond, _jobs, _worker
    queued = list(_jobs)
    _cond, _jobs, _worker = threading.Condition(), collections.deque(), None
    for job, _ in queued:
        job()


os.register_at_fork(before=_before_fork, after_in_parent=lambda: _cond.release(), after_in_child=_forked)
atexit.register(wait, 2.0)  # (a caller that exits right after a run leaves no zombie behind)
