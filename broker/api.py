"""strictbox.run: the Python front, shaped like subprocess.run."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from .fsview import MountError, View
from .kernel import host_problem
from .loader import ExecError
from .loop import Broker
from .sandbox import Identity, Limits, Sandbox

DEFAULT_RO = ("/usr", "/lib", "/lib64", "/bin", "/sbin")
DEFAULT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


class StrictboxError(Exception):
    """strictbox could not start the program; the message says why."""


@dataclass
class RunResult:
    args: list[str]
    returncode: int  # the program's exit status, or -N for signal N
    stdout: bytes | None = None
    stderr: bytes | None = None
    reason: str | None = None  # why strictbox ended the run, if it did
    stats: dict[str, int] = field(default_factory=dict)  # calls by where they were served
    log: list[str] = field(default_factory=list)  # denied and unknown calls


def parse_mount(spec: str, writable: bool) -> tuple[str, str, bool]:
    """HOST[:PATH] -> (host, virtual path, writable)."""
    host, sep, vpath = spec.partition(":")
    host = os.path.abspath(host)
    return host, (vpath if sep else host), writable


def find_program(name: str) -> str:
    path = name if "/" in name else shutil.which(name)
    if not path or not os.path.isfile(path):
        raise StrictboxError(f"{name}: program not found")
    return os.path.abspath(path)


def prepare(argv, *, ro=(), rw=(), memory=None, cpu=None, timeout=None, env=None,
            cwd="/", stdio=(0, 1, 2), identity=None) -> Sandbox:
    if not argv:
        raise StrictboxError("no program given")
    problem = host_problem()
    if problem:
        raise StrictboxError(problem)
    program = find_program(os.fsdecode(argv[0]))
    mounts = [(p, p, False) for p in DEFAULT_RO if os.path.exists(p)]
    mounts += [parse_mount(s, False) for s in ro] + [parse_mount(s, True) for s in rw]
    try:
        view = View.build(mounts)
        try:
            view.resolve(program)
        except OSError:  # the program lies outside the view: show just that file
            view.close()
            view = View.build(mounts + [(program, program, False)])
    except MountError as e:
        raise StrictboxError(str(e)) from None
    limits = Limits()
    if memory is not None:
        limits.memory = memory
    limits.cpu, limits.wall = cpu, timeout
    environ = DEFAULT_ENV if env is None else env
    return Sandbox(
        argv=[os.fsencode(a) for a in argv],
        env=[os.fsencode(f"{k}={v}") for k, v in environ.items()],
        program=program, vprogram=program, view=view, limits=limits,
        identity=identity or Identity(), stdio=stdio, cwd=cwd,
    )


def _fd_of(stream, default: int) -> int:
    if stream is None:
        return default
    if stream == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return stream if isinstance(stream, int) else stream.fileno()


def run(argv, *, stdin=None, input: bytes | None = None, stdout=None, stderr=None,
        capture_output: bool = False, timeout: float | None = None, **options) -> RunResult:
    """Runs argv in a new sandbox and waits for it.

    stdin/stdout/stderr take None (inherit), a file object or fd, or
    subprocess.DEVNULL; input feeds bytes to stdin; capture_output collects
    stdout and stderr.  Other options: ro, rw (lists of HOST[:PATH]), memory
    (bytes), cpu (seconds), env (dict), cwd, identity."""
    opened: list[int] = []
    capture: dict[int, bytearray] = {}
    feed = None
    fds = [_fd_of(stdin, 0), _fd_of(stdout, 1), _fd_of(stderr, 2)]
    if input is not None:
        r, w = os.pipe2(os.O_CLOEXEC)
        fds[0], feed = r, (w, input)
        opened.append(r)
    bufs = {}
    if capture_output:
        for i in (1, 2):
            r, w = os.pipe2(os.O_CLOEXEC)
            fds[i] = w
            opened.append(w)
            bufs[i] = capture[r] = bytearray()
    try:
        sb = prepare(argv, timeout=timeout, stdio=tuple(fds), **options)
        broker = Broker()
        try:
            broker.add(sb, capture=capture, feed=feed)
        except ExecError as e:
            raise StrictboxError(str(e)) from None
        finally:
            for fd in opened:  # the child has its copies now
                os.close(fd)
            opened.clear()
        broker.run()
    except BaseException:
        for fd in opened + list(capture):
            os.close(fd)
        if feed:
            os.close(feed[0])
        raise
    finally:
        if "sb" in locals():
            sb.view.close()
    return RunResult(
        args=[os.fsdecode(a) for a in argv], returncode=sb.outcome.returncode,
        stdout=bytes(bufs[1]) if capture_output else None,
        stderr=bytes(bufs[2]) if capture_output else None,
        reason=sb.outcome.reason, stats=dict(sb.stats), log=list(sb.log),
    )
