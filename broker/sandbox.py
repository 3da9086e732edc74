"""One sandbox: its arena, channel, process, fd table and the reason it ended."""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import socket
import stat as stat_mod
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field
from importlib import resources

from . import calls, clock, kernel, loader, protocol, virtual
from .arena import Arena
from .fsview import View
from .policy import Policy
from ._native import ffi, lib

STUB = "strictbox-stub"
CLOSING = loader.BASE + ffi.offsetof("struct sb_state", "nclosing")
CALLS_LOCAL = loader.BASE + ffi.offsetof("struct sb_state", "calls_local")
KERNEL_TERMIOS = 36
MAX_BURST = 16  # requests served from one sandbox before the loop turns to the others
LOG_LIMIT = 1000  # log lines kept per sandbox; a program can make denied calls forever
RUNTIME_EXITS = {125: "the runtime lost its broker channel",
                 126: "the runtime received a malformed reply",
                 127: "the stub failed to start (see its message on stderr)"}


class BoundedLog(list):
    """The sandbox's log: the first LOG_LIMIT lines, then a count of the rest."""

    def __init__(self):
        super().__init__()
        self.dropped = 0

    def append(self, line: str) -> None:
        if len(self) < LOG_LIMIT:
            super().append(line)
            return
        self.dropped += 1
        if self.dropped == 1:
            super().append("")
        self[-1] = f"... and {self.dropped} more log lines not kept"


@dataclass
class Limits:
    memory: int = 1 << 30  # the arena's size
    cpu: float | None = None  # seconds of CPU time
    wall: float | None = None  # seconds of wall-clock time
    open_files: int = 256
    output: int = 256 << 20  # captured bytes per stream
    threads: int = 1
    file_size: int | None = None  # bytes a written file may reach (EFBIG past it)


@dataclass
class Identity:
    uid: int = 1000
    gid: int = 1000
    hostname: str = "strictbox"
    pid: int = 2


@dataclass
class Outcome:
    returncode: int | None = None
    reason: str | None = None  # set when strictbox (not the program) ended the run


def stub_path() -> str:
    override = os.environ.get("STRICTBOX_STUB")
    if override:
        return override
    return str(resources.files("strictbox").joinpath(STUB))


def _stdio_record(fd: int):
    """What the runtime answers locally about an inherited stdio fd."""
    try:
        stat = kernel.stat_bytes(fd)
    except OSError:
        return None
    isatty = os.isatty(fd)
    term, win = b"", b""
    if isatty:
        term = fcntl.ioctl(fd, termios.TCGETS, bytes(KERNEL_TERMIOS))
        win = fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8))
    return (int(isatty), term, win, stat)


@dataclass(eq=False)  # identity: the loop keys its tables by sandbox
class Sandbox:
    argv: list[bytes]
    env: list[bytes]
    program: str  # host path of the executable
    vprogram: str  # its path inside the view
    view: View
    limits: Limits = field(default_factory=Limits)
    identity: Identity = field(default_factory=Identity)
    stdio: tuple[int, int, int] = (0, 1, 2)  # host fds the program inherits
    cwd: str = "/"
    umask: int = 0o022
    policy: Policy = field(default_factory=Policy.permissive)  # asked before every broker call
    tracer: object = None  # trace.Tracer for `strictbox trace` and `learn`; None: no tracing

    def __post_init__(self):
        self.fds: dict[int, calls.OpenFile] = {}
        self.checked_paths: dict[int, str] | None = None  # paths the policy judged, this call
        self.view.virtual = virtual.Files(self)  # /dev, /proc/self, /etc/passwd
        self.rlimits: dict[int, tuple[int, int]] = {}
        self.stats = {"sandbox": 0, "broker": 0, "denied": 0}
        self.log: list[str] = BoundedLog()
        self.outcome = Outcome()
        self.exit_status: int | None = None
        self.proc: subprocess.Popen | None = None
        self.pidfd = -1
        self.clock = clock.for_mode(self.policy.time)  # real, coarse or deterministic
        self._clock_held = False
        self.seq = 0
        self.pending = None  # (request, calls.Wait) while a call waits for an fd or a time
        self.started = 0.0
        self.deadline: float | None = None
        self.done = False

    # -- launch --------------------------------------------------------------

    def start(self) -> None:
        self.arena = Arena(self.limits.memory)
        try:
            self._load()
            parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                self.clock.hold()
                self._clock_held = True
                self.proc = subprocess.Popen(
                    [stub_path(), str(self.arena.fd), str(child.fileno()), str(self.clock.fd),
                     str(os.getpid())],
                    stdin=self.stdio[0], stdout=self.stdio[1], stderr=self.stdio[2],
                    pass_fds=(self.arena.fd, child.fileno(), self.clock.fd), close_fds=True,
                    env={},
                )
            finally:
                child.close()
        except BaseException:
            if self.proc is None:
                self._release_clock()
            self.arena.close()
            raise
        self.chan = parent
        self.chan.setblocking(False)
        self.pid = self.proc.pid
        self.pidfd = os.pidfd_open(self.pid)
        resource.prlimit(self.pid, resource.RLIMIT_CORE, (0, 0))
        if self.limits.cpu is not None:
            secs = max(1, int(-(-self.limits.cpu // 1)))
            resource.prlimit(self.pid, resource.RLIMIT_CPU, (secs, secs + 1))
        self.started = time.monotonic()
        if self.limits.wall is not None:
            self.deadline = self.started + self.limits.wall

    def _load(self) -> None:
        u = os.uname()
        fields = [u.sysname, self.identity.hostname, u.release, u.version, u.machine, "(none)"]
        self._utsname = b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)
        self._stdio = [_stdio_record(fd) for fd in self.stdio]
        for vfd, rec in enumerate(self._stdio):
            if rec is not None:
                status = fcntl.fcntl(self.stdio[vfd], fcntl.F_GETFL) & ~os.O_CLOEXEC
                self.fds[vfd] = calls.OpenFile("stdio", hostfd=os.dup(self.stdio[vfd]), real=vfd,
                                               writable=True, stat=rec[3], status=status)
        self.vprogram, self.argv = loader.script_interpreter(self._open_exec, self.vprogram,
                                                              self.argv)
        prog = loader.open_program(self._open_exec, self.vprogram)
        try:
            self._lay_out(prog, self.argv, self.env, self.vprogram)
        finally:
            prog.close()

    def _lay_out(self, prog: loader.Program, argv: list[bytes], env: list[bytes], vpath: str,
                 signals: list | None = None) -> None:
        """Copies prog into the (empty) image area and writes a fresh sb_state."""
        lay = loader.layout(self.limits.memory, self.limits.threads)
        loaded = loader.load_program(self.arena, prog, lay)
        sp = loader.build_stack(self.arena, lay.stack_top, argv, env, loaded.image,
                                self.identity.uid, self.identity.gid, vpath.encode(),
                                loaded.interp_base)
        fd_host = {vfd: f.real for vfd, f in self.fds.items() if f.kind == "stdio"}
        state = loader.boot_state(lay, self.limits.memory, loaded, sp,
                                  max_threads=self.limits.threads, pid=self.identity.pid,
                                  uid=self.identity.uid, gid=self.identity.gid,
                                  utsname=self._utsname, stdio=self._stdio, fd_host=fd_host,
                                  signals=signals, trace=self.tracer is not None)
        self.arena.write_state(state)

    def exec_program(self, prog: loader.Program, argv: list[bytes], env: list[bytes],
                     vpath: str) -> None:
        """execve from inside: replace the image of this (single-threaded)
        sandbox with prog, which the caller has opened and checked.  Ignored
        signals stay ignored, handlers go back to default, close-on-exec fds
        close.  A failure from here on cannot return to the old image."""
        old = self.arena.state()  # untrusted, but it only decides about this sandbox
        signals = [(lib.SB_SIG_IGN, 0, 0, 0) if old.sig[i].handler == lib.SB_SIG_IGN else (0, 0, 0, 0)
                   for i in range(len(old.sig))]
        lay = loader.layout(self.limits.memory, self.limits.threads)
        start = loader.BASE + lib.SB_STATE_SIZE
        self.arena.zero(start, lay.threads_base - start)
        for vfd in [vfd for vfd, f in self.fds.items() if f.cloexec]:
            calls.fdtable.release(self, vfd)
        for vfd, f in self.fds.items():  # the new image starts with no prefetched files
            if f.slot >= 0 and vfd < lib.SB_MAX_FDS:
                if old.fdc[vfd].flags & lib.SB_FD_DATA:  # the runtime kept the offset
                    pos = min(old.fdc[vfd].pos, old.fdc[vfd].size)
                    if f.hostfd >= 0:
                        os.lseek(f.hostfd, pos, os.SEEK_SET)
                    else:
                        f.pos = pos
                f.slot = -1
        self._lay_out(prog, argv, env, vpath, signals)
        self.argv, self.env, self.vprogram = argv, env, vpath

    def _open_exec(self, vpath: str) -> int:
        """A host fd to read a program from: a regular file in the view."""
        fd = self.view.open(self.view.resolve(vpath, self.cwd), os.O_RDONLY)
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EACCES, "not a regular file")
        return fd

    # -- requests ------------------------------------------------------------

    def deny(self, call: str, why: str, code: int) -> None:
        self.stats["denied"] += 1
        self.log.append(f"denied {call}: {why} ({errno.errorcode.get(code, code)})")

    def on_channel(self) -> None:
        """Serves the requests waiting on the channel, until one has to wait or
        MAX_BURST were served (the loop comes back: the channel stays readable)."""
        for _ in range(MAX_BURST):
            if (self.done or self.pending is not None or self.exit_status is not None
                    or self.outcome.reason is not None):
                return
            try:
                data = self.chan.recv(protocol.MAX_MESSAGE + 1)
            except BlockingIOError:
                return
            except (ConnectionResetError, BrokenPipeError):
                return  # its side closed: the process is ending; its pidfd will say how
            except OSError as e:
                self.kill(f"broker channel error: {e.strerror}")
                return
            if not data:
                # End of file, or a zero-length record: only the latter leaves
                # the channel readable-empty (EAGAIN) on the next try.
                try:
                    more = self.chan.recv(protocol.MAX_MESSAGE + 1)
                except BlockingIOError:
                    self.kill("protocol violation: empty message")
                    return
                except OSError:
                    return
                if more:
                    self.kill("protocol violation: empty message")
                return  # end of file: the process is ending; its pidfd will say how
            try:
                req = protocol.parse(data, self.seq + 1)
            except protocol.ProtocolError as e:
                self.kill(f"protocol violation: {e}")
                return
            self.seq = req.seq
            self._apply_closes()
            if self.tracer is not None:  # the calls served in the sandbox come first
                self.tracer.request(self, req)
            if req.op >= 0:
                if not self._serve(req):
                    return
                continue
            elif req.op == lib.SB_OP_TIME:
                self.stats["broker"] += 1
                out = calls.process.time_now(self)
            elif req.op == lib.SB_OP_EXIT:
                self.exit_status = req.args[0] & 0xFF
                self._signal(signal.SIGKILL)
                return
            else:  # SB_OP_FAULT: the program died of a fault it did not handle
                sig, code, addr, rip = req.args
                code = code - protocol.U64 if code >= protocol.S32_HIGH else code
                name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
                self.fault_signal = sig if 0 < sig < 65 else signal.SIGKILL
                self.kill(f"program killed by {name} (code {code}, address {addr:#x}, at {rip:#x})",
                          returncode=-self.fault_signal)
                return
            if not self._reply(req, out):
                return

    def _apply_closes(self) -> None:
        """Closes the fds the runtime queued (struct sb_state.closing) before
        serving anything else.  Untrusted: it can only close the sandbox's own
        fds, which a close() would do anyway."""
        raw = self.arena.read(CLOSING, 4)
        n = int.from_bytes(raw, "little")
        if not n:
            return
        n = min(n, lib.SB_MAX_CLOSING)
        fds = struct.unpack(f"<{n}i", self.arena.read(CLOSING + 4, 4 * n))
        self.arena.write(CLOSING, bytes(4))
        for fd in fds:
            calls.fdtable.release(self, fd)

    @property
    def pending_deadline(self) -> float | None:
        """The deadline of the call being served again, if it set one."""
        return self.pending[1].deadline if self.pending else None

    def _serve(self, req) -> bool:
        """Serves one call; False if it must wait (self.pending says for what)."""
        try:
            out = calls.serve(self, req.op, req.args)
        except calls.Wait as w:
            self.pending = (req, w)
            return False
        if self.pending is not None:  # it waited: let the program's clock catch up
            out = (out[0], time.monotonic_ns())
        self.pending = None
        return self._reply(req, out)

    def _reply(self, req, out) -> bool:
        try:
            self.chan.send(protocol.reply(req.seq, *out))
        except BlockingIOError:  # only a program that sends without reading fills it
            self.kill("protocol violation: requests sent while earlier replies were left unread")
            return False
        except OSError:  # the process is ending; its pidfd will say how
            return False
        return True

    def resume(self) -> None:
        """A waiting call's fd is ready or its deadline passed: serve it again."""
        if self.pending is not None and not self.done and self.outcome.reason is None:
            if self._serve(self.pending[0]):
                self.on_channel()

    # -- ending --------------------------------------------------------------

    def _signal(self, sig: int) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            pass

    def kill(self, reason: str, returncode: int = -signal.SIGKILL) -> None:
        if self.outcome.reason is None and self.exit_status is None:
            self.outcome.reason = reason
            self.outcome.returncode = returncode
        self._signal(signal.SIGKILL)

    def check_deadline(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline and not self.done:
            self.deadline = None
            self.kill(f"wall-clock timeout after {self.limits.wall:g} s")

    def reap(self) -> None:
        """The process has exited: decide what happened and release everything."""
        _, status, usage = os.wait4(self.pid, 0)
        self.proc.returncode = status
        o = self.outcome
        if self.exit_status is not None:
            o.returncode, o.reason = self.exit_status, None
        elif o.reason is None:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                o.returncode = -sig
                cpu = usage.ru_utime + usage.ru_stime
                if sig == signal.SIGXCPU or (self.limits.cpu and cpu >= self.limits.cpu):
                    o.reason = f"CPU time limit ({self.limits.cpu:g} s) exceeded"
                elif sig == signal.SIGKILL:
                    o.reason = "forbidden direct system call: killed by seccomp strict mode"
                else:
                    o.reason = f"killed by {signal.Signals(sig).name}"
            else:
                code = os.WEXITSTATUS(status)
                o.returncode = code
                o.reason = RUNTIME_EXITS.get(code, f"the runtime exited ({code}) without reporting a status")
        if self.tracer is not None:
            self.tracer.drain(self)
        self._collect_stats()
        self.close()

    def _collect_stats(self) -> None:
        try:
            # counted in the sandbox: untrusted (one field, not the whole state)
            self.stats["sandbox"] = self.arena.read_u64(CALLS_LOCAL)
        except Exception:  # a corrupted arena must not stop the report
            pass

    def _release_clock(self) -> None:
        if self._clock_held:
            self._clock_held = False
            self.clock.release()

    def close(self) -> None:
        self.done = True
        self._release_clock()
        for f in self.fds.values():
            if f.hostfd >= 0:
                os.close(f.hostfd)
        self.fds.clear()
        self.chan.close()
        os.close(self.pidfd)
        self.arena.close()
