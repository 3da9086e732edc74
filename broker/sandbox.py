"""One sandbox: its arena, channels, process, fd table and the reason it ended."""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import select
import signal
import stat as stat_mod
import struct
import subprocess
import termios
import threading
import time
import weakref
from dataclasses import dataclass, field

from . import (afterwards, calls, clock, kernel, listings, loader, lookups, premaps, protocol, recycle,
               standby, virtual)
from .arena import Arena
from .fsview import View
from .policy import Policy
from ._native import ffi, lib

STUB = "strictbox-stub"
FDEVENTS = loader.BASE + ffi.offsetof("struct sb_state", "nfdevents")
ANSWERED = ffi.offsetof("struct sb_thread", "answered")
FDEVENT = struct.Struct("<iiI")  # struct sb_fdevent
assert FDEVENT.size == ffi.sizeof("struct sb_fdevent")
CALLS_LOCAL = loader.BASE + ffi.offsetof("struct sb_state", "calls_local")
NPINS = loader.BASE + ffi.offsetof("struct sb_state", "boot") + ffi.offsetof("struct sb_boot", "npins")
if ffi.offsetof("struct sb_boot", "pins") != ffi.offsetof("struct sb_boot", "npins") + 4:
    raise ImportError("struct sb_boot: pins must follow npins (one write sets both)")
PINS_SEQ = loader.BASE + ffi.offsetof("struct sb_state", "boot") + ffi.offsetof("struct sb_boot", "pins_seq")
HOST_TID = ffi.offsetof("struct sb_thread", "host_tid")
TID = ffi.offsetof("struct sb_thread", "tid")
KERNEL_TERMIOS = 36
WARM_FIRST = 8  # a warm start's lookups made before the program starts (the rest beside it)
MAX_BURST = 16  # requests served from one sandbox before the loop turns to the others
LOG_LIMIT = 1000  # log lines kept per sandbox; a program can make denied calls forever
KILLED_STRICT = "forbidden direct system call: killed by seccomp strict mode"
RLIM_NONE = (1 << 63) - 1  # (RLIM_INFINITY's and anything past: no limit)
# wait4's user and system time, split at tick grain, may fall a tick or so
# short of the count the kernel held RLIMIT_CPU to (seen: 1.9991 s at 2 s)
CPU_COUNT_SLACK = 0.05
RUNTIME_EXITS = {124: "the spawner failed a request (a thread, a mapping, or the fd it hands over)",
                 125: "the runtime lost its broker channel",
                 126: "the runtime received a malformed reply"}
STUB_FAILED = {127: "the stub failed to start (see its message on stderr)"}
SPAWN_TIMEOUT = 10.0  # seconds a new pool thread may take to stand
# Seconds a mapping or remap waits in place for the spawner's answer (it
# usually comes within tens of µs) before it waits through the loop: a
# round of the loop and serving the call again cost more than the wait.  It
# holds up the other sandboxes of the broker no longer than a large copy
# does.  (A spawn waits through the loop: its thread's ready message comes
# there.)
SPAWNER_PATIENCE = 0.001
SPAWN_NEWS = 64  # messages read from the spawn socket at a time


class BoundedLog(list):
    """The sandbox's log: the first LOG_LIMIT lines, then a count of the rest."""

    def __init__(self):
        super().__init__()
        self.dropped = 0

    def append(self, line: str) -> None:
        if len(self) < LOG_LIMIT:
            super().append(line)
            return
        self.not_kept(1)

    def room(self) -> int:
        """Lines it still keeps."""
        return max(0, LOG_LIMIT - len(self)) if not self.dropped else 0

    def not_kept(self, n: int) -> None:
        if not self.dropped:
            super().append("")
        self.dropped += n
        self[-1] = f"... and {self.dropped} more log lines not kept"


@dataclass
class Limits:
    memory: int = 1 << 30  # the arena's size
    cpu: float | None = None  # seconds of CPU time
    wall: float | None = None  # seconds of wall-clock time
    open_files: int = 256
    output: int = 256 << 20  # captured bytes per stream
    threads: int = 64  # the pool the stub makes: threads that can run at once
    file_size: int | None = None  # bytes a written file may reach (EFBIG past it)
    disk: int | None = None  # bytes it may add to its writable mounts (calls/disk.py)


@dataclass
class Identity:
    uid: int = 1000
    gid: int = 1000
    hostname: str = "strictbox"
    pid: int = 2


@dataclass(eq=False)  # identity: the loop keys its tables by channel
class Channel:
    """One thread slot's broker channel (our end of a non-blocking
    SOCK_SEQPACKET pair: a read is one message), and our end of its wake
    pipe (which SB_OP_WAKE_WAIT watches for the thread)."""
    slot: int
    fd: int
    wake: int  # a non-blocking open of the pipe's read end, ours alone
    seq: int = 0
    pending: tuple | None = None  # (request, calls.Wait) while its call waits
    ready: object = None  # a new pool thread's ready message, answered once it is watched
    cancel: object = None  # a cancel that came while the call's spawner request was out

    @property
    def pending_deadline(self) -> float | None:
        return self.pending[1].deadline if self.pending else None

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.wake)


@dataclass
class Outcome:
    returncode: int | None = None
    reason: str | None = None  # set when strictbox (not the program) ended the run


# Every sandbox of this process from its start until it closes or its start
# fails (weak, but one that is never closed could wait in a reference cycle
# for the collector, and meanwhile hold up the standby: standby.refill_later).
LIVE: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()
_live_lock = threading.RLock()  # (brokers on several threads add, drop and look)


def _forked_live() -> None:  # (a child's copy may have been held by another thread)
    global _live_lock
    _live_lock = threading.RLock()


os.register_at_fork(after_in_child=_forked_live)


def _written(st: os.stat_result) -> bool:
    """Some sandbox of this process has the file open for writing."""
    with _live_lock:
        live = list(LIVE)
    for sb in live:
        for f in list(sb.fds.values()):
            if f.writable and f.kind == "file" and f.hostfd >= 0:
                try:
                    w = os.fstat(f.hostfd)
                except OSError:
                    continue
                if (w.st_dev, w.st_ino) == (st.st_dev, st.st_ino):
                    return True
    return False


def stub_path() -> str:
    override = os.environ.get("STRICTBOX_STUB")
    if override:
        return os.path.abspath(override)  # (the stub starts in /)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), STUB)


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
    cpu: int | None = None  # paired: its main thread's own CPU, next to the broker's (loop.Broker); None: any
    cpus: set[int] | None = None  # ... and the CPUs both get back once the program has two threads
    pin_image: bool = True  # the stub maps the first image's read-only segments from their files
    spawner_patience: float = SPAWNER_PATIENCE  # (0: a call always waits for the spawner through the loop)
    warm: object = None  # a lookups.WarmStart this run learns from and adds to; None: none

    def __post_init__(self):
        self.fds: dict[int, calls.OpenFile] = {}
        # stat cache entry -> a file held for a warm open, the flags it is for
        # (no O_CLOEXEC), and its path as the runtime looks it up
        self.held: dict[int, tuple[calls.OpenFile, int, bytes]] = {}
        self.held_again: set[bytes] = set()  # directories held a second time (lookups.hold_again)
        self.coming: list = []  # stat cache entries reserved, to fill after the answer (lookups._reserve)
        # A warm start's lookups, made a step at a time while the broker has
        # nothing else to do, and their answers until the next request
        # publishes them (lookups.WarmStart.lookups, lookups.publish).
        self.warming = None
        self.warm_ready: list[lookups.Ready] = []
        self._exec_nodes: dict[str, object] = {}  # the programs opened to start, by path
        self.libraries: list = []  # ld.so's first opens, foretold (lookups.foretold_libraries)
        # what the program opens after a stat, learned (lookups.read_ahead)
        self.pyc_tag: str | None = None
        self.dir_open_flags: int | None = None
        self.stat_found = ""  # the path the last stat found on a frozen mount
        self.premaps: list[premaps.Premap] = []  # ... their first mappings, made as it starts
        self.checked_paths: dict[int, str] | None = None  # paths the policy judged, this call
        self.listings = listings.Listings()  # the directories the runtime has listings of
        self.view.virtual = virtual.Files(self)  # /dev, /proc/self, /etc/passwd
        self.view.linux_dots = self._paths_unjudged  # (fsview.View.linux_dots)
        self.rlimits: dict[int, tuple[int, int]] = {}
        self.local_denials: list[tuple[str, str, int]] = []  # calls the runtime denies (calls.denials)
        self.denials_seen: list[int] = []
        self.denied_total = 0
        self.stats = {"sandbox": 0, "broker": 0, "denied": 0}
        self.log: list[str] = BoundedLog()
        self.outcome = Outcome()
        self.exit_status: int | None = None
        self.exited_alone = False  # (exit_requested)
        self.proc: subprocess.Popen | None = None
        self.pidfd = -1
        self.clock = clock.for_mode(self.policy.time)  # real, coarse or deterministic
        self._clock_held = False
        self.chans: list[Channel] = []
        self.cur: Channel | None = None  # the channel whose request is being served
        self._threads_base: int | None = None
        self.thread_pidfds: list[int] = []  # one per pool thread, once the stub is ready
        self.threads_ep: select.epoll | None = None  # ... and an epoll of them
        self._threads_watched = False
        self.watch_channel = None  # the loop's: called with each new channel
        self.unwatch = None  # the loop's: called with an fd at its end (no more news)
        # called once, as the program's own exit is being carried out: what it
        # can no longer touch is released while its process is torn down
        self.on_exit = None
        self.spawn_fd = -1  # our end of the spawn socket (trusted_stub/spawner.c)
        self.next_slot = 1  # the slot the next spawn request is for
        self.spawning = False  # a spawn request is out, until spawn_deadline
        self.asked: bytes | None = None  # ... and it is not a spawn but a remap (b"x") or a mapping (b"m")
        self._remap: tuple[int, int] | None = None  # the range a remap is for
        self._mapping: tuple[int, int] | None = None  # ... a mapping's, and its file's (st_dev, st_ino)
        self._mapped_file: tuple[int, int] | None = None
        self._pins_seq = 0  # the seqlock around the runtime's copy of the pins (even: stable)
        self.spawn_idle = False  # ... its thread is idle
        self.spawn_deadline = 0.0
        self.spawns_ended = 0  # spawn requests that ended
        self.slot_tids: dict[int, int] = {}  # slot -> host tid of its thread, from its pidfd
        self.growers: set[Channel] = set()  # channels whose clones wait for a spawn
        self.woken: list[Channel] = []  # ... whose wait ended while a call waited in place: the loop's to serve
        self._spawn_poll = None  # (select.poll of spawn_fd, for those waits)
        self.timers = calls.timers.Timers()
        self.started = 0.0
        self.clock_started_ns: int | None = None  # the clock page's time as it started
        self.deadline: float | None = None
        self.done = False

    def _paths_unjudged(self) -> bool:
        """No rule of the policy looks at a path: every call that takes one
        is decided whatever its arguments."""
        from .policy.enforce import PATH_CALLS
        return all(self.policy.static_decision(c, True) is not None for c in PATH_CALLS)

    # -- launch --------------------------------------------------------------

    def start(self) -> None:
        lay = loader.layout(self.limits.memory, self.limits.threads)
        self.arena = Arena(self.limits.memory, recycle.spans(lay, self.limits.memory))
        with _live_lock:
            LIVE.add(self)
        child_fds: list[int] = []
        taken = ahead = None  # a standby stub (standby.py); ... once it has its first message
        sent: set[int] = set()  # our fds it has
        try:
            child_fds = self._make_channel(0)
            pair = ffi.new("int[2]")
            err = lib.sb_spawn_socket(pair)
            if err < 0:
                raise OSError(-err, f"cannot make the spawn socket: {os.strerror(-err)}")
            self.spawn_fd = pair[0]
            child_fds.append(pair[1])
            self.clock.hold()
            self._clock_held = True
            child_fds.append(self.arena.sandbox_fd())
            stub, arena_fd, spawn_fd = stub_path(), child_fds[-1], child_fds[-2]
            numbers = {"arena_fd": arena_fd, "clock_fd": self.clock.fd, "spawn_fd": spawn_fd}

            def placed(loaded: loader.Loaded) -> None:
                """The image is placed: a standby copies it in while we lay out the rest."""
                nonlocal taken, ahead
                taken = standby.take(stub)
                if taken is None:
                    return
                spans = loaded.spans()[:lib.SB_MAX_COPIES]  # (the rest: ours to copy)
                image = {s.elf.fd for s in loaded.pinned} | {fd for *_, fd in spans}  # (it closes each)
                fds = {0: self.stdio[0], 1: self.stdio[1], 2: self.stdio[2]}
                fds.update((fd, fd) for fd in (self.clock.fd, *child_fds, *image))
                copies = [(*span, lib.SB_COPY_WHOLE) for span in spans]
                try:
                    standby.send(taken, fds, copies=copies, **numbers)
                except OSError:  # (it is gone: we start a stub ourselves)
                    return
                ahead, self.proc = taken, taken.proc
                sent.update(image)
                loaded.hand_over([], lib.SB_COPY_DONE)  # (the same spans: in the boot block, their fds to close)

            prog, loaded = self._load(placed)
            try:
                image_fds = {s.elf.fd for s in loaded.pinned}  # the stub maps or copies from
                image_fds |= {p.fd for p in self.premaps if p.pinned}  # them, and closes them
                image_fds |= {c[3] for c in loaded.copies}
                if ahead is not None:
                    try:
                        standby.send(ahead, {fd: fd for fd in image_fds - sent}, last=True, **numbers)
                    except OSError:  # (gone meanwhile: what it copied, we copy)
                        ahead = self.proc = None
                        for start, n, offset, fd, flags in loaded.copies:
                            if flags & lib.SB_COPY_DONE:
                                self.arena.copy_in(start, fd, offset, n)
                if ahead is None:
                    self.proc = subprocess.Popen(
                        [stub, str(arena_fd), str(self.clock.fd), str(os.getpid()), str(spawn_fd)],
                        stdin=self.stdio[0], stdout=self.stdio[1], stderr=self.stdio[2],
                        pass_fds=(self.clock.fd, *child_fds, *image_fds),
                        close_fds=True, env={}, process_group=0, cwd="/",
                    )
                # The stub copies in the image's bytes and starts its threads
                # meanwhile; it reads the rest only once we answer its ready message.
                loaded.copy_segments(self.arena)
                premaps.fill(self, self.premaps)
                lookups.first_lookups(self, self.libraries, self.vprogram)
            finally:
                prog.close()
                premaps.close(self.premaps)
        except BaseException:
            if taken is not None:
                standby.let_go(taken)
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait()
            self._release_clock()
            for ch in self.chans:
                ch.close()
            if self.spawn_fd >= 0:
                os.close(self.spawn_fd)
            for f in self.fds.values():
                if f.hostfd >= 0:
                    os.close(f.hostfd)
            self.fds.clear()
            self.drop_held()
            self.arena.close()
            with _live_lock:
                LIVE.discard(self)
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
        self.cur = self.chans[0]
        self.pid = self.proc.pid
        self.pidfd = os.pidfd_open(self.pid)
        resource.prlimit(self.pid, resource.RLIMIT_CORE, (0, 0))
        self.apply_cpu_limit()
        self.started = time.monotonic()
        if self.limits.wall is not None:
            self.deadline = self.started + self.limits.wall

    def apply_cpu_limit(self) -> None:
        """The process's real RLIMIT_CPU: the sandbox's limit (SIGXCPU at it,
        which the runtime reports, SIGKILL a second later), or the lower one
        the program set itself (prlimit64), which the kernel then holds it to
        as Linux would: SIGXCPU at the soft limit, SIGKILL at the hard."""
        if self.limits.cpu is None and calls.process.RLIMIT_CPU not in self.rlimits:
            return  # (none either way: the process keeps the broker's own)
        ours = (RLIM_NONE, RLIM_NONE)
        if self.limits.cpu is not None:
            secs = max(1, int(-(-self.limits.cpu // 1)))
            ours = (secs, secs + 1)
        real = tuple(resource.RLIM_INFINITY if v >= RLIM_NONE else v
                     for v in map(min, ours, self._own_cpu_limit))
        resource.prlimit(self.pid, resource.RLIMIT_CPU, real)

    @property
    def _own_cpu_limit(self) -> tuple[int, int]:
        """The (soft, hard) RLIMIT_CPU the program set itself, or no limit."""
        return self.rlimits.get(calls.process.RLIMIT_CPU, (RLIM_NONE, RLIM_NONE))

    def _make_channel(self, slot: int) -> list[int]:
        """The slot's channel and wake pipe, named in its block of the arena;
        returns the sandbox's ends (channel, pipe's read and write ends),
        which the caller hands over and then closes."""
        fds = ffi.new("int[]", lib.SB_CHANNEL_FDS)
        err = lib.sb_make_channel(fds, self.arena.fd, self.thread_block(slot) - loader.BASE,
                                  self.identity.pid if slot == 0 else 0)
        if err < 0:
            raise OSError(-err, f"cannot make a channel for the sandbox: {os.strerror(-err)}")
        ours, theirs, r, w, wake = fds
        ch = Channel(slot, ours, wake)
        self.chans.append(ch)
        if self.watch_channel is not None:
            self.watch_channel(self, ch)
        return [theirs, r, w]

    def thread_block(self, slot: int) -> int:
        if self._threads_base is None:
            self._threads_base = loader.layout(self.limits.memory, self.limits.threads).threads_base
        return self._threads_base + slot * lib.SB_THREAD_BLOCK

    def _load(self, placed=None) -> tuple[loader.Program, loader.Loaded]:
        """Opens the program and lays out everything but its segments' bytes
        (the caller copies them in and closes the program); placed(loaded)
        is told once the image is placed (_lay_out)."""
        u = os.uname()
        fields = [u.sysname, self.identity.hostname, u.release, u.version, u.machine, "(none)"]
        self._utsname = b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)
        self._stdio = [_stdio_record(fd) for fd in self.stdio]
        for vfd, rec in enumerate(self._stdio):
            if rec is not None:
                status = fcntl.fcntl(self.stdio[vfd], fcntl.F_GETFL) & ~os.O_CLOEXEC
                self.fds[vfd] = calls.OpenFile("stdio", hostfd=os.dup(self.stdio[vfd]), real=vfd,
                                               writable=True, stat=rec[3], status=status)
        prog, self.vprogram, self.argv = loader.open_program(self._open_exec, self.vprogram, self.argv)
        try:
            return prog, self._lay_out(prog, self.argv, self.env, self.vprogram,
                                       pin=self.pin_image, placed=placed)
        except BaseException:
            prog.close()
            premaps.close(self.premaps)
            raise

    def _lay_out(self, prog: loader.Program, argv: list[bytes], env: list[bytes], vpath: str,
                 signals: list | None = None, pin: bool = False, clock_last: int = 0,
                 placed=None) -> loader.Loaded:
        """Places prog in the (empty) image area and writes its stack and a
        fresh sb_state; the segments' bytes are the caller's to copy.  With
        pin (a start: the stub maps them), the read-only ones are pinned, and
        the first mappings of the libraries ld.so will load are made
        (premaps: the caller fills them)."""
        lay = loader.layout(self.limits.memory, self.limits.threads)
        if self.clock_started_ns is None:  # (the sandbox's start, kept across an exec: sysinfo's uptime)
            self.clock_started_ns = self.clock.monotonic_ns()
        loaded = loader.place_program(prog, lay)
        # What runs must not change under the program: a file is pinned only
        # from a read-only mount, and not while a sandbox of this process has
        # it open for writing (Linux would refuse the exec: ETXTBSY); and
        # only if its host mount lets it be mapped executable (may_pin).
        files = [e for e in (prog.main, prog.interp) if pin and e is not None
                 and self._read_only_file(e.name) and self.may_pin(e.fd, os.fstat(e.fd))]
        self._exec_nodes.clear()
        pins = loaded.pin_segments(files)
        dups: dict[int, int] = {}
        for seg in pins:
            lo, hi = seg.pages
            if seg.elf.fd not in dups:
                dups[seg.elf.fd] = os.dup(seg.elf.fd)
            fd = dups[seg.elf.fd]
            self.arena.pin(lo, hi, fd, loader.page_down(seg.offset), running=seg.elf is prog.main)
        boot_pins = [(*seg.pages, loader.page_down(seg.offset), seg.elf.fd) for seg in pins]
        if placed is not None:
            placed(loaded)
        # (at an exec under a warm start, nothing would use them)
        self.libraries = lookups.foretold_libraries(self, prog, env) if pin or self.warm is None else []
        self.premaps = []  # (half the pins stay for the program's own mappings)
        if pin and self._maps_plainly():  # (else the broker must see each mmap: premaps.py)
            self.premaps = premaps.plan(self, self.libraries, loaded, lib.SB_MAX_PINS // 2 - len(boot_pins))
        for p in self.premaps:
            if p.pinned:
                self.arena.pin(p.start, p.start + p.pinned, os.dup(p.fd), 0)
                boot_pins.append((p.start, p.start + p.pinned, 0, p.fd))
        if pin:  # the stub copies in the rest of the image and of the premaps
            rest = [p for p in self.premaps if p.length > p.pinned]
            taken = loaded.hand_over([(p.start + p.pinned, p.length - p.pinned, p.pinned, p.fd)
                                      for p in rest])
            for p in rest[:taken]:
                p.copied = True
        sp = loader.build_stack(self.arena, lay.stack_top, argv, env, loaded.image,
                                self.identity.uid, self.identity.gid, vpath.encode(),
                                loaded.interp_base, loaded.vdso)
        fd_host = {vfd: f.real for vfd, f in self.fds.items() if f.kind == "stdio"}
        state = loader.boot_state(lay, self.limits.memory, loaded, sp,
                                  max_threads=self.limits.threads, pid=self.identity.pid,
                                  uid=self.identity.uid, gid=self.identity.gid,
                                  utsname=self._utsname, stdio=self._stdio, fd_host=fd_host,
                                  signals=signals, trace=self.tracer is not None, cpu=self.cpu,
                                  pins=boot_pins, fd_limit=self.fd_limit, clock_last=clock_last,
                                  premaps=premaps.table(self.premaps),
                                  maps_from_slots=self._maps_plainly(),
                                  rlimits=calls.process.rlimits(self) if self.local_rlimits else (),
                                  local_rlimits=self.local_rlimits,
                                  local_sysinfo=self.policy.allows("sysinfo"), started_ns=self.clock_started_ns,
                                  denials=calls.denials.table(self))
        self.drop_held()
        self.arena.write_state(state)
        self.listings = listings.Listings()  # (the new state has none)
        for vfd, f in self.fds.items():  # what the runtime may answer about each fd
            calls.fdtable.publish(self, vfd, f, prefetch=False)  # (an exec's keep their offsets)
        if self.warm is not None:  # the stat cache gets what earlier runs looked up:
            self.warming = self.warm.lookups(self)
            for _ in range(WARM_FIRST):  # the first few now (a program may look them up
                if not self.warm_step():  # before the broker has been idle once),
                    break
            lookups.publish(self, starting=True)  # the rest beside it as it runs
        return loaded

    def drop_held(self) -> None:
        """Closes the files held for warm opens the program did not make
        (and ends the warm start's lookups and the entries still to fill):
        at a start, an exec and the end."""
        self.warming = None
        self.coming.clear()  # (an exec's answer fills nothing of the image before it)
        self.held_again.clear()
        for r in self.warm_ready:
            if r.file is not None and r.file.hostfd >= 0:
                os.close(r.file.hostfd)
        self.warm_ready.clear()
        for f, *_ in self.held.values():
            if f.hostfd >= 0:  # (a made-up file holds none)
                os.close(f.hostfd)
        self.held.clear()

    def exec_program(self, prog: loader.Program, argv: list[bytes], env: list[bytes],
                     vpath: str) -> None:
        """execve from inside: replace the image of this (single-threaded)
        sandbox with prog, which the caller has opened and checked.  Ignored
        signals stay ignored, handlers go back to default, close-on-exec fds
        close.  A failure from here on cannot return to the old image."""
        calls.denials.drain(self)  # (the old image's: the new state counts anew)
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
                if old.fdc[vfd].flags & lib.SB_FD_DATA:  # the runtime kept the offset (its word)
                    pos = min(old.fdc[vfd].pos, calls.fdtable.MAX_OFFSET)
                    if f.hostfd < 0:
                        f.pos = pos
                    else:
                        try:
                            os.lseek(f.hostfd, pos, os.SEEK_SET)
                        except OSError:  # past what the file system allows: it stays
                            pass
                elif old.fdc[vfd].flags & lib.SB_FD_LISTING:  # ... its place in the listing
                    os.lseek(f.hostfd, calls.fdtable.listing_position(f, old.fdc[vfd].pos), os.SEEK_SET)
                f.slot, f.slots, f.listing = -1, 1, b""
        # (the clocks go on from where the old image left them: never back)
        self._lay_out(prog, argv, env, vpath, signals, clock_last=old.clock_last).copy_segments(self.arena)
        lookups.first_lookups(self, self.libraries, vpath)
        self.argv, self.env, self.vprogram = argv, env, vpath

    def _maps_plainly(self) -> bool:
        """The policy allows every mmap, whatever its arguments: the runtime
        may then copy a mapping of a file a prefetch slot holds whole."""
        return self.policy.allows("mmap")

    def _read_only_file(self, vpath: str) -> bool:
        node = self._exec_nodes.get(vpath) or self.view.resolve(vpath, self.cwd)
        return node.mount is not None and not node.mount.writable

    def _open_exec(self, vpath: str) -> int:
        """A host fd to read a program from: a regular file in the view."""
        node = self.view.resolve(vpath, self.cwd)
        if self.proc is None:  # starting: _read_only_file asks next (an execve never pins)
            self._exec_nodes[vpath] = node
        fd = self.view.open(node, os.O_RDONLY)
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EACCES, "not a regular file")
        return fd

    # -- requests ------------------------------------------------------------

    def deny(self, call: str, why: str, code: int) -> None:
        self.stats["denied"] += 1
        self.log.append(f"denied {call}: {why} ({errno.errorcode.get(code, code)})")

    def on_channel(self, ch: Channel) -> None:
        """Serves the requests waiting on ch, until one has to wait or
        MAX_BURST were served (the loop comes back: the channel stays readable).
        While its call waits, a thread may only cancel it (a signal came)."""
        self.cur = ch
        for _ in range(MAX_BURST):
            if self.done or self.ending:  # nothing it sends matters now
                if self.unwatch is not None:  # (its end hangs up as it dies: no spinning on that)
                    self.unwatch(ch.fd)
                return
            try:
                data = os.read(ch.fd, protocol.MAX_MESSAGE + 1)
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
                    more = os.read(ch.fd, protocol.MAX_MESSAGE + 1)
                except BlockingIOError:
                    self.kill("protocol violation: empty message")
                    return
                except OSError:
                    return
                if more:
                    self.kill("protocol violation: empty message")
                if self.unwatch is not None:  # (so the loop does not spin on it meanwhile)
                    self.unwatch(ch.fd)
                return  # end of file: the process is ending; its pidfd will say how
            try:
                req = protocol.parse(data, ch.seq + 1)
            except protocol.ProtocolError as e:
                self.kill(f"protocol violation: {e}")
                return
            ch.seq = req.seq
            if (req.op == lib.SB_OP_READY) != (req.seq == 1):
                self.kill("protocol violation: a ready message is the first on each channel, and only there")
                return
            if ch.ready is not None:
                self.kill("protocol violation: a request before the ready message's answer")
                return
            if req.op == lib.SB_OP_READY:
                if ch.slot != 0 and ch.slot not in self.slot_tids:  # its pidfd is still to come
                    ch.ready = req
                    continue
                if not self._reply(ch, req, (0,)):
                    return
                if ch.slot == 0:  # (after the answer, which the start waits for: no thread
                    self._watch_threads()  # can come before we serve a clone)
                continue
            if req.op == lib.SB_OP_CANCEL:
                if not self._cancel(ch, req):
                    return
                continue
            if ch.pending is not None:
                self.kill("protocol violation: a request while the thread's call waits")
                return
            if not self._apply_fd_events():
                return
            calls.denials.drain(self)
            lookups.publish(self)
            if self.tracer is not None:  # the calls served in the sandbox come first
                self.tracer.request(self, req)
            if req.op >= 0 or req.op in (lib.SB_OP_WAKE_WAIT, lib.SB_OP_UNPIN):  # calls that may wait
                if not self._serve(ch, req):
                    return
                continue
            elif req.op == lib.SB_OP_TIME:
                self.stats["broker"] += 1
                out = calls.process.time_now(self)
            elif req.op == lib.SB_OP_POKE:
                out = (self.poke(req.args[0]),)
            elif req.op == lib.SB_OP_SPREAD:
                out = (self.spread(),)
            elif req.op == lib.SB_OP_YIELD:  # the round trip was the point
                out = (0,)
            elif req.op == lib.SB_OP_HAND_BACK:
                out = (calls.files.hand_back(self, *req.args),)
            elif req.op == lib.SB_OP_EXIT:
                self.exit_requested(req.args[0] & 0xFF)
                return
            else:  # SB_OP_FAULT: the program died of a fault or signal it did not handle
                sig, code, addr, rip = req.args
                code = code - protocol.U64 if code >= protocol.S32_HIGH else code
                name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
                self.fault_signal = sig if 0 < sig < 65 else signal.SIGKILL
                how = f"(code {code}, address {addr:#x}, at {rip:#x})" if code > 0 else "(sent)"
                own = self._own_cpu_limit[0]
                if sig == signal.SIGXCPU and self.limits.cpu is not None:  # RLIMIT_CPU's warning
                    self.kill(f"CPU time limit ({self.limits.cpu:g} s) exceeded", returncode=-sig)
                elif sig == signal.SIGXCPU and own < RLIM_NONE:
                    self.kill(f"CPU time limit exceeded (the program's own RLIMIT_CPU, {own} s)",
                              returncode=-sig)
                else:
                    self.kill(f"program killed by {name} {how}", returncode=-self.fault_signal)
                return
            if not self._reply(ch, req, out):
                return

    def _cancel(self, ch: Channel, req) -> bool:
        """A signal interrupted the thread's waiting call: answer it now, as
        the kernel would (restart or EINTR, decided by the runtime), then
        the cancel.  A cancel that crossed the answer gets ESRCH, as does
        one that comes while the call's request to the spawner is out: the
        call ends when that does (its mapping is made: a restart would undo
        it), and the cancel after it."""
        target = req.args[0]
        if ch.pending is not None and ch.pending[0].seq == target:
            waiting, wait = ch.pending
            if getattr(wait, "sent", False):  # its spawner request is out: the call ends
                ch.cancel = req  # with it, as if the signal came just after
                return True
            ch.pending = None
            out = (calls.waiting.interrupted(self, waiting, wait), time.monotonic_ns())
            return self._reply(ch, waiting, out) and self._reply(ch, req, (0,))
        if ch.pending is None and target == req.seq - 1:
            return self._reply(ch, req, (-errno.ESRCH,))
        self.kill("protocol violation: cancel of a call that is not waiting")
        return False

    def warm_step(self) -> bool:
        """One step of the warm start's lookups, if any are left (the loop
        takes one when it has nothing else to do)."""
        if self.warming is None or self.done or self.ending:
            return False
        try:
            next(self.warming)
        except StopIteration:
            self.warming = None
        return True

    @property
    def local_rlimits(self) -> bool:
        """The runtime reads the limits itself (only if the policy lets every
        read by; else not even its copy is there)."""
        return self.policy.allows("prlimit64") and self.policy.allows("getrlimit")

    @property
    def fd_limit(self) -> int:
        """New fds are below this: the sandbox's limit, or a lower one the
        program set (RLIMIT_NOFILE's soft limit), as Linux."""
        soft = self.rlimits.get(calls.process.RLIMIT_NOFILE, (self.limits.open_files,))[0]
        return min(self.limits.open_files, soft)

    def _apply_fd_events(self) -> bool:
        """Applies the fd changes the runtime queued (struct sb_fdevent)
        before serving anything else; False if they ended the sandbox.
        Untrusted: a close can only close the sandbox's own fds, which a
        close() would do anyway; a held file goes to a free fd, once."""
        n = self.arena.state_u32(FDEVENTS)
        if not n:
            return True
        n = min(n, lib.SB_MAX_FDEVENTS)
        raw = self.arena.read(FDEVENTS + 4, FDEVENT.size * n)
        self.arena.write(FDEVENTS, bytes(4))
        for fd, entry, flags in FDEVENT.iter_unpack(raw):
            if entry == -1:
                calls.fdtable.release(self, fd, told=True)
                continue
            f, open_flags, raw = self.held.pop(entry, (None, 0, b""))
            if (f is None or not 0 <= fd < min(self.fd_limit, lib.SB_MAX_FDS)
                    or fd in self.fds or flags & ~os.O_CLOEXEC != open_flags):
                if f is not None and f.hostfd >= 0:
                    os.close(f.hostfd)
                self.kill("protocol violation: an open of a file the broker does not hold, "
                          "or at an fd in use")
                return False
            f.cloexec = bool(flags & os.O_CLOEXEC)
            self.fds[fd] = f
            if f.kind == "dir":
                lookups.hold_again(self, entry, raw, open_flags)
        return True

    # The call being served, as the handlers see it (calls/waiting.py).
    @property
    def pending(self):
        return self.cur.pending if self.cur else None

    @pending.setter
    def pending(self, value) -> None:
        self.cur.pending = value

    @property
    def seq(self) -> int:
        return self.cur.seq if self.cur else 0

    @property
    def pending_deadline(self) -> float | None:
        """The deadline of the call being served again, if it set one."""
        return self.cur.pending_deadline if self.cur else None

    def _serve(self, ch: Channel, req) -> bool:
        """Serves one call; False if it must wait (ch.pending says for what)."""
        self.cur = ch
        try:
            if req.op == lib.SB_OP_WAKE_WAIT:
                out = (calls.waiting.wake_wait(self, ch, req.args[0]),)
            elif req.op == lib.SB_OP_UNPIN:
                start, length, discard = req.args
                out = (self.unpin(start, start + length, keep=not discard),)
            else:
                out = calls.serve(self, req.op, req.args)
        except calls.Wait as w:
            ch.pending = (req, w)
            self._stop_watch(ch, req.seq)  # (its thread need not watch for the answer)
            return False
        if ch.pending is not None:  # it waited: let the program's clock catch up
            out = (out[0], time.monotonic_ns())
        ch.pending = None
        if not self._reply(ch, req, out):
            return False
        cancel, ch.cancel = ch.cancel, None
        return cancel is None or self._reply(ch, cancel, (-errno.ESRCH,))  # (it crossed the answer)

    def _reply(self, ch: Channel, req, out) -> bool:
        if self.coming and self.cpu is None:  # unpaired, the program would not wait for them:
            lookups.fill_coming(self)  # they are filled before the answer
        try:
            os.write(ch.fd, protocol.reply(req.seq, *out))
        except BlockingIOError:  # only a program that sends without reading fills it
            self.kill("protocol violation: requests sent while earlier replies were left unread")
            return False
        except OSError:  # the process is ending; its pidfd will say how
            return False
        self._stop_watch(ch, req.seq)
        if self.coming:  # (the stat cache entries reserved before it, beside the program)
            lookups.fill_coming(self)
        return True

    def _stop_watch(self, ch: Channel, seq: int) -> None:
        """Paired: tells the thread to stop watching for the answer to seq
        (broker_client.c), which is in the channel or will be a while."""
        if self.cpu is not None:
            self.arena.put_u64(self.thread_block(ch.slot) + ANSWERED, seq)

    def resume(self, ch: Channel) -> None:
        """A waiting call's fd is ready or its deadline passed: serve it again."""
        if ch.pending is not None and not self.done and not self.ending:
            if self._serve(ch, ch.pending[0]):
                self.on_channel(ch)

    def _watch_threads(self) -> None:
        """The main thread stands (the stub said so; no other can start
        before we serve a clone, so /proc's word is good): watch it, and
        each pool thread the spawner starts later, through a pidfd.  None
        of them ever exits on its own, so one that does was killed by
        strict mode for a forbidden call."""
        self.threads_ep = select.epoll()
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{self.pid}/task") if int(t) != self.pid]
        except OSError:
            return  # already gone; its pidfd will say how
        if len(tids) != 1:
            self.kill("the stub did not start exactly one thread")
            return
        try:
            self._watch_thread(os.pidfd_open(tids[0], lib.PIDFD_THREAD), 0, tids[0])
        except OSError:  # gone already: as if strict mode had killed it
            self.kill(KILLED_STRICT)

    def _watch_thread(self, pidfd: int, slot: int, tid: int) -> None:
        """Watches slot's thread, host id tid (-1: it has ended already)."""
        self.thread_pidfds.append(pidfd)
        self.threads_ep.register(pidfd, select.EPOLLIN)
        self.slot_tids[slot] = tid

    # -- growing the thread pool (trusted_stub/spawner.c) ----------------------

    def grow_pool(self) -> int:
        """clone found no idle slot: have the spawner start a thread for the
        next slot, sending it the slot's channel and wake pipe, and answer 0
        once the spawn has ended (the runtime claims a slot again), or
        EAGAIN at the thread limit.  Spawns go one at a time; clones that
        find one under way wait for its end."""
        w = self.pending[1] if self.pending is not None else None
        if w is not None and hasattr(w, "spawn"):  # served again
            if w.spawn < self.spawns_ended:
                return 0
            if time.monotonic() >= self.spawn_deadline:  # (check_deadline ends the sandbox)
                return -errno.EAGAIN
        elif not self.spawning:
            if self.next_slot >= self.limits.threads:
                self.deny("clone", f"thread limit ({self.limits.threads}) reached: "
                          "raise --max-threads", errno.EAGAIN)
                return -errno.EAGAIN
            err = self._ask_spawner()
            if err:
                self.deny("clone", f"cannot start another thread: {os.strerror(err)}",
                          errno.EAGAIN)
                return -errno.EAGAIN
        self._wait_for_spawner()  # (through the loop: the new thread's ready message comes there)

    def _ask_spawner(self) -> int:
        """Sends the spawner the next slot's fds; 0 or an errno."""
        try:
            fds = self._make_channel(self.next_slot)
        except OSError as e:  # out of fds here, say
            return e.errno or errno.EAGAIN
        sent = self._send_to_spawner(b"s", fds)
        for fd in fds:
            os.close(fd)
        if not sent:
            return errno.EAGAIN
        self.next_slot += 1
        self.spawn_idle = False
        return 0

    def _send_to_spawner(self, data: bytes, fds: list[int]) -> bool:
        """One request on the spawn socket; from then on one is under way,
        until its answer or spawn_deadline.  False: the spawner is out of
        reach and the sandbox is being ended."""
        err = lib.sb_send_fds(self.spawn_fd, data, len(data), fds, len(fds))
        if err < 0:  # (it never fills: we ask one at a time)
            self.kill(f"cannot reach the stub's spawner: {os.strerror(-err)}")
            return False
        self.spawning = True
        self.spawn_deadline = time.monotonic() + SPAWN_TIMEOUT
        return True

    # -- pinned pages (struct sb_pin): mapped by the spawner, on demand --------

    def unpin(self, lo: int = loader.BASE, hi: int | None = None, keep: bool = True) -> int:
        """SB_OP_UNPIN (the program is about to change pinned pages in
        [lo, hi)) or an exec (all): copy their bytes into the arena (unless
        not keep: the runtime zeroes them next), have the spawner map the
        arena back over them ('x', answered 'X' with the arena's fd), and
        answer 0 once it has."""
        hi = loader.BASE + self.limits.memory if hi is None else hi
        span = self.arena.span(lo, hi)
        if span is not None:
            def ask() -> tuple[tuple[int, ...], list[int]]:
                # (the span may be wider than asked: those bytes are kept)
                self.arena.materialize(*span, skip=(0, 0) if keep else (lo, hi))
                self._remap = span
                return (span[0], span[1] - span[0]), []
            self._spawner_turn(b"x", ask)
        return 0

    def may_pin(self, fd: int, st: os.stat_result) -> bool:
        """The file at fd may be pinned (the caller has checked that its
        mount is read-only): a regular file, mappable executable, that no
        sandbox of this process has open for writing."""
        return (stat_mod.S_ISREG(st.st_mode) and not os.fstatvfs(fd).f_flag & os.ST_NOEXEC
                and not _written(st))

    def map_pinned(self, addr: int, n: int, fd: int, offset: int) -> None:
        """Has the spawner map n bytes of the file at fd from offset over
        [addr, addr + n), private and read-only ('m' carrying the file,
        answered 'M' with it back), and returns once it has.  Pinned
        before the request goes (to a duplicate of fd, kept while pinned):
        the broker may not write there either meanwhile."""
        st = os.fstat(fd)
        if self.arena.pinned_exactly(addr, addr + n, offset, st) and self._mapping != (addr, addr + n):
            return  # (the runtime restarted the mmap after a signal)

        def ask() -> tuple[tuple[int, ...], list[int]]:
            dup = os.dup(fd)
            try:
                self.arena.pin(addr, addr + n, dup, offset)
            except BaseException:
                os.close(dup)
                raise
            self._publish_pins()  # (an interrupted call unpins before it zeroes)
            self._mapping, self._mapped_file = (addr, addr + n), (st.st_dev, st.st_ino)
            return (addr, n, lib.PROT_READ | lib.PROT_EXEC, offset), [fd]

        self._spawner_turn(b"m", ask)

    def _spawner_turn(self, byte: bytes, ask) -> None:
        """The call being served has the spawner remap ('x') or map ('m'):
        ask() readies the request (its numbers and fds) when no other is
        under way; the call then waits for the answer (in place, or the
        spawn socket's news wakes it sooner than the deadline), and this
        returns once it came.  A signal restarts a call still waiting for
        its turn after the handler (calls.waiting.interrupted); once its
        request is out, the call ends with it (_cancel)."""
        w = self.pending[1] if self.pending is not None else None
        sent = w is not None and getattr(w, "sent", False)
        if sent and w.spawn < self.spawns_ended:
            return
        if not sent and not self.spawning:
            args, fds = ask()
            if not self._send_to_spawner(byte + struct.pack(f"<{len(args)}Q", *args), fds):
                raise calls.Wait([], None)  # (never answered: the sandbox ends)
            marker, sent, self.asked = self.spawns_ended, True, byte
            if self._await_spawner(marker):
                return
        self._wait_for_spawner(remap=True, sent=sent)

    def _await_spawner(self, marker: int) -> bool:
        """Right after a request: waits in place, up to spawner_patience,
        for the spawner to end it (spawns_ended passes marker), taking the
        spawn socket's news here.  Calls that news wakes are left in
        `woken` for the loop.  False: the call waits through the loop."""
        if self._spawn_poll is None:
            self._spawn_poll = select.poll()
            self._spawn_poll.register(self.spawn_fd, select.POLLIN)
        deadline = time.monotonic() + self.spawner_patience
        while self.spawns_ended <= marker and not self.ending:
            left = deadline - time.monotonic()
            if left <= 0 or not self._spawn_poll.poll(left * 1000):
                return False
            self.woken.extend(self.spawn_news())
        return self.spawns_ended > marker

    def _wait_for_spawner(self, remap: bool = False, sent: bool = False):
        """The call being served waits for the spawner's request under way
        to end (a spawn; with remap a remap or mapping, sent: its own):
        the spawn socket's news wakes it sooner than the deadline."""
        self.growers.add(self.cur)
        wait = calls.Wait([], self.spawn_deadline)
        wait.spawn, wait.remap, wait.sent = self.spawns_ended, remap, sent  # the request it waits for
        raise wait

    def _answered(self, fd: int) -> bool:
        """The spawner's 'X' or 'M' came with an fd, which must be the
        arena's or the file it mapped."""
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if self.asked == b"x":
            want, what = self.arena.ident, "the arena"
        else:
            want, what = self._mapped_file, "the file it was to map"
        if (st.st_dev, st.st_ino) != want:
            self.kill(f"protocol violation: the spawn socket carried an fd that is not {what}")
            return False
        if self.asked == b"x":
            self.arena.drop_pins(*self._remap)
        self._mapping = None
        self._publish_pins()
        self.asked = None
        self._end_spawn()
        return True

    def _publish_pins(self) -> None:
        """The runtime's copy of the pin list (struct sb_boot.pins): it asks
        SB_OP_UNPIN before changing pinned pages.  Its word is not needed:
        at worst the program faults on its own write."""
        pins = self.arena.pins
        self._pins_seq += 2
        self.arena.write(PINS_SEQ, struct.pack("<I", (self._pins_seq - 1) & 0xFFFFFFFF))
        self.arena.write(NPINS, struct.pack("<I", len(pins)) + b"".join(  # (npins, then pins)
            struct.pack("<QQQiI", p.start, p.end - p.start, p.offset, -1, 0) for p in pins))
        self.arena.write(PINS_SEQ, struct.pack("<I", self._pins_seq & 0xFFFFFFFF))

    def spawn_news(self) -> list[Channel]:
        """The spawn socket is readable (the loop watches it always): the
        spawner's 'p' with a new thread's pidfd, which we watch from then on;
        the new thread's 'r' once it is idle.  A spawn ends with its thread
        watched and idle.  Returns the channels whose clones wait for a spawn
        that ended.  The program can write here too: anything but one 'r'
        during a spawn ends the sandbox."""
        buf = ffi.new("unsigned char[16]")
        fds = ffi.new("int[]", lib.SB_RECV_FDS)
        nfds = ffi.new("int *")
        for _ in range(SPAWN_NEWS):
            msg: bytes | None = b""
            n = lib.sb_recv_fds(self.spawn_fd, buf, 16, fds, nfds)
            if n == -errno.EAGAIN:
                break
            if n == 0:  # the end, or a zero-length record (never ours): the next read tells
                n = lib.sb_recv_fds(self.spawn_fd, buf, 16, fds, nfds)
                if n == 0 or (n < 0 and n != -errno.EAGAIN):
                    n = -1
                else:
                    n, msg = max(n, 0), None  # (the record after it, if any, is dropped)
            if n < 0:  # the process has ended (its pidfd says how): no more news
                if self.unwatch is not None:
                    self.unwatch(self.spawn_fd)
                break
            got = [fds[i] for i in range(nfds[0])] if n > 0 else []
            msg = bytes(buf[0:n]) if n > 0 and msg is not None else b""
            if self.ending:  # drained, so the loop does not spin on it
                for fd in got:
                    os.close(fd)
                continue
            spawn = self.spawning and self.asked is None
            if msg == b"p" and len(got) == 1 and spawn and not self._spawn_watched:
                if not self._adopt_pidfd(got[0]):
                    return []
                self._answer_ready()
            elif msg == b"r" and not got and spawn and not self.spawn_idle:
                self.spawn_idle = True
            elif len(got) == 1 and self.asked is not None and msg == self.asked.upper():
                if not self._answered(got[0]):
                    return []
            else:
                for fd in got:
                    os.close(fd)
                self.kill("protocol violation: a message on the spawn socket that is not the "
                          "spawner's or a new thread's")
                return []
        if self.spawning and self.asked is None and self._spawn_watched and self.spawn_idle:
            self._end_spawn()
        woken = [ch for ch in self.growers if ch.pending and hasattr(ch.pending[1], "spawn")
                 and ch.pending[1].spawn < self.spawns_ended]
        self.growers.difference_update(woken)
        return woken

    @property
    def _spawn_watched(self) -> bool:
        """The thread of the spawn under way is watched (we have its pidfd)."""
        return self.next_slot - 1 in self.slot_tids

    def _end_spawn(self) -> None:
        self.spawning = False
        self.spawns_ended += 1

    def _answer_ready(self) -> None:
        """Answers the ready messages of new threads we now watch (slots we
        hold a pidfd for)."""
        for ch in self.chans:
            if ch.ready is not None and ch.slot in self.slot_tids:
                req, ch.ready = ch.ready, None
                self._reply(ch, req, (0,))

    def _adopt_pidfd(self, pidfd: int) -> bool:
        """The spawner's pidfd of a new thread, checked to be one (of this
        sandbox, not watched yet) before we watch it.  One whose thread has
        ended already is watched too: it says how it ended."""
        tid = kernel.pidfd_pid(pidfd)
        if tid == -1 or (tid is not None and tid != self.pid and tid not in self.slot_tids.values()
                         and os.path.isdir(f"/proc/{self.pid}/task/{tid}")):
            self._watch_thread(pidfd, self.next_slot - 1, tid)  # (the slot this spawn is for)
            return True
        os.close(pidfd)
        self.kill("protocol violation: the spawn socket carried an fd that is not a new thread's pidfd")
        return False

    def exit_requested(self, status: int) -> None:
        """SB_OP_EXIT: the program ends with status, unless one of its
        threads has died meanwhile (a pidfd still on the spawn socket
        included): then that is how it ended."""
        self.spawn_news()
        if self.threads_ep is not None:
            self.threads_ended()
        if not self.ending:
            self.exit_status = status
            # Its only thread asked: nothing more comes from the program (not
            # a write either), so its end need not wait for the teardown.
            self.exited_alone = self.next_slot == 1 and self.tracer is None
        self._signal(signal.SIGKILL)
        hook, self.on_exit = self.on_exit, None
        if hook is not None:
            hook()

    @property
    def ending(self) -> bool:
        """The broker has decided how this sandbox ends (and is killing it)."""
        return self.exit_status is not None or self.outcome.reason is not None

    def unwatched_threads(self) -> int | None:
        """The epoll of the pool's thread pidfds, which the loop has yet to
        watch (once, after ready): one fd for the loop instead of 64."""
        if self.threads_ep is None or self._threads_watched:
            return None
        self._threads_watched = True
        return self.threads_ep.fileno()

    def threads_ended(self) -> None:
        """The epoll of thread pidfds is readable: each thread that ended."""
        for fd, _ in self.threads_ep.poll(0):
            self.threads_ep.unregister(fd)  # readable for good: watch it no more
            self.thread_died(fd)

    def close_thread_pidfds(self) -> None:
        """(Held open while the threads die, they make the process's end
        several times slower to come.)"""
        if self.threads_ep is not None:
            self.threads_ep.close()
            self.threads_ep = None
        for fd in self.thread_pidfds:
            os.close(fd)
        self.thread_pidfds = []

    def thread_died(self, pidfd: int) -> None:
        """A thread ended while the process lives on: the whole sandbox ends,
        saying how the thread did (the kernel keeps its status in the pidfd)."""
        if self.exit_status is not None or self.done:
            return
        status = kernel.pidfd_exit_status(pidfd)
        if status is None or os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status) if status is not None else signal.SIGKILL
            if sig == signal.SIGKILL:  # (or the whole process was: reap tells them apart)
                self.kill(KILLED_STRICT)
            else:  # SIGSYS: a Syscall User Dispatch selector that is neither value
                self.kill(f"killed by {signal.Signals(sig).name}", returncode=-sig)
            return
        code = os.WEXITSTATUS(status)
        self.kill(RUNTIME_EXITS.get(code, f"the runtime exited ({code}) without reporting a status"),
                  returncode=code)

    # -- signals -------------------------------------------------------------

    def send_signal(self, sig: int, slot: int | None = None) -> int:
        """A real signal to the sandbox (slot None: the process; the kernel
        picks a thread) or to one of its threads.  The thread's id comes
        from the arena, untrusted: tgkill with our process's id as the
        group can reach no other process."""
        if self.done:
            return -errno.ESRCH
        if slot is None:
            self._signal(sig)
            return 0
        tid = self._host_tid(slot)
        return -errno.ESRCH if tid is None else lib.sb_tgkill(self.pid, tid, sig)

    def poke(self, slot: int) -> int:
        """SB_OP_POKE: a real signal that carries no signal of its own (its
        si_value says so), only to make that thread look at the process's
        pending ones wherever it is: computing, or blocked in a call."""
        if not 0 <= slot < self.limits.threads:
            return -errno.EINVAL
        tid = self._host_tid(slot)
        if tid is None:
            return -errno.ESRCH
        return lib.sb_sigqueue_poke(self.pid, tid, signal.SIGURG, lib.SB_POKE_VALUE)

    def spread(self) -> int:
        """SB_OP_SPREAD: the program started a second thread, so its main
        thread and the broker are no longer paired: the broker stops polling
        (threads that hand work to each other may need its CPU) and both run
        anywhere.  Untrusted: at worst the sandbox gives up its own speed-up."""
        if self.cpu is None:
            return 0
        self.cpu = None  # (an exec's boot block says so too)
        tid = self._host_tid(0)
        try:
            if tid is not None:
                os.sched_setaffinity(tid, self.cpus)
            os.sched_setaffinity(0, self.cpus)  # this is the broker's thread
        except OSError:  # a cpuset changed meanwhile: the kernel has placed them
            pass
        return 0

    def _host_tid(self, slot: int) -> int | None:
        """The kernel's id of slot's thread, as its pidfd said, while the
        block in the arena says the same (a forged one reaches nobody)."""
        tid = self.slot_tids.get(slot)
        raw = self.arena.read(self.thread_block(slot) + HOST_TID, 4)
        return tid if tid is not None and tid > 0 and int.from_bytes(raw, "little", signed=True) == tid else None

    def current_tid(self) -> int:
        """The (virtual) id of the thread whose call is being served, as its
        block says: for reports only."""
        if self.cur is None:
            return self.identity.pid
        raw = self.arena.read(self.thread_block(self.cur.slot) + TID, 4)
        return int.from_bytes(raw, "little", signed=True)

    def slot_of_tid(self, tid: int) -> int | None:
        """The slot whose thread has this (virtual) id, as the arena says:
        untrusted, so at worst the sandbox signals another of its threads."""
        for slot in range(self.limits.threads):
            raw = self.arena.read(self.thread_block(slot) + TID, 4)
            if int.from_bytes(raw, "little", signed=True) == tid:
                return slot
        return None

    def fire_timers(self, now: float) -> None:
        for t in self.timers.expired(now):
            if t.id < 0:  # alarm, setitimer
                self.send_signal(t.sig, t.slot)
            else:
                self._send_timer_signal(t)

    def _send_timer_signal(self, t) -> None:
        tid = 0
        if t.slot is not None:
            tid = self._host_tid(t.slot)
            if tid is None:
                return  # its thread is gone, as on Linux
        lib.sb_sigqueue_timer(self.pid, tid, t.sig, t.id, min(t.overrun, 0x7FFFFFFF), t.value)

        # -- ending --------------------------------------------------------------

    def _signal(self, sig: int) -> None:
        if sig == signal.SIGKILL and self.cpu is not None and not self.done:  # (not reaped: the pid is its)
            # Paired: the process's teardown (its memory map, ~0.5 ms for
            # CPython) runs on its own CPU, not on the broker's.  Its spawner
            # thread would wake next to us; the main thread is there already.
            try:
                os.sched_setaffinity(self.pid, {self.cpu})
            except OSError:  # gone already, or a cpuset changed: only speed is lost
                pass
        if self.pidfd < 0:  # (closed: its process is reaped or going)
            return
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
        if self.spawning and now >= self.spawn_deadline and not self.done:
            self.spawning = False
            what = {None: "a new thread did not start", b"x": "pinned pages were not remapped",
                    b"m": "a file was not mapped"}[self.asked]
            self.kill(f"{what} within {SPAWN_TIMEOUT:g} s")

    @property
    def next_deadline(self) -> float | None:
        """The earliest of the wall-clock limit and a spawn's deadline."""
        times = [t for t in (self.deadline, self.spawn_deadline if self.spawning else None)
                 if t is not None]
        return min(times) if times else None

    def reap(self) -> None:
        """The process has exited: decide what happened and release everything."""
        _, status, usage = os.wait4(self.pid, 0)
        self.proc.returncode = status
        o = self.outcome
        if self.exit_status is not None:
            o.returncode, o.reason = self.exit_status, None
        elif o.reason is None or o.reason == KILLED_STRICT:  # a thread's death may be the process's
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                o.returncode = -sig
                cpu = usage.ru_utime + usage.ru_stime
                own = self._own_cpu_limit[1]
                if self.limits.cpu is not None and (sig == signal.SIGXCPU or cpu >= self.limits.cpu):
                    o.reason = f"CPU time limit ({self.limits.cpu:g} s) exceeded"
                elif sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= own - CPU_COUNT_SLACK:
                    o.reason = f"CPU time limit exceeded (the program's own RLIMIT_CPU, {own} s)"
                elif sig == signal.SIGKILL:
                    o.reason = KILLED_STRICT
                else:
                    o.reason = f"killed by {signal.Signals(sig).name}"
            else:
                code = os.WEXITSTATUS(status)
                o.returncode = code
                o.reason = {**RUNTIME_EXITS, **STUB_FAILED}.get(
                    code, f"the runtime exited ({code}) without reporting a status")
        if self.tracer is not None:
            self.tracer.drain(self)
        self._collect_stats()
        self.close()

    def let_go(self) -> None:
        """The program exited alone (exited_alone; the process is killed):
        its outcome is its exit status, and a thread reaps the process while
        the kernel tears it down; the rest is released now."""
        self.proc.returncode = -signal.SIGKILL  # (ours to reap: not Popen's)
        afterwards.later(afterwards.reap(os.dup(self.pidfd)), self._own_cpu())
        self.outcome.returncode, self.outcome.reason = self.exit_status, None
        self._collect_stats()
        self.close()

    def _collect_stats(self) -> None:
        calls.denials.drain(self)  # (the calls the runtime refused since the last request)
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
        with _live_lock:
            LIVE.discard(self)  # (ended ones wait in reference cycles for the collector)
        self._release_clock()
        for f in self.fds.values():
            if f.hostfd >= 0:
                os.close(f.hostfd)
        self.fds.clear()
        self.drop_held()
        for ch in self.chans:
            ch.close()
        os.close(self.spawn_fd)
        self.close_thread_pidfds()
        pidfd, self.pidfd = self.pidfd, -1
        self.arena.close(self._own_cpu(), pidfd if pidfd >= 0 else None)  # (kept for the next once it is gone)
        standby.refill_later(stub_path(), lambda: bool(LIVE))  # (for the next start, if idle)

    def _own_cpu(self) -> set[int] | None:
        """Paired: its CPU, where what is left to do afterwards goes."""
        return None if self.cpu is None else {self.cpu}
