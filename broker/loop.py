"""The broker's event loop: one thread serves every channel, reaps every
process, drains captured output and enforces wall-clock deadlines for all
the sandboxes it runs.  Nothing a sandbox sends escapes as an exception."""

from __future__ import annotations

import os
import resource
import selectors
import threading
import time

from ._native import lib
from .sandbox import Channel, Sandbox

CHUNK = 1 << 16


def _raise_fd_limit() -> None:
    """Each sandbox holds a few fds per thread slot in the broker (its
    channel, wake pipe and pidfd): take all the fds the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# A paired broker polls this long for the next event after each one before it
# sleeps: most of a program's round trips come sooner (CPython's start-up),
# and a sleeping broker's wakeup costs more than the whole round trip.
POLL_NS = 300_000

_pairing = 0  # brokers of this process paired with their sandbox's main thread
_pairing_lock = threading.Lock()


def _take_cpu_pair() -> tuple[int, int] | None:
    """(this thread's CPU, another of its CPUs), for a broker and its
    sandbox's main thread to run on side by side; None if another broker of
    this process has a pair, or there is only one CPU."""
    global _pairing
    cpus, cpu = os.sched_getaffinity(0), lib.sched_getcpu()
    with _pairing_lock:
        if _pairing or len(cpus) < 2 or cpu not in cpus:
            return None
        _pairing += 1
    others = sorted(cpus - {cpu})
    return cpu, next((c for c in others if c > cpu), others[0])


def _give_back_cpu_pair() -> None:
    global _pairing
    with _pairing_lock:
        _pairing -= 1


def _forked() -> None:  # a child's thread is no broker of its parent's
    global _pairing, _pairing_lock
    _pairing, _pairing_lock = 0, threading.Lock()


os.register_at_fork(after_in_child=_forked)


class Broker:
    def __init__(self, *, pair: bool = False):
        """pair: the first sandbox's main thread and this broker's thread
        each keep a CPU of their own (this thread's when it starts the
        sandbox, and another), and poll for each other's messages instead
        of sleeping, so a round trip wakes no CPU; until the program starts
        a second thread (SB_OP_SPREAD), when both run anywhere and the
        broker sleeps again.  Its other threads run anywhere.  For a broker
        that serves one sandbox (api.run), and only while no other broker
        of this process is paired: several would poll on one CPU.  close()
        gives this thread its CPUs back."""
        _raise_fd_limit()
        self.pair = pair
        self.paired: Sandbox | None = None
        self._own_cpus: set[int] | None = None  # this thread's CPUs before it moved
        self.sel = selectors.DefaultSelector()
        self.sandboxes: list[Sandbox] = []
        self.outputs: dict[int, tuple[Sandbox, bytearray]] = {}
        self.inputs: dict[int, memoryview] = {}
        self.waiting: dict[Channel, tuple[Sandbox, list[int]]] = {}  # fds each waiting call watches
        self.watchers: dict[int, dict[Channel, tuple[Sandbox, int]]] = {}  # and who watches an fd

    def add(self, sb: Sandbox, *, capture: dict[int, bytearray] | None = None,
            feed: tuple[int, bytes] | None = None) -> None:
        """Starts sb.  capture maps our read ends of its output pipes to
        buffers; feed is (our write end of its stdin pipe, the bytes)."""
        pair = _take_cpu_pair() if self.pair and not self.sandboxes else None
        if pair is not None:
            sb.cpu = pair[1]
        try:
            sb.start()
        except BaseException:
            if pair is not None:
                _give_back_cpu_pair()
            raise
        if pair is not None:  # (the stub inherited this thread's CPUs: move only now)
            self.paired = sb
            sb.cpus = self._own_cpus = os.sched_getaffinity(0)
            try:
                os.sched_setaffinity(0, {pair[0]})
            except OSError:  # (a cpuset changed under us): the kernel places it
                pass
            lib.sb_clock_place(pair[0])  # (its ticks would take the program's CPU from it)
        self.sandboxes.append(sb)
        for ch in sb.chans:
            self._watch_channel(sb, ch)
        sb.watch_channel = self._watch_channel  # the channels of threads to come
        sb.unwatch = self._unwatch_fd
        self.sel.register(sb.spawn_fd, selectors.EVENT_READ, ("spawn", sb, None))
        self.sel.register(sb.pidfd, selectors.EVENT_READ, ("exit", sb, None))
        for fd, buf in (capture or {}).items():
            os.set_blocking(fd, False)
            self.outputs[fd] = (sb, buf)
            self.sel.register(fd, selectors.EVENT_READ, ("out", sb, None))
        if feed is not None:
            fd, data = feed
            os.set_blocking(fd, False)
            if data:
                self.inputs[fd] = memoryview(data)
                self.sel.register(fd, selectors.EVENT_WRITE, ("in", sb, None))
            else:
                os.close(fd)

    def _watch_channel(self, sb: Sandbox, ch: Channel) -> None:
        self.sel.register(ch.fd, selectors.EVENT_READ, ("chan", sb, ch))

    def _unwatch_fd(self, fd: int) -> None:
        if fd in self.sel.get_map():
            self.sel.unregister(fd)

    def close(self) -> None:
        """Ends what run() left running (it was interrupted: an exception,
        a KeyboardInterrupt) and releases the selector's epoll fd.  The
        selector is part of a reference cycle: without this its fd would
        stay open until the garbage collector ran."""
        try:
            for sb in self.sandboxes:
                if not sb.done and sb.proc is not None:
                    sb.kill("the broker stopped before the program ended")
                    sb.reap()
        finally:  # (even if a second Ctrl-C stops the reap)
            self.sel.close()
            if self._own_cpus is not None:
                try:
                    os.sched_setaffinity(0, self._own_cpus)
                except OSError:  # its cpuset changed meanwhile: the kernel has placed it
                    pass
                self._own_cpus = None
                self.paired = None
                lib.sb_clock_place(-1)
                _give_back_cpu_pair()

    def _busy(self) -> bool:
        return any(not sb.done for sb in self.sandboxes) or bool(self.outputs)

    def run(self) -> None:
        """Runs until every sandbox has ended and its output is drained."""
        while self._busy():
            self._serve_woken()
            now = time.monotonic()
            deadlines = [sb.next_deadline for sb in self.sandboxes if sb.next_deadline and not sb.done]
            deadlines += [ch.pending_deadline for ch in self.waiting if ch.pending_deadline]
            deadlines += [sb.timers.next for sb in self.sandboxes if sb.timers.next and not sb.done]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self._select(timeout):
                kind, sb, ch = key.data
                if kind in ("chan", "thread", "spawn", "exit") and sb.done:  # (let go in this batch)
                    continue
                if kind == "wake":
                    self._wake_fd(key.fd)
                else:
                    self._guarded(sb, kind, lambda: self._dispatch(kind, key, sb, ch), ch)
            now = time.monotonic()
            for ch, (sb, _) in list(self.waiting.items()):
                if ch.pending_deadline is not None and now >= ch.pending_deadline:
                    self._guarded(sb, "wake", lambda: self._wake(sb, ch), ch)
            for sb in self.sandboxes:
                due = sb.timers.next
                if not sb.done and due is not None and now >= due:
                    self._guarded(sb, "timer", lambda: sb.fire_timers(now))
                sb.check_deadline(now)
        for fd in list(self.inputs):  # stdin its sandbox ended without reading
            self.sel.unregister(fd)
            os.close(fd)
            del self.inputs[fd]
        self.sandboxes = [sb for sb in self.sandboxes if not sb.done]

    def _select(self, timeout: float | None) -> list:
        """The ready events.  While a sandbox has idle work (a warm start's
        lookups), a step of it between looks, within timeout; while paired,
        polled for up to POLL_NS (within timeout) before sleeping for the
        rest of it."""
        if any(sb.warming is not None for sb in self.sandboxes):
            start = time.monotonic()
            while True:
                events = self.sel.select(0)
                if events:
                    return events
                if not self._idle_step():
                    break
                if timeout is not None and time.monotonic() - start >= timeout:
                    return []
            if timeout is not None:
                timeout = max(0.0, timeout - (time.monotonic() - start))
        sb = self.paired
        if sb is None or sb.cpu is None or sb.done or timeout == 0:
            return self.sel.select(timeout)
        poll = POLL_NS if timeout is None else min(POLL_NS, int(timeout * 1e9))
        end = time.perf_counter_ns() + poll
        while True:
            events = self.sel.select(0)
            if events:
                return events
            if time.perf_counter_ns() >= end:
                return self.sel.select(None if timeout is None else max(0.0, timeout - poll / 1e9))

    def _idle_step(self) -> bool:
        """One step of some sandbox's idle work; False if none has any."""
        for sb in self.sandboxes:
            if sb.warming is not None:
                stepped = []
                self._guarded(sb, "idle", lambda: stepped.append(sb.warm_step()))
                if stepped and stepped[0]:
                    return True
        return False

    def _serve_woken(self) -> None:
        """Serves again the calls whose wait for the spawner ended while
        another call waited for it in place (Sandbox._await_spawner)."""
        for sb in self.sandboxes:
            while sb.woken and not sb.done:
                c = sb.woken.pop(0)
                self._guarded(sb, "wake", lambda: self._wake(sb, c), c)

    def _guarded(self, sb: Sandbox, kind: str, action, ch: Channel | None = None) -> None:
        try:
            action()
        except Exception as e:  # a broker bug must cost one sandbox, not all
            sb.log.append(f"internal broker error: {e!r}")
            if kind != "exit":
                sb.kill(f"internal broker error while serving it: {type(e).__name__}")
        if ch is not None and kind in ("chan", "wake"):
            self._watch(sb, ch)

    def _watch(self, sb: Sandbox, ch: Channel) -> None:
        """Points the selector at the fds ch's waiting call waits for
        (several threads may wait for one fd)."""
        self._unwatch(ch)
        if sb.done or ch.pending is None:
            return
        watched: list[int] = []
        self.waiting[ch] = (sb, watched)
        for fd, ev in ch.pending[1].fds:
            waiters = self.watchers.setdefault(fd, {})
            prev = waiters[ch][1] if ch in waiters else 0
            waiters[ch] = (sb, prev | ev)
            events = 0
            for _, e in waiters.values():
                events |= e
            try:
                if fd in self.sel.get_map():
                    self.sel.modify(fd, events, ("wake", None, None))
                else:
                    self.sel.register(fd, events, ("wake", None, None))
            except (OSError, ValueError):  # closed already: let the call look again now
                del waiters[ch]
                if not waiters:
                    del self.watchers[fd]
                self._unwatch(ch)
                sb.resume(ch)
                return self._watch(sb, ch)
            if fd not in watched:
                watched.append(fd)

    def _unwatch(self, ch: Channel) -> None:
        for fd in self.waiting.pop(ch, (None, []))[1]:
            waiters = self.watchers.get(fd, {})
            waiters.pop(ch, None)
            if waiters:
                events = 0
                for _, e in waiters.values():
                    events |= e
                self.sel.modify(fd, events, ("wake", None, None))
            else:
                self.watchers.pop(fd, None)
                self.sel.unregister(fd)

    def _wake(self, sb: Sandbox, ch: Channel) -> None:
        self._unwatch(ch)
        sb.resume(ch)

    def _wake_fd(self, fd: int) -> None:
        for ch, (sb, _) in list(self.watchers.get(fd, {}).items()):
            self._guarded(sb, "wake", lambda: self._wake(sb, ch), ch)

    def _dispatch(self, kind: str, key, sb: Sandbox, ch: Channel | None) -> None:
        if kind == "chan":
            sb.on_channel(ch)
            threads = sb.unwatched_threads()
            if threads is not None:
                self.sel.register(threads, selectors.EVENT_READ, ("thread", sb, None))
            if sb.exited_alone and not sb.done:
                self._let_go(sb)
            elif sb.ending:  # its threads die with it now: no news in that
                self._unwatch_threads(sb)
        elif kind == "thread":
            if self.sel.get_map().get(key.fd) is key:  # (else the sandbox's end let go of it)
                sb.threads_ended()
            if sb.ending:
                self._unwatch_threads(sb)
        elif kind == "spawn":
            for c in sb.spawn_news():  # clones waiting for a spawn that ended
                self._guarded(sb, "wake", lambda: self._wake(sb, c), c)
        elif kind == "exit":
            self._forget(sb)
            sb.reap()
        elif kind == "out":
            if key.fd in self.outputs:  # (else _let_go drained it in this batch)
                self._drain(key.fd)
        else:
            self._feed(key.fd)

    def _forget(self, sb: Sandbox) -> None:
        """Stops watching sb's process, its spawner, threads and channels."""
        self._unwatch_fd(sb.pidfd)
        self._unwatch_fd(sb.spawn_fd)
        self._unwatch_threads(sb)
        for c in sb.chans:
            self._unwatch(c)
            self._unwatch_fd(c.fd)

    def _let_go(self, sb: Sandbox) -> None:
        """sb's program exited alone: what it wrote is all in its output
        pipes now, so they are drained to empty rather than to their end,
        and its process is left to die (Sandbox.let_go)."""
        for fd in [fd for fd, (owner, _) in self.outputs.items() if owner is sb]:
            while fd in self.outputs:
                buf = self.outputs[fd][1]
                had = len(buf)
                self._drain(fd)
                if fd in self.outputs and len(buf) == had:  # empty for now
                    self._end_output(fd)
        self._forget(sb)
        sb.let_go()

    def _unwatch_threads(self, sb: Sandbox) -> None:
        if sb.threads_ep is not None and sb.threads_ep.fileno() in self.sel.get_map():
            self.sel.unregister(sb.threads_ep.fileno())
        sb.close_thread_pidfds()

    def _drain(self, fd: int) -> None:
        sb, buf = self.outputs[fd]
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        if data and len(buf) + len(data) > sb.limits.output:
            buf += data[: sb.limits.output - len(buf)]
            sb.kill(f"output limit ({sb.limits.output} bytes) exceeded")
            data = b""
        if data:
            buf += data
            return
        self._end_output(fd)

    def _end_output(self, fd: int) -> None:
        self.sel.unregister(fd)
        os.close(fd)
        del self.outputs[fd]

    def _feed(self, fd: int) -> None:
        data = self.inputs[fd]
        try:
            n = os.write(fd, data[:CHUNK])
        except BlockingIOError:
            return
        except BrokenPipeError:
            n = len(data)
        rest = data[n:]
        if rest:
            self.inputs[fd] = rest
            return
        self.sel.unregister(fd)
        os.close(fd)
        del self.inputs[fd]
