"""The arena: the memfd that is the sandbox's whole address space.

The broker reads sandbox memory only through `read`/`read_cstr` (and
`state_u32` for a counter of the runtime's), which copy the bytes into
broker memory once; every check is then made on that copy.
Addresses outside the arena raise Fault (the caller answers EFAULT).  The
broker maps the memfd too, so reading and writing sandbox memory costs no
system call (a dozen per request on a VM, where each costs microseconds).

Read-only file pages may be pinned: the stub (the first image's read-only
segments) or the spawner (large read-only file mappings) maps them from
their files over the arena (struct sb_pin), so the arena does not hold
them.  Reads there come from the file, which is what the sandbox sees (no
strict-mode thread can write a read-only mapping); writes there are a
Fault, as they are for the program, until `drop_pins`."""

from __future__ import annotations

import bisect
import collections
import fcntl
import mmap
import os
import struct
import threading
from typing import NamedTuple

from . import kernel, recycle
from ._native import ffi, lib

BASE = lib.SB_ARENA_BASE
PINS_FROM = lib.SB_IMAGE_BASE  # pins lie above the state and the prefetch slots
PATH_MAX = 4096
PAGE = 4096
SHORT_STRING = 256  # most paths end within this many bytes: read_cstr reads no more then
SMALL_COPY = 4 * PAGE  # copies up to this size fault in our mapping; larger ones use sendfile


class Fault(Exception):
    """A sandbox pointer that does not lie inside the arena."""


# Programs some sandbox of this broker runs from a pinned mapping, by
# (st_dev, st_ino): opening one for writing answers ETXTBSY, as Linux does
# for a running program (not for its ld.so).  Sandboxes may start and end
# on several threads.
PINNED_FILES: collections.Counter = collections.Counter()
_pinned_lock = threading.Lock()


def pinned_file(st: os.stat_result) -> bool:
    return (st.st_dev, st.st_ino) in PINNED_FILES


def _count_pinned(key: tuple[int, int], n: int) -> None:
    with _pinned_lock:
        PINNED_FILES[key] += n
        if PINNED_FILES[key] <= 0:
            del PINNED_FILES[key]


class Pin(NamedTuple):
    start: int
    end: int
    fd: int  # ours, open while a pin uses it
    offset: int  # the file's, at start


class Arena:
    def __init__(self, size: int, windows: tuple[tuple[int, int], ...] = ()):
        """windows: where the sandbox's layout has programs touch memory
        first (file ranges, recycle.spans): a spare arena shaped for them is
        taken if there is one, and this one is shaped for them once its
        sandbox has ended."""
        self.size = size
        self.windows = windows
        spare = recycle.take(size, windows)
        if spare is not None:  # (all zeros: an ended sandbox's, which no process maps but ours)
            self.map, self.fd = spare
        else:
            self.fd = os.memfd_create("strictbox-arena", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            os.ftruncate(self.fd, size)
            # The sandbox keeps an fd of it (for the spawner), which strict mode
            # lets it write(): it must not grow past the memory limit.
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
            try:
                self.map = mmap.mmap(self.fd, size)  # (sealed: it never shrinks under us)
            except OSError as e:  # (an address-space limit on the broker)
                os.close(self.fd)
                raise OSError(e.errno, f"cannot map a {size >> 20} MiB arena: {e.strerror}") from None
        st = os.fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)  # to know an fd of it when one comes back
        self._state_written = False  # write_state: the state area is still all zeros
        self.pins: list[Pin] = []  # by start, none overlapping
        self._starts: list[int] = []  # each pin's start, for bisect
        self._running: dict[int, tuple[int, int]] = {}  # the pins' fds that count in PINNED_FILES

    def sandbox_fd(self) -> int:
        """An fd of the arena for the stub, on its own open file description:
        the offset our sendfile moves is not one the sandbox can move."""
        return os.open(f"/proc/self/fd/{self.fd}", os.O_RDWR | os.O_CLOEXEC)

    def pin(self, start: int, end: int, fd: int, offset: int, running: bool = False) -> None:
        """[start, end) shows the file at fd from offset (we keep fd open
        while a pin uses it); running: the file is the program's
        (PINNED_FILES).  Nothing may be pinned there already, nor below
        PINS_FROM."""
        self._offset(start, end - start)
        if start < PINS_FROM:
            raise ValueError(f"{start:#x}: nothing is pinned below {PINS_FROM:#x}")
        if self.pinned(start, end - start):
            raise ValueError(f"{start:#x}-{end:#x} is pinned already")
        i = bisect.bisect(self._starts, start)
        self.pins.insert(i, Pin(start, end, fd, offset))
        self._starts.insert(i, start)
        if running and fd not in self._running:
            st = os.fstat(fd)
            self._running[fd] = (st.st_dev, st.st_ino)
            _count_pinned(self._running[fd], 1)

    def span(self, lo: int, hi: int) -> tuple[int, int] | None:
        """The pages to make arena memory again so that nothing in [lo, hi)
        is pinned: the pinned part of [lo, hi) in whole pages (whole pins
        when splitting would list more than SB_MAX_PINS), or None."""
        lo, hi = max(lo & ~(PAGE - 1), BASE), min((hi + PAGE - 1) & ~(PAGE - 1), BASE + self.size)
        hit = [p for p in self.pins if p.start < hi and lo < p.end]
        if not hit or lo >= hi:
            return None
        lo, hi = max(lo, hit[0].start), min(hi, hit[-1].end)
        pieces = sum((p.start < lo) + (hi < p.end) - 1 for p in hit)
        if len(self.pins) + pieces > lib.SB_MAX_PINS:
            lo, hi = hit[0].start, hit[-1].end
        return lo, hi

    def materialize(self, lo: int, hi: int, skip: tuple[int, int] = (0, 0)) -> None:
        """Copies the pinned bytes in [lo, hi), but for the whole pages of
        skip (whose bytes the sandbox discards), into the arena, where they
        will be once the spawner maps the arena back over them; then
        `drop_pins`.  (Zeros past a file's end, as its mapping shows.)"""
        s_lo, s_hi = (skip[0] + PAGE - 1) & ~(PAGE - 1), skip[1] & ~(PAGE - 1)
        for p in self.pins:
            a, b = max(p.start, lo), min(p.end, hi)
            pieces = ((a, min(b, s_lo)), (max(a, s_hi), b)) if s_lo < s_hi else ((a, b),)
            for start, end in pieces:
                if start < end:
                    done = self._copy(start - BASE, p.fd, p.offset + start - p.start, end - start)
                    if done < end - start:  # (a hole zeroes part pages too)
                        kernel.punch_hole(self.fd, start - BASE + done, end - start - done)

    def drop_pins(self, lo: int = BASE, hi: int | None = None) -> None:
        """[lo, hi) (all: the whole arena) shows the arena again (the
        spawner said so, or the sandbox is gone): the pins there end or are
        cut short, and files no pin uses any more are closed."""
        hi = BASE + self.size if hi is None else hi
        kept: list[Pin] = []
        for p in self.pins:
            if p.end <= lo or hi <= p.start:
                kept.append(p)
                continue
            if p.start < lo:
                kept.append(p._replace(end=lo))
            if hi < p.end:
                kept.append(Pin(hi, p.end, p.fd, p.offset + hi - p.start))
        used = {p.fd for p in kept}
        for fd in {p.fd for p in self.pins} - used:
            if fd in self._running:
                _count_pinned(self._running.pop(fd), -1)
            os.close(fd)
        self.pins = kept
        self._starts = [p.start for p in kept]

    def pinned(self, addr: int, n: int) -> bool:
        """Whether any of [addr, addr + n) is pinned."""
        if n <= 0 or addr + n <= PINS_FROM:  # (the runtime's state, the prefetch slots)
            return False
        i = bisect.bisect_left(self._starts, addr + n) - 1
        return i >= 0 and self.pins[i].end > addr

    def pin_at(self, addr: int) -> int:
        """The length of the pin that starts at addr, or 0."""
        i = bisect.bisect_left(self._starts, addr)
        return self.pins[i].end - addr if i < len(self.pins) and self.pins[i].start == addr else 0

    def pinned_exactly(self, start: int, end: int, offset: int, st: os.stat_result) -> bool:
        """[start, end) is one pin of that file from offset."""
        i = bisect.bisect_left(self._starts, start)
        if i == len(self.pins) or self.pins[i][:2] != (start, end) or self.pins[i].offset != offset:
            return False
        pst = os.fstat(self.pins[i].fd)
        return (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino)

    def _writable(self, addr: int, n: int) -> int:
        off = self._offset(addr, n)
        if self.pins and addr + n > PINS_FROM and self.pinned(addr, n):
            raise Fault(f"{n} bytes at {addr:#x} overlap pinned read-only pages")
        return off

    def _offset(self, addr: int, n: int) -> int:
        if n < 0 or addr < BASE or n > self.size or addr - BASE > self.size - n:
            raise Fault(f"{n} bytes at {addr:#x} fall outside the arena")
        return addr - BASE

    def inside(self, addr: int, n: int) -> None:
        """Raises Fault unless [addr, addr + n) lies in the arena."""
        self._offset(addr, n)

    def check(self, addr: int, n: int) -> None:
        """Raises Fault unless the broker may write [addr, addr + n): it
        lies in the arena, clear of the pinned segments."""
        self._writable(addr, n)

    def room(self, addr: int) -> int:
        """Bytes the broker may write from addr: to the arena's end or the
        first pinned segment; Fault if addr is outside the arena or pinned
        (as Linux: a short count at the first page it cannot write, EFAULT
        for none)."""
        self._offset(addr, 0)
        end = BASE + self.size
        if self.pinned(addr, 1):
            raise Fault(f"{addr:#x} lies in pinned read-only pages")
        i = bisect.bisect(self._starts, addr)
        return (self.pins[i].start if i < len(self.pins) else end) - addr

    def read(self, addr: int, n: int) -> bytes:
        off = self._offset(addr, n)
        data = self.map[off:off + n]  # (a copy)
        if self.pins and addr + n > PINS_FROM and self.pinned(addr, n):
            return self._read_pinned(addr, bytearray(data))
        return data

    def _read_pinned(self, addr: int, buf: bytearray) -> bytes:
        """buf (the arena's bytes at addr) with the pinned parts from their
        files (zeros past a file's end, as its mapping shows)."""
        for start, end, fd, offset in self.pins:
            lo, hi = max(start, addr), min(end, addr + len(buf))
            if lo < hi:
                got = os.pread(fd, hi - lo, offset + lo - start)
                buf[lo - addr:hi - addr] = got.ljust(hi - lo, b"\0")
        return bytes(buf)

    def read_cstr(self, addr: int, limit: int = PATH_MAX) -> bytes:
        """A NUL-terminated string, copied once (each byte read once: the
        first SHORT_STRING, and only if needed the rest up to limit);
        OSError(ENAMETOOLONG) past limit."""
        n = min(limit, BASE + self.size - addr) if addr >= BASE else 0
        chunk = self.read(addr, max(min(n, SHORT_STRING), 1))
        end = chunk.find(b"\0")
        if end < 0 and n > SHORT_STRING:
            chunk += self.read(addr + SHORT_STRING, n - SHORT_STRING)
            end = chunk.find(b"\0", SHORT_STRING)
        if end < 0:
            raise OSError(36, "File name too long")  # ENAMETOOLONG
        return chunk[:end]

    def state_u32(self, addr: int) -> int:
        """A 32-bit word of the runtime's state (which no pin covers)."""
        return struct.unpack_from("<I", self.map, self._offset(addr, 4))[0]

    def write(self, addr: int, data: bytes) -> None:
        off = self._writable(addr, len(data))
        self.map[off:off + len(data)] = data

    def put_u64(self, addr: int, value: int) -> None:
        """One 64-bit word, where no pin can be (the runtime's state and the
        thread blocks: sys_mmap never pins there)."""
        struct.pack_into("<Q", self.map, self._offset(addr, 8), value)

    def copy_in(self, addr: int, fd: int, offset: int, n: int) -> int:
        """Copies up to n bytes of the file at fd (from offset, leaving its
        file position alone) to addr; returns how many (fewer at end of file)."""
        return self._copy(self._writable(addr, n), fd, offset, n)

    def _copy(self, dst: int, fd: int, offset: int, n: int) -> int:
        if n <= SMALL_COPY:  # one call, straight into our mapping
            with memoryview(self.map) as whole, whole[dst:dst + n] as into:
                done = 0
                while done < n:
                    got = os.preadv(fd, [into[done:]], offset + done)
                    if got == 0:
                        break
                    done += got
                return done
        # sendfile copies kernel to kernel, with no page faults in our mapping:
        # 5x faster than pread + pwrite here for a library's pages.
        os.lseek(self.fd, dst, os.SEEK_SET)
        done = 0
        while done < n:
            got = os.sendfile(self.fd, fd, offset + done, n - done)
            if got == 0:
                break
            done += got
        return done

    def write_state(self, pieces: list[tuple[int, bytes]]) -> None:
        """Writes a fresh struct sb_state at BASE, given as (offset, bytes)
        pieces with zeros around them; an earlier state is zeroed first."""
        if self._state_written:
            self.zero(BASE, ffi.sizeof("struct sb_state"))
        self._state_written = True
        for offset, data in pieces:
            self.write(BASE + offset, data)

    def read_u64(self, addr: int) -> int:
        """One 64-bit field of sandbox memory (untrusted, like all of it)."""
        return int.from_bytes(self.read(addr, 8), "little")

    def zero(self, addr: int, n: int) -> None:
        kernel.punch_hole(self.fd, self._writable(addr, n), n)

    def close(self, cpus: set[int] | None = None, pidfd: int | None = None) -> None:
        """Frees the pages afterwards (on cpus, if given), or makes the arena
        the spare for the next start with its windows, once the sandbox's
        process, pidfd (which this closes), is gone (recycle.py).  This
        object reads and writes nothing from now on."""
        self.drop_pins()
        m, fd, size = self.map, self.fd, self.size
        self.map, self.fd = None, -1
        recycle.later(m, fd, size, pidfd, self.windows, cpus)

    def state(self):
        """A private copy of the runtime state (struct sb_state): untrusted data."""
        raw = self.read(BASE, ffi.sizeof("struct sb_state"))
        st = ffi.new("struct sb_state *")
        ffi.memmove(st, raw, len(raw))
        return st
