"""The clock page: the time every sandbox of this broker reads locally.

Strict mode disables the TSC, so a sandbox has no vDSO clock; asking the
broker for the time cost a round trip per clock_gettime (CPython makes
hundreds at start-up).  Instead one page of a memfd, mapped read-only into
every sandbox, is rewritten every SB_CLOCK_TICK_NS by a C thread of the
broker under a seqlock, while at least one sandbox runs."""

from __future__ import annotations

import mmap
import os

from ._native import ffi, lib

PAGE = 4096


class ClockPage:
    def __init__(self):
        self.fd = os.memfd_create("strictbox-clock", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, PAGE)
        self._map = mmap.mmap(self.fd, PAGE)
        self._page = ffi.cast("struct sb_clock *", ffi.from_buffer(self._map))
        self._users = 0

    def hold(self) -> None:
        """A sandbox starts: keep the page fresh."""
        self._users += 1
        if self._users == 1:
            err = lib.sb_clock_start(self._page)
            if err:
                self._users -= 1
                raise OSError(-err, f"cannot start the clock thread: {os.strerror(-err)}")

    def release(self) -> None:
        self._users -= 1
        if self._users == 0:
            lib.sb_clock_stop()


_shared: ClockPage | None = None


def shared() -> ClockPage:
    """The process-wide clock page (one writer thread however many brokers)."""
    global _shared
    if _shared is None:
        _shared = ClockPage()
    return _shared
