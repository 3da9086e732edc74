"""Emulated execve: lay an ELF program (and the ELF interpreter it names in
PT_INTERP, i.e. ld.so), its initial stack and the boot block into the arena.

The broker does this (not the runtime) because it must read and check the
program anyway, a memory-safe parser is the right place for hostile ELF
files, and it saves the round trips of copying segments through the
channel."""

from __future__ import annotations

import errno
import functools
import os
import struct
from dataclasses import dataclass, field

from .arena import BASE, Arena
from ._native import ffi, lib

PAGE = 4096
STACK_SIZE = 8 << 20
MIN_ARENA = 32 << 20
PT_LOAD, PT_INTERP = 1, 3
ET_EXEC, ET_DYN = 2, 3
PF_X, PF_W, PF_R = 1, 2, 4
MAX_PHNUM = 128


class ExecError(Exception):
    """The program cannot be loaded; the message says why, and errno is what
    an execve inside the sandbox answers."""

    def __init__(self, message: str, errno_: int = errno.ENOEXEC):
        super().__init__(message)
        self.errno = errno_


@dataclass
class Image:
    entry: int
    phdr: int
    phnum: int
    brk_start: int
    ranges: list[tuple[int, int, int]]  # start, end, prot
    interp: str | None = None  # PT_INTERP: the loader the program asks for
    base: int = 0  # where an ET_DYN image was placed (AT_BASE for ld.so)


def page_down(x: int) -> int:
    return x & ~(PAGE - 1)


def _page_up(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


def _prot(flags: int) -> int:
    return (1 if flags & PF_R else 0) | (2 if flags & PF_W else 0) | (4 if flags & PF_X else 0)


MAX_INTERP = 4096


@dataclass
class Elf:
    """A checked ELF header and program header table, nothing loaded yet."""
    name: str
    fd: int
    e_type: int
    entry: int
    phoff: int
    phdrs: list[tuple[int, ...]]
    interp: str | None

    @property
    def loads(self) -> list[tuple[int, ...]]:
        return [p for p in self.phdrs if p[0] == PT_LOAD]

    @property
    def span(self) -> int:
        """The pages from the first segment's to the end of the last one's
        memory (its bss included)."""
        low = min(page_down(p[3]) for p in self.loads)
        return _page_up(max(p[3] + p[6] for p in self.loads)) - low


def parse_elf(fd: int, name: str, head: bytes | None = None) -> Elf:
    """Reads and checks the headers of the ELF open at `fd` (head: its
    first bytes, if read already)."""
    hdr = head[:64] if head is not None else os.pread(fd, 64, 0)
    if len(hdr) < 64 or hdr[:4] != b"\x7fELF":
        raise ExecError(f"{name}: not an ELF executable")
    if hdr[4] != 2 or hdr[5] != 1:
        raise ExecError(f"{name}: not a 64-bit little-endian ELF")
    e_type, e_machine = struct.unpack_from("<HH", hdr, 16)
    e_entry, e_phoff = struct.unpack_from("<QQ", hdr, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", hdr, 54)
    if e_machine != 62:
        raise ExecError(f"{name}: not an x86_64 program")
    if e_type not in (ET_EXEC, ET_DYN):
        raise ExecError(f"{name}: not an executable (ELF type {e_type})")
    if e_phentsize != 56 or not 0 < e_phnum <= MAX_PHNUM or e_phoff >= 1 << 63:  # (pread's off_t)
        raise ExecError(f"{name}: malformed program headers")
    table = os.pread(fd, 56 * e_phnum, e_phoff)
    if len(table) != 56 * e_phnum:
        raise ExecError(f"{name}: truncated program headers")
    phdrs = [struct.unpack_from("<IIQQQQQQ", table, 56 * i) for i in range(e_phnum)]
    if not any(p[0] == PT_LOAD for p in phdrs):
        raise ExecError(f"{name}: no loadable segments")
    file_size = os.fstat(fd).st_size
    for _, _, off, vaddr, _, filesz, memsz, _ in phdrs:
        if filesz > memsz or off + filesz > file_size or vaddr + memsz >= 1 << 47:
            raise ExecError(f"{name}: malformed segment")
    interp = None
    for p in phdrs:
        if p[0] == PT_INTERP:
            if not 1 < p[5] <= MAX_INTERP:
                raise ExecError(f"{name}: malformed PT_INTERP")
            raw = os.pread(fd, p[5], p[2])
            if len(raw) != p[5] or raw[-1:] != b"\0" or b"\0" in raw[:-1]:
                raise ExecError(f"{name}: malformed PT_INTERP")
            interp = os.fsdecode(raw[:-1])
    return Elf(name, fd, e_type, e_entry, e_phoff, phdrs, interp)


class PerFile:
    """What is worked out from a file's bytes, once per version of the file
    (its identity, size and times tell them apart); at most `most` kept,
    then all dropped."""

    def __init__(self, most: int = 1024):
        self.most = most
        self._kept: dict[tuple[int, ...], object] = {}

    def get(self, st: os.stat_result, work):
        """work()'s result for the file st is the fstat of."""
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key not in self._kept:
            if len(self._kept) >= self.most:
                self._kept.clear()
            self._kept[key] = work()
        return self._kept[key]


def read_only_prefix(fd: int) -> int | None:
    """ld.so maps a shared object whole first (the file from its first
    segment's page on), then each segment over that: how many bytes of the
    first mapping stay as they are.  Those are its read-only segments in
    place, up to the first that is writable or lies elsewhere in the file.
    None: not an ELF file."""
    try:
        loads = sorted(parse_elf(fd, "").loads, key=lambda p: p[3])
    except (ExecError, OSError):
        return None
    v0, o0 = page_down(loads[0][3]), page_down(loads[0][2])
    for _, flags, off, vaddr, *_ in loads:
        if flags & PF_W or page_down(vaddr) - v0 != page_down(off) - o0:
            return page_down(vaddr) - v0
    return _page_up(loads[-1][3] + loads[-1][5]) - v0


@dataclass
class Segment:
    """File bytes a loaded program needs at addr (the rest of its pages stay zero)."""
    elf: Elf
    addr: int
    offset: int
    size: int
    memsz: int = 0
    prot: int = 0

    @property
    def pages(self) -> tuple[int, int]:
        return page_down(self.addr), _page_up(self.addr + max(self.size, self.memsz))


def place_elf(elf: Elf, base: int, limit: int) -> tuple[Image, list[Segment]]:
    """Where the PT_LOAD segments go: an ET_EXEC image where it was linked,
    an ET_DYN one from `base`; all of it must lie in [SB_IMAGE_BASE, limit)."""
    low = min(page_down(p[3]) for p in elf.loads)
    bias = base - low if elf.e_type == ET_DYN else 0
    ranges, phdr_addr, high = [], 0, 0
    for _, flags, off, vaddr, _, filesz, memsz, _ in elf.loads:
        start, end = vaddr + bias, vaddr + bias + memsz
        if start < lib.SB_IMAGE_BASE or end > limit:
            raise ExecError(f"{elf.name}: a segment lies outside the sandbox's image area")
        ranges.append((page_down(start), _page_up(end), _prot(flags)))
        if off <= elf.phoff < off + filesz:
            phdr_addr = start + (elf.phoff - off)
        high = max(high, _page_up(end))
    segments = [Segment(elf, vaddr + bias, off, filesz, memsz, _prot(flags))
                for _, flags, off, vaddr, _, filesz, memsz, _ in elf.loads]
    image = Image(elf.entry + bias, phdr_addr, len(elf.phdrs), high, ranges, elf.interp,
                  bias + low if elf.e_type == ET_DYN else 0)
    return image, segments


@functools.cache  # (fixed for the process: reading procfs cost ~0.1 ms per start)
def _auxv_host() -> dict[int, int]:
    with open("/proc/self/auxv", "rb") as f:
        raw = f.read()
    return {k: v for k, v in struct.iter_unpack("<QQ", raw) if k}


@dataclass
class Program:
    """A program and its interpreter, checked and ready to copy in."""
    main: Elf
    interp: Elf | None

    def close(self) -> None:
        for e in (self.main, self.interp):
            if e is not None:
                os.close(e.fd)


SHEBANG_MAX = 256


def _opened(open_file, vpath: str, what: str = "") -> int:
    try:
        return open_file(vpath)
    except OSError as e:
        raise ExecError(f"{what or vpath}: {e.strerror}", e.errno) from None


def _script_argv(vpath: str, head: bytes, argv: list[bytes]) -> tuple[str, list[bytes]]:
    """A #! script's interpreter, and the argv the kernel would build."""
    if b"\n" not in head and len(head) == SHEBANG_MAX:
        raise ExecError(f"{vpath}: #! line too long")
    line = head[2:].split(b"\n", 1)[0].replace(b"\t", b" ").strip(b" ")
    interp, _, arg = line.partition(b" ")
    if not interp:
        raise ExecError(f"{vpath}: empty #! line")
    arg = arg.strip(b" ")
    return os.fsdecode(interp), [interp, *([arg] if arg else []), os.fsencode(vpath), *argv[1:]]


def open_program(open_file, vpath: str, argv: list[bytes],
                 script_check=None) -> tuple[Program, str, list[bytes]]:
    """Opens and checks `vpath` (for a #! script its interpreter instead,
    one level, like most uses, which script_check(path) may refuse first
    by raising OSError) and the ELF interpreter it names: the program, the
    path it ran from and its argv, as the kernel would build them.
    open_file maps a virtual path to a host fd (or raises OSError); the
    program itself is opened once."""
    fd = _opened(open_file, vpath)
    try:
        head = os.pread(fd, SHEBANG_MAX, 0)
        if head.startswith(b"#!"):
            vpath, argv = _script_argv(vpath, head, argv)
            os.close(fd)
            fd = -1
            if script_check is not None:
                script_check(vpath)
            fd = _opened(open_file, vpath)
            head = os.pread(fd, SHEBANG_MAX, 0)
        main = parse_elf(fd, vpath, head)
        interp = None
        if main.interp is not None:
            ifd = _opened(open_file, main.interp, f"{vpath}: its interpreter {main.interp}")
            try:
                interp = parse_elf(ifd, main.interp)
            except ExecError:
                os.close(ifd)
                raise
            if interp.interp is not None or interp.e_type != ET_DYN:
                os.close(ifd)
                raise ExecError(f"{main.interp}: not usable as an ELF interpreter")
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return Program(main, interp), vpath, argv


@dataclass
class Loaded:
    entry: int  # where execution starts: ld.so's entry, or the program's
    image: Image  # the program itself
    interp_base: int
    mmap_top: int  # anonymous mappings go below this
    ranges: list[tuple[int, int, int]]
    segments: list[Segment]  # still to copy in: copy_segments
    pinned: list[Segment] = field(default_factory=list)  # mapped by the stub instead: pin_segments
    copies: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # copied in by the stub: hand_over
    vdso: int = 0  # where the program's vDSO goes (AT_SYSINFO_EHDR)

    def pin_segments(self, files: list[Elf]) -> list["Segment"]:
        """Takes the read-only segments of files the stub can map straight
        from the file (whole pages of file bytes, no page shared with another
        segment) off the list to copy, and returns them: at most SB_MAX_PINS."""
        spans = [s.pages for s in self.segments]
        pins: list[Segment] = []
        for i, s in enumerate(self.segments):
            lo, hi = spans[i]
            if (len(pins) < lib.SB_MAX_PINS and any(s.elf is e for e in files)
                    and not s.prot & 2 and s.size and s.memsz == s.size
                    and s.addr % PAGE == s.offset % PAGE
                    and not any(j != i and a < hi and lo < b for j, (a, b) in enumerate(spans))):
                pins.append(s)
        self.segments = [s for s in self.segments if all(s is not p for p in pins)]
        self.pinned = pins
        return pins

    def spans(self) -> list[tuple[int, int, int, int]]:
        """(start, len, offset, fd) of each segment still to copy."""
        return [(s.addr, s.size, s.offset, s.elf.fd) for s in self.segments]

    def hand_over(self, extra: list[tuple[int, int, int, int]], flags: int = 0) -> int:
        """Leaves the segments still to copy (SB_COPY_WHOLE: the file must
        hold all of each), then the (start, len, offset, fd) spans of extra,
        to the stub (struct sb_copy, with flags: it copies them in while the
        broker does the rest of a start), as many as it takes; returns how
        many of extra it took."""
        spans = [(*span, flags | lib.SB_COPY_WHOLE) for span in self.spans()]
        spans += [(*span, flags) for span in extra]
        took = spans[:lib.SB_MAX_COPIES - len(self.copies)]
        self.copies += took
        self.segments = self.segments[len(took):]
        return max(0, len(took) - (len(spans) - len(extra)))

    def copy_segments(self, arena: Arena) -> None:
        """Copies in the file bytes not handed over (the program's fds must
        still be open), and the vDSO."""
        for s in self.segments:
            if arena.copy_in(s.addr, s.elf.fd, s.offset, s.size) != s.size:
                raise ExecError(f"{s.elf.name}: truncated segment")
        arena.write(self.vdso, vdso_image())


VDSO = "strictbox-vdso"


@functools.cache
def vdso_image() -> bytes:
    """The program's vDSO (untrusted_runtime/vdso, built with the stub): the
    bytes of its one PT_LOAD, linked at 0, which are its memory image.  It
    reads the clock page without a trap; the kernel's own reads the TSC."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), VDSO)
    try:
        with open(path, "rb") as f:
            loads = parse_elf(f.fileno(), path).loads
            data = bytearray(f.read())
    except OSError as e:
        raise ExecError(f"{path}: {e.strerror} (strictbox is not fully installed)") from None
    if len(loads) != 1 or loads[0][2:4] != (0, 0) or loads[0][5] != loads[0][6]:
        raise ExecError(f"{path}: not a vDSO image (one PT_LOAD at 0, nothing past its file bytes)")
    struct.pack_into("<Q", data, 40, 0)  # e_shoff: the section headers stay behind
    struct.pack_into("<HH", data, 60, 0, 0)  # e_shnum, e_shstrndx
    return bytes(data[:loads[0][5]])


def place_program(prog: Program, lay: "Layout") -> Loaded:
    """Where the program goes (PIE at SB_IMAGE_BASE), the vDSO (at the mmap
    area's top) and the interpreter (just below it); nothing is copied yet."""
    vdso = lay.mmap_top - _page_up(len(vdso_image()))
    top = vdso
    ibase = 0
    if prog.interp is not None:
        ibase = page_down(top - prog.interp.span)
        top = ibase
    image, segments = place_elf(prog.main, lib.SB_IMAGE_BASE, top)
    ranges = list(image.ranges) + [(vdso, lay.mmap_top, lib.PROT_READ | lib.PROT_EXEC)]
    entry = image.entry
    if prog.interp is not None:
        iimage, isegments = place_elf(prog.interp, ibase, vdso)
        if image.brk_start > ibase:
            raise ExecError(f"{prog.main.name}: too large for the memory limit")
        ranges += iimage.ranges
        segments += isegments
        entry = iimage.entry
    return Loaded(entry, image, ibase, top, ranges, segments, vdso=vdso)


def build_stack(arena: Arena, top: int, argv: list[bytes], envp: list[bytes],
                image: Image, uid: int, gid: int, execfn: bytes, interp_base: int = 0,
                vdso: int = 0) -> int:
    """Writes argc, argv, envp and auxv below `top`; returns the initial sp."""
    host = _auxv_host()
    blob = bytearray()
    strings: list[int] = []

    def put(data: bytes) -> int:
        blob.extend(data)
        return len(blob) - len(data)

    random_off = put(os.urandom(16))
    platform_off = put(b"x86_64\0")
    execfn_off = put(execfn + b"\0")
    for s in argv + envp:
        strings.append(put(s + b"\0"))
    blob_addr = (top - len(blob)) & ~15
    auxv = [
        (lib.AT_PHDR, image.phdr), (lib.AT_PHENT, 56), (lib.AT_PHNUM, image.phnum),
        (lib.AT_PAGESZ, PAGE), (lib.AT_BASE, interp_base), (lib.AT_FLAGS, 0), (lib.AT_ENTRY, image.entry),
        (lib.AT_UID, uid), (lib.AT_EUID, uid), (lib.AT_GID, gid), (lib.AT_EGID, gid),
        (lib.AT_SECURE, 0), (lib.AT_CLKTCK, 100), (lib.AT_HWCAP, host.get(lib.AT_HWCAP, 0)),
        (lib.AT_HWCAP2, host.get(lib.AT_HWCAP2, 0)), (lib.AT_RANDOM, blob_addr + random_off),
        (lib.AT_PLATFORM, blob_addr + platform_off), (lib.AT_EXECFN, blob_addr + execfn_off),
    ]
    if vdso:
        auxv.append((lib.AT_SYSINFO_EHDR, vdso))
    if lib.AT_MINSIGSTKSZ in host:
        auxv.append((lib.AT_MINSIGSTKSZ, host[lib.AT_MINSIGSTKSZ]))
    auxv.append((lib.AT_NULL, 0))
    words = [len(argv)]
    words += [blob_addr + o for o in strings[: len(argv)]] + [0]
    words += [blob_addr + o for o in strings[len(argv):]] + [0]
    for k, v in auxv:
        words += [k, v]
    sp = (blob_addr - 8 * len(words)) & ~15
    if top - sp > STACK_SIZE // 2:
        raise ExecError("argument list too long")
    arena.write(blob_addr, bytes(blob))
    arena.write(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp


@dataclass
class Layout:
    threads_base: int
    stack_top: int
    mmap_top: int


def layout(arena_size: int, max_threads: int) -> Layout:
    if arena_size < MIN_ARENA:
        raise ExecError(f"memory limit must be at least {MIN_ARENA >> 20} MiB")
    block = lib.SB_THREAD_BLOCK
    threads_base = (BASE + arena_size - max_threads * block) & ~(block - 1)
    stack_top = threads_base - PAGE
    return Layout(threads_base, stack_top, stack_top - STACK_SIZE - PAGE)


NO_HOST_FDS = b"\xff" * (4 * lib.SB_MAX_FDS)  # fd_host all -1: every fd is the broker's
_STATE = {f: ffi.offsetof("struct sb_state", f)
          for f in ("selector", "brk_cur", "sig", "fd_host", "nvmas", "vmas", "clock_last", "npremaps",
                    "premaps", "ndenials", "denials")}


def boot_state(lay: Layout, arena_size: int, loaded: Loaded, sp: int, *, max_threads: int,
               pid: int, uid: int, gid: int, utsname: bytes, stdio: list,
               fd_host: dict[int, int], signals: list[tuple[int, int, int, int]] | None = None,
               trace: bool = False, cpu: int | None = None,
               pins: list[tuple[int, int, int, int]] = (), fd_limit: int = 0, clock_last: int = 0,
               premaps: list[tuple[int, ...]] = (),
               maps_from_slots: bool = False, rlimits: list[tuple[int, int]] = (),
               local_rlimits: bool = False, local_sysinfo: bool = False, started_ns: int = 0,
               denials: list[tuple[int, int]] = ()) -> list[tuple[int, bytes]]:
    """The initial struct sb_state as (offset, bytes) pieces, every other
    byte zero: boot block, memory map, fd table, signal actions.  (The
    whole struct is about 600 KB, of which a start sets a few.)"""
    b = ffi.new("struct sb_boot *")
    b.magic, b.version = lib.SB_MAGIC, lib.SB_ABI_VERSION
    b.arena_base, b.arena_size = BASE, arena_size
    b.entry, b.sp, b.brk_start = loaded.entry, sp, loaded.image.brk_start
    b.mmap_top, b.threads_base, b.max_threads = loaded.mmap_top, lay.threads_base, max_threads
    b.pid, b.ppid, b.uid, b.gid = pid, pid - 1, uid, gid
    b.trace = int(trace)  # the runtime reports the calls it serves itself (trace ring)
    b.cpu = 0 if cpu is None else cpu + 1  # the stub keeps the main thread there
    b.fd_limit = fd_limit
    b.maps_from_slots = int(maps_from_slots)  # (the runtime may copy a mapping of a prefetched file)
    b.local_rlimits = int(local_rlimits)  # (the runtime reads the limits from the copy here)
    b.local_sysinfo, b.started_ns = int(local_sysinfo), started_ns  # (its uptime: since then, on the clock page)
    for i, (soft, hard) in enumerate(rlimits):
        b.rlimits[i].cur, b.rlimits[i].max = soft, hard
    b.npins = len(pins)
    for i, (lo, hi, offset, fd) in enumerate(pins):  # the stub maps each from the fd it inherits
        b.pins[i].start, b.pins[i].len, b.pins[i].off, b.pins[i].fd = lo, hi - lo, offset, fd
    b.ncopies = len(loaded.copies)
    for i, (start, n, offset, fd, flags) in enumerate(loaded.copies):  # ... and copies these in
        b.copies[i].start, b.copies[i].len, b.copies[i].off, b.copies[i].fd = start, n, offset, fd
        b.copies[i].flags = flags
    ffi.memmove(b.utsname, utsname, min(len(utsname), 390))
    ffi.memmove(b.random_seed, os.urandom(32), 32)
    for i, entry in enumerate(stdio):
        if entry is not None:
            isatty, termios, winsize, stat = entry
            b.stdio[i].isatty = isatty
            ffi.memmove(b.stdio[i].termios, termios, len(termios))
            ffi.memmove(b.stdio[i].winsize, winsize, len(winsize))
            b.stdio[i].has_stat = bool(stat)
            ffi.memmove(b.stdio[i].stat, stat, len(stat))
    hosts = bytearray(NO_HOST_FDS)
    for vfd, host in fd_host.items():
        if 0 <= vfd < lib.SB_MAX_FDS:
            struct.pack_into("<i", hosts, 4 * vfd, host)
    vmas = sorted(loaded.ranges + [(lay.stack_top - STACK_SIZE, lay.stack_top, 3)])
    pieces = [
        (ffi.offsetof("struct sb_state", "boot"), bytes(ffi.buffer(b))),
        (_STATE["selector"], bytes([lib.SYSCALL_DISPATCH_FILTER_BLOCK])),  # an exec happens with dispatch armed
        (_STATE["brk_cur"], struct.pack("<Q", loaded.image.brk_start)),
        (_STATE["fd_host"], bytes(hosts)),
        (_STATE["nvmas"], struct.pack("<I", len(vmas))),
        (_STATE["vmas"], b"".join(struct.pack("<QQQ", *v) for v in vmas)),
        (_STATE["clock_last"], struct.pack("<Q", clock_last)),
        (_STATE["npremaps"], struct.pack("<I", len(premaps))),
        (_STATE["premaps"], b"".join(struct.pack("<QQQQQqqqqII", *p, 1, 0) for p in premaps)),
        (_STATE["ndenials"], struct.pack("<I", len(denials))),
        (_STATE["denials"], b"".join(struct.pack("<IiII", nr, code, 0, 0) for nr, code in denials)),
    ]
    if signals:
        pieces.append((_STATE["sig"], b"".join(struct.pack("<QQQQ", *a) for a in signals)))
    return pieces
