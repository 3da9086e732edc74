"""What a run leaves to do once its result is out: free its arena's pages
(~0.5 ms for CPython's, at the last close of the memfd) and reap its
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
import threading
from typing import Callable

_CPUS = os.sched_getaffinity(0)
_cond = threading.Condition()
_jobs: collections.deque = collections.deque()  # under _cond
_busy = False  # the thread is doing one (taken off the deque)
_worker: threading.Thread | None = None


def later(job: Callable[[], None], cpus: set[int] | None = None) -> None:
    """Runs job on the thread (on cpus if given); it must not raise for
    anything but a bug."""
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
            job()  # (without the GIL for the most part: a close, a wait)
        finally:
            with _cond:
                _busy = False
                _cond.notify_all()


def wait() -> None:
    """Returns once every job so far is done: for counting our fds and processes."""
    with _cond:
        while _jobs or _busy:
            _cond.wait()


def reap(pid: int) -> None:
    """A job: waits for our child pid, which has been killed, to be gone."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # (a forked copy of this job: not this process's child)
        pass


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
atexit.register(wait)  # (a caller that exits right after a run leaves no zombie behind)
