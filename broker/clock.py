"""The clock page: the time every sandbox of this broker reads locally.

Strict mode disables the TSC, which the kernel's vDSO reads; asking the
broker for the time cost a round trip per clock_gettime (CPython makes
hundreds at start-up).  Instead one page of a memfd, mapped read-only into
every sandbox, is rewritten every SB_CLOCK_TICK_NS by a C thread of the
broker under a seqlock, while at least one sandbox runs (and 0.2 s more,
for the next run to take the thread over); the program's own vDSO
(untrusted_runtime/vdso) and the runtime read it."""

from __future__ import annotations

import atexit
import mmap
import os
import threading

from ._native import ffi, lib

PAGE = 4096


class ClockPage:
    def __init__(self):
        self.fd = os.memfd_create("strictbox-clock", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, PAGE)
        self._map = mmap.mmap(self.fd, PAGE)
        self._page = ffi.cast("struct sb_clock *", ffi.from_buffer(self._map))
        self._users = 0  # (a private page's holders: FixedClock, CoarseClock; the shared page's are counted in C)

    def hold(self) -> None:
        """A sandbox starts: keep the page fresh (the C side counts who holds it)."""
        err = lib.sb_clock_start(self._page)
        if err:
            raise OSError(-err, f"cannot start the clock thread: {os.strerror(-err)}")

    def release(self) -> None:
        lib.sb_clock_stop()

    def monotonic_ns(self) -> int:
        """CLOCK_MONOTONIC as the sandboxes read it (coarse or fixed with the policy)."""
        return self._page.monotonic_ns


_shared: ClockPage | None = None
_shared_lock = threading.Lock()
_cpus = sorted(os.sched_getaffinity(0))  # where the clock thread may tick unless told otherwise
lib.sb_clock_anywhere(ffi.new("int[]", _cpus), len(_cpus))


def _forked() -> None:
    """A child has no clock thread: its first sandbox starts one, on a page
    of its own (the parent's may stop ticking whenever the parent ends)."""
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()
    lib.sb_clock_forked()
    lib.sb_clock_place(-1)


os.register_at_fork(after_in_child=_forked)
atexit.register(lib.sb_clock_halt)  # (a lingering thread must not tick a page the exit unmaps)


def shared() -> ClockPage:
    """The process-wide clock page (one writer thread however many brokers)."""
    global _shared
    with _shared_lock:  # (brokers on two threads starting their first sandbox: one page)
        if _shared is None:
            _shared = ClockPage()
        return _shared


class FixedClock(ClockPage):
    """A page that never moves (policy time = "deterministic"): every run
    reads the same instants; a 1 us nudge per read (clock_read.h), whoever
    reads, still keeps the clock from standing still, the same way in every
    run whose reads come in the same order."""

    REALTIME_NS = 946684800 * 10**9  # 2000-01-01T00:00:00Z
    MONOTONIC_NS = 10**9

    def __init__(self):
        super().__init__()
        self._page.tick_ns = 0
        self._page.realtime_ns = self.REALTIME_NS
        self._page.monotonic_ns = self._page.boottime_ns = self.MONOTONIC_NS
        self._page.seq = 2

    def hold(self) -> None:
        self._users += 1

    def release(self) -> None:
        self._users -= 1
        if self._users == 0:
            _close_page(self)


class CoarseClock(ClockPage):
    """A page rewritten every GRAIN_NS with the time cut down to GRAIN_NS
    (policy time = "coarse"): no clock finer than that for timing attacks.
    A Python thread is fine here: at this grain a GIL wait does not show."""

    GRAIN_NS = 100_000_000

    def __init__(self):
        super().__init__()
        self._page.tick_ns = self.GRAIN_NS
        self._stop = None
        self._tick()

    def _tick(self) -> None:
        import time
        g = self.GRAIN_NS
        p = self._page
        seq = p.seq
        p.seq = seq + 1  # odd: readers retry (x86 keeps these stores in order)
        p.realtime_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) // g * g
        p.monotonic_ns = time.monotonic_ns() // g * g
        p.boottime_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME) // g * g
        p.seq = seq + 2

    def hold(self) -> None:
        import threading
        self._users += 1
        if self._users == 1:
            stop = self._stop = threading.Event()

            def run():
                while not stop.wait(self.GRAIN_NS / 1e9):
                    self._tick()

            self._thread = threading.Thread(target=run, name="strictbox-coarse-clock", daemon=True)
            self._thread.start()

    def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._stop is not None:
            self._stop.set()
            self._thread.join()  # it writes the page: let it finish before the unmap
            _close_page(self)


def _close_page(page: ClockPage) -> None:
    """A private page serves one sandbox: free it with that sandbox."""
    page._page = None
    page._map.close()
    os.close(page.fd)


def for_mode(mode: str) -> ClockPage:
    """The clock page for a policy's time mode: real, coarse or deterministic."""
    if mode == "deterministic":
        return FixedClock()
    if mode == "coarse":
        return CoarseClock()
    return shared()
