"""strictbox.run: the Python front, shaped like subprocess.run."""

from __future__ import annotations

import contextlib
import os
import signal
import shutil
import subprocess
from dataclasses import dataclass, field

from .fsview import MountError, View, split
from .kernel import host_problem
from .loader import ExecError
from .loop import Broker
from .policy import Policy, PolicyError, apply
from .policy import resolve as resolve_policy
from .sandbox import Identity, Limits, Sandbox

DEFAULT_RO = ("/usr", "/lib", "/lib64", "/bin", "/sbin")
DEFAULT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
PRIVATE_TMP = "/tmp"  # a fresh, empty, writable host directory per run
MAX_THREADS = 256  # each costs the stub three fds and 64 KiB of the arena


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
            cwd="/", stdio=(0, 1, 2), identity=None, policy=None, tracer=None,
            max_threads=None, warm=None) -> Sandbox:
    """A Sandbox ready to start; release() it when done.  Unless something is
    mounted at /tmp, the program gets a private, empty, writable one."""
    if not argv:
        raise StrictboxError("no program given")
    if warm is not None and tracer is not None:  # (learn would miss what it answers)
        raise StrictboxError("a traced run cannot start warm: every lookup must reach the broker")
    problem = host_problem()
    if problem:
        raise StrictboxError(problem)
    program = find_program(os.fsdecode(argv[0]))
    try:
        pol = Policy.permissive() if policy is None else resolve_policy(policy)
        pol_mounts, pol_tmp = apply.mount_specs(pol)
    except (PolicyError, OSError) as e:
        raise StrictboxError(f"policy: {e}") from None
    mounts = [(p, p, False) for p in DEFAULT_RO if os.path.exists(p) and pol.system_mounts]
    mounts += pol_mounts  # the options below come later, so they win
    mounts += [parse_mount(s, False) for s in ro] + [parse_mount(s, True) for s in rw]
    private_tmp = None  # (made when the program first looks there)
    if not any(split(os.path.normpath(v)) == split(PRIVATE_TMP) for _, v, _ in mounts):
        private_tmp = PRIVATE_TMP
    view = None
    try:
        try:  # the private /tmp may hide a program built in the host's /tmp
            view = View.build(mounts, private_tmp)
            if not _shows(view, program):  # outside the view, or hidden (say by /tmp)
                for d in view.close():
                    remove_private_tmp(d)
                view = None
                view = View.build(mounts + [(program, program, False)], private_tmp)
        except MountError as e:
            raise StrictboxError(str(e)) from None
        limits = Limits()
        apply.fill_limits(pol, limits)  # then the explicit arguments win
        if memory is not None:
            limits.memory = memory
        limits.cpu = cpu if cpu is not None else limits.cpu
        limits.wall = timeout if timeout is not None else limits.wall
        if max_threads is not None:
            limits.threads = max_threads
        if not 1 <= limits.threads <= MAX_THREADS:
            raise StrictboxError(f"max threads must be 1 to {MAX_THREADS}, not {limits.threads}")
        if identity is None:
            identity = Identity()
            apply.fill_identity(pol, identity)
        environ = DEFAULT_ENV if env is None else env
        sb = Sandbox(
            argv=[os.fsencode(a) for a in argv],
            env=[os.fsencode(f"{k}={v}") for k, v in environ.items()],
            program=program, vprogram=program, view=view, limits=limits,
            identity=identity or Identity(), stdio=stdio, cwd=cwd, policy=pol, tracer=tracer,
            warm=warm,
        )
    except BaseException:
        for d in pol_tmp + (view.close() if view is not None else []):
            remove_private_tmp(d)
        raise
    sb.policy_tmp = pol_tmp  # release() removes these, the policy's tmp mounts
    sb.on_exit = lambda: release(sb)
    return sb


def _shows(view: View, path: str) -> bool:
    """Whether the view shows the host file at path under that same path."""
    try:
        fd = view.open(view.resolve(path), os.O_PATH)
    except OSError:
        return False
    try:
        seen, real = os.fstat(fd), os.stat(path)
        return (seen.st_dev, seen.st_ino) == (real.st_dev, real.st_ino)
    finally:
        os.close(fd)


def remove_private_tmp(path: str) -> None:
    """Removes a run's /tmp, also where the program took away permissions
    (chmod 0 on a directory would stop rmtree when the broker is not root).
    The program no longer runs, and rmtree follows no symlink it left."""
    try:
        os.rmdir(path)  # most runs leave it empty: one call instead of rmtree's dozen
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    try:
        shutil.rmtree(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass

    def open_up(d: str) -> None:
        try:
            if not os.path.islink(d):
                os.chmod(d, 0o700)
        except OSError:
            pass

    open_up(path)
    for root, dirs, _ in os.walk(path):  # top-down: each directory is opened up before it is listed
        for d in dirs:
            open_up(os.path.join(root, d))
    shutil.rmtree(path, ignore_errors=True)


def release(sb: Sandbox) -> None:
    """Everything prepare() set up on the host: the view's fds and the
    private /tmp, if the program made it.  Done as the program exits
    (Sandbox.on_exit), while its process is torn down: the broker serves it
    no more, so nothing looks there or writes there; and again (to no
    effect then) when it ended."""
    sb.on_exit = None
    made = sb.view.close()  # (first: the last close of a removed directory is what deletes it)
    for d in list(getattr(sb, "policy_tmp", ())) + made:
        remove_private_tmp(d)
    sb.policy_tmp = []


def _fd_of(stream, default: int) -> int:
    if stream is None:
        return default
    if stream == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return stream if isinstance(stream, int) else stream.fileno()


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextlib.contextmanager
def _forwarding(sb: Sandbox):
    """Signals to this process go to the sandbox (as the kernel would pick
    a thread) while it runs; Ctrl-C on a terminal reaches it directly when
    it is the terminal's foreground, so it is made so."""
    old = {sig: signal.signal(sig, lambda s, _f: sb.send_signal(s)) for sig in FORWARDED}
    tty = _foreground_tty()
    if tty is not None:
        _set_foreground(tty, sb.pid)
    try:
        yield
    finally:
        if tty is not None:
            _set_foreground(tty, os.getpgrp())
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _foreground_tty() -> int | None:
    try:
        return 0 if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp() else None
    except OSError:
        return None


def _set_foreground(fd: int, pgrp: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # we may be in the background now
    try:
        os.tcsetpgrp(fd, pgrp)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def run(argv, *, stdin=None, input: bytes | None = None, stdout=None, stderr=None,
        capture_output: bool = False, timeout: float | None = None,
        forward_signals: bool = False, **options) -> RunResult:
    """Runs argv in a new sandbox and waits for it.

    stdin/stdout/stderr take None (inherit), a file object or fd, or
    subprocess.DEVNULL; input feeds bytes to stdin; capture_output collects
    stdout and stderr.  Other options: ro, rw (lists of HOST[:PATH]), memory
    (bytes), cpu (seconds), max_threads (the pool, default 64), env (dict),
    cwd, identity, and policy (a
    strictbox.policy.Policy, a built-in profile's name or a TOML file's path;
    its mounts, limits and identity apply unless these options say otherwise;
    tracer: a strictbox.trace.Tracer, which reports every call; warm: a
    strictbox.WarmStart shared by runs you trust alike, which then start
    with the answers to the path lookups of the runs before them).
    forward_signals (main thread only): SIGINT, SIGTERM, SIGHUP and SIGQUIT
    sent to this process go to the program, and a terminal on stdin is
    handed to it while it runs, as a shell would."""
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
    sb = broker = None
    try:
        sb = prepare(argv, timeout=timeout, stdio=tuple(fds), **options)
        broker = Broker(pair=True)
        try:
            broker.add(sb, capture=capture, feed=feed)
            capture, feed = {}, None  # (the broker's now: it closes each at its end)
        except ExecError as e:
            raise StrictboxError(str(e)) from None
        finally:
            for fd in opened:  # the child has its copies now
                os.close(fd)
            opened.clear()
        if forward_signals:
            with _forwarding(sb):
                broker.run()
        else:
            broker.run()
    except BaseException:
        left = [] if broker is None else list(broker.outputs) + list(broker.inputs)
        for fd in set(opened + list(capture) + left + ([feed[0]] if feed else [])):
            os.close(fd)
        raise
    finally:
        if broker is not None:
            broker.close()
        if sb is not None:
            release(sb)
    return RunResult(
        args=[os.fsdecode(a) for a in argv], returncode=sb.outcome.returncode,
        stdout=bytes(bufs[1]) if capture_output else None,
        stderr=bytes(bufs[2]) if capture_output else None,
        reason=sb.outcome.reason, stats=dict(sb.stats), log=list(sb.log),
    )
