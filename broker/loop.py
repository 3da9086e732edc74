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

    def _busy(self) -> bool:
        return any(not sb.done for sb in self.sandboxes) or bool(self.outputs)

    def run(self) -> None:
        """Runs until every sandbox has ended and its output is drained."""
        while self._busy():
            now = time.monotonic()
            deadlines = [sb.deadline for sb in self.sandboxes if sb.deadline and not sb.done]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self.sel.select(timeout):
                kind, sb = key.data
                try:
                    self._dispatch(kind, key, sb)
                except Exception as e:  # a broker bug must cost one sandbox, not all
                    sb.log.append(f"internal broker error: {e!r}")
                    if kind != "exit":
                        sb.kill(f"internal broker error while serving it: {type(e).__name__}")
            now = time.monotonic()
            for sb in self.sandboxes:
                sb.check_deadline(now)
        self.sandboxes = [sb for sb in self.sandboxes if not sb.done]

    def _dispatch(self, kind: str, key, sb: Sandbox) -> None:
        if kind == "chan":
            sb.on_channel()
        elif kind == "exit":
            self.sel.unregister(key.fileobj)
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
