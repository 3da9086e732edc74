"""A stub process started ahead of its sandbox, standing by (the stub's
`--standby`): a start sends it its fds (SCM_RIGHTS) and numbers (struct
sb_standby) instead of starting a process, which cost 0.2-0.3 ms of the
start's critical path (Popen, and the stub's exec), and sends them early:
the stub copies the image in while the broker lays out the rest.

One stands by at a time, for this process; the thread that tidies up after
runs (afterwards.py) starts it once no sandbox has run for QUIET.  It is
used only while it is what a process started then would be: the same stub
file, this process's credentials, cgroups and resource limits, no more fds
than fit.  It has nothing of any sandbox until one takes it, and it goes
with this process: its socket closes, and it dies with the thread that
started it (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import atexit
import errno
import os
import resource
import socket
import subprocess
import threading
import time
from typing import Callable, NamedTuple

from . import afterwards
from ._native import ffi, lib


class Standby(NamedTuple):
    proc: subprocess.Popen
    sock: socket.socket
    key: tuple


_lock = threading.Lock()
_ready: Standby | None = None  # under _lock
_closing = False  # this process is exiting: none is started any more
QUIET = 0.01  # seconds with no sandbox running before a standby is started


def _key(stub: str) -> tuple:
    """What a standby for stub must have been started with: what a process
    started now would inherit (the broker's own RLIMIT_NOFILE above all: the
    stub places fds below it), and the stub file as it is."""
    try:
        st = os.stat(stub)
        with open("/proc/self/cgroup", "rb") as f:
            cgroups = f.read()
    except OSError:
        return ()  # (then none is started, nor taken)
    return (stub, os.getpid(), tuple(resource.getrlimit(r) for r in range(lib.SB_RLIMITS)),
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns),
            os.getresuid(), os.getresgid(), tuple(os.getgroups()), cgroups)


def take(stub: str) -> Standby | None:
    """The standby, if one stands by fit for a start of stub now (else the
    start starts its stub itself): the start sends it what it has (send),
    the last message once its boot block is whole."""
    global _ready
    with _lock:
        s, _ready = _ready, None
    if s is None:
        return None
    if not s.key or s.key != _key(stub) or s.proc.poll() is not None:
        let_go(s)
        return None
    return s


def send(s: Standby, fds: dict[int, int], *, arena_fd: int, clock_fd: int, spawn_fd: int,
         copies: list[tuple[int, int, int, int, int]] = (), last: bool = False) -> None:
    """Sends s fds ({number in the stub: our fd}, as Popen's stdin, stdout,
    stderr and pass_fds would have put them) and copies (struct sb_copy) to
    make at once; the last message ends its wait.  OSError (then it goes)
    if it is gone, or what it is sent would not fit in its fd table."""
    cpus = os.sched_getaffinity(0)  # (this thread's, as a process it started would have)
    m = ffi.new("struct sb_standby *")
    at = list(fds)
    if (len(at) > lib.SB_STANDBY_FDS or len(copies) > lib.SB_MAX_COPIES
            or max(at, default=0) + 2 * len(at) + 8 >= s.key[2][resource.RLIMIT_NOFILE][0]
            or max(cpus) >= 64 * len(m.cpus)):
        let_go(s)
        raise OSError(errno.EMFILE, "too much for a standby stub")
    m.magic, m.version, m.last, m.nfds = lib.SB_MAGIC, lib.SB_ABI_VERSION, last, len(at)
    m.at[0:len(at)] = at
    m.arena_fd, m.clock_fd, m.spawn_fd, m.ncopies = arena_fd, clock_fd, spawn_fd, len(copies)
    for i, (start, n, offset, fd, flags) in enumerate(copies):
        m.copies[i].start, m.copies[i].len, m.copies[i].off, m.copies[i].fd = start, n, offset, fd
        m.copies[i].flags = flags
    for c in cpus:
        m.cpus[c // 64] |= 1 << (c % 64)
    try:
        socket.send_fds(s.sock, [bytes(ffi.buffer(m))], list(fds.values()))
    except OSError:
        let_go(s)
        raise
    if last:
        s.sock.close()


def refill_later(stub: str, busy: Callable[[], bool]) -> None:
    """Has one stand by for stub once this process has run no sandbox for
    QUIET (busy() says whether it runs one): one that runs them back to
    back has no idle time to start it in, and starting it beside a run
    would slow that run more than it speeds up the next start."""
    since, pid = time.monotonic(), os.getpid()

    def job() -> bool:
        if _closing or os.getpid() != pid or busy():
            return True  # (not now: the next run's end tries again; in a forked child, never)
        left = since + QUIET - time.monotonic()
        if left > 0:
            time.sleep(min(left, 0.002))  # (then the other jobs go first)
            return False
        _refill(stub)
        return True

    afterwards.later(job)


def _refill(stub: str) -> None:
    global _ready
    key = _key(stub)
    with _lock:
        if _closing or not key or (_ready is not None and _ready.key == key):
            return
        old, _ready = _ready, None
    if old is not None:
        let_go(old)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        proc = subprocess.Popen([stub, "--standby", str(theirs.fileno()), str(os.getpid())],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                                close_fds=True, env={}, process_group=0, cwd="/")
    except OSError:  # (starts go on without one)
        ours.close()
        return
    finally:
        theirs.close()
    new = Standby(proc, ours, key)
    with _lock:
        keep = not _closing and _ready is None
        if keep:
            _ready = new
    if not keep:
        let_go(new)


def pid() -> int | None:
    """The standby's process id, if one stands by (it is no sandbox)."""
    s = _ready
    return s.proc.pid if s is not None else None


def fds() -> int:
    """How many fds of this process the standby holds (its socket's end)."""
    return int(_ready is not None)


def let_go(s: Standby) -> None:
    """It ends (its socket closes) and is reaped (a start that failed)."""
    s.sock.close()
    s.proc.kill()
    s.proc.wait()


def _exiting() -> None:
    global _closing, _ready
    with _lock:
        _closing, s, _ready = True, _ready, None
    if s is not None:
        let_go(s)


def _forked() -> None:
    """A child's standby would be its parent's child: it is not the child's
    to use, nor to end (only its copy of the socket closes)."""
    global _lock, _ready
    s, _ready, _lock = _ready, None, threading.Lock()
    if s is not None:
        s.sock.close()
        s.proc.returncode = 0  # (not ours to reap: not a child of this process)


os.register_at_fork(after_in_child=_forked)
atexit.register(_exiting)  # (before afterwards' own wait: registered after it, run before it)
