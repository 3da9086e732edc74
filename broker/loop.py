"""The broker's event loop: one thread serves every channel, reaps every
process, drains captured output and enforces wall-clock deadlines for all
the sandboxes it runs.  Nothing a sandbox sends escapes as an exception."""

from __future__ import annotations

import os
import selectors
import time

from .sandbox import Sandbox

CHUNK = 1 << 16


class Broker:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.sandboxes: list[Sandbox] = []
        self.outputs: dict[int, tuple[Sandbox, bytearray]] = {}
        self.inputs: dict[int, memoryview] = {}
        self.waiting: dict[Sandbox, list[int]] = {}  # host fds watched for a waiting call

    def add(self, sb: Sandbox, *, capture: dict[int, bytearray] | None = None,
            feed: tuple[int, bytes] | None = None) -> None:
        """Starts sb.  capture maps our read ends of its output pipes to
        buffers; feed is (our write end of its stdin pipe, the bytes)."""
        sb.start()
        self.sandboxes.append(sb)
        self.sel.register(sb.chan, selectors.EVENT_READ, ("chan", sb))
        self.sel.register(sb.pidfd, selectors.EVENT_READ, ("exit", sb))
        for fd, buf in (capture or {}).items():
            os.set_blocking(fd, False)
            self.outputs[fd] = (sb, buf)
            self.sel.register(fd, selectors.EVENT_READ, ("out", sb))
        if feed is not None:
            fd, data = feed
            os.set_blocking(fd, False)
            if data:
                self.inputs[fd] = memoryview(data)
                self.sel.register(fd, selectors.EVENT_WRITE, ("in", sb))
            else:
                os.close(fd)

    def close(self) -> None:
        """Releases the selector's epoll fd.  The selector is part of a
        reference cycle: without this its fd would stay open until the
        garbage collector ran."""
        self.sel.close()

    def _busy(self) -> bool:
        return any(not sb.done for sb in self.sandboxes) or bool(self.outputs)

    def run(self) -> None:
        """Runs until every sandbox has ended and its output is drained."""
        while self._busy():
            now = time.monotonic()
            deadlines = [sb.deadline for sb in self.sandboxes if sb.deadline and not sb.done]
            deadlines += [sb.pending_deadline for sb in self.waiting if sb.pending_deadline]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self.sel.select(timeout):
                kind, sb = key.data
                self._guarded(sb, kind, lambda: self._dispatch(kind, key, sb))
            now = time.monotonic()
            for sb in list(self.waiting):
                if sb.pending_deadline is not None and now >= sb.pending_deadline:
                    self._guarded(sb, "wake", lambda: self._wake(sb))
            for sb in self.sandboxes:
                sb.check_deadline(now)
        for fd in list(self.inputs):  # stdin its sandbox ended without reading
            self.sel.unregister(fd)
            os.close(fd)
            del self.inputs[fd]
        self.sandboxes = [sb for sb in self.sandboxes if not sb.done]

    def _guarded(self, sb: Sandbox, kind: str, action) -> None:
        try:
            action()
        except Exception as e:  # a broker bug must cost one sandbox, not all
            sb.log.append(f"internal broker error: {e!r}")
            if kind != "exit":
                sb.kill(f"internal broker error while serving it: {type(e).__name__}")
        if kind != "out" and kind != "in":
            self._watch(sb)

    def _watch(self, sb: Sandbox) -> None:
        """Points the selector at what sb needs next: its channel, or the fds
        its waiting call waits for (the channel stays quiet meanwhile)."""
        for fd in self.waiting.pop(sb, []):
            self.sel.unregister(fd)
        live = not sb.done
        if live and sb.pending is not None:
            events: dict[int, int] = {}
            for fd, ev in sb.pending[1].fds:
                events[fd] = events.get(fd, 0) | ev
            watched = []
            for fd, ev in events.items():
                try:
                    self.sel.register(fd, ev, ("wake", sb))
                    watched.append(fd)
                except (OSError, ValueError, KeyError):  # gone already: retry now
                    self.waiting[sb] = watched
                    return self._wake(sb)
            self.waiting[sb] = watched
        chan_on = sb.chan in self.sel.get_map() if live else False
        want = live and sb.pending is None
        if want and not chan_on:
            self.sel.register(sb.chan, selectors.EVENT_READ, ("chan", sb))
        elif chan_on and not want:
            self.sel.unregister(sb.chan)

    def _wake(self, sb: Sandbox) -> None:
        for fd in self.waiting.pop(sb, []):
            self.sel.unregister(fd)
        sb.resume()
        self._watch(sb)

    def _dispatch(self, kind: str, key, sb: Sandbox) -> None:
        if kind == "chan":
            sb.on_channel()
        elif kind == "wake":
            self._wake(sb)
        elif kind == "exit":
            self.sel.unregister(key.fileobj)
            for fd in self.waiting.pop(sb, []):
                self.sel.unregister(fd)
            if sb.chan in self.sel.get_map():
                self.sel.unregister(sb.chan)
            sb.reap()
        elif kind == "out":
            self._drain(key.fd)
        else:
            self._feed(key.fd)

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
