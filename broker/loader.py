"""Emulated execve: lay a static ELF program, its initial stack and the boot
block into a fresh arena before the stub starts.

The broker does this (not the runtime) because it must read and check the
program anyway, a memory-safe parser is the right place for hostile ELF
files, and it saves the round trips of copying segments through the
channel."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

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
    """The program cannot be loaded; the message says why."""


@dataclass
class Image:
    entry: int
    phdr: int
    phnum: int
    brk_start: int
    ranges: list[tuple[int, int, int]]  # start, end, prot


def _page_down(x: int) -> int:
    return x & ~(PAGE - 1)


def _page_up(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


def _prot(flags: int) -> int:
    return (1 if flags & PF_R else 0) | (2 if flags & PF_W else 0) | (4 if flags & PF_X else 0)


def load_elf(arena: Arena, fd: int, name: str, limit: int) -> Image:
    """Copies the PT_LOAD segments of the ELF open at `fd` into the arena below `limit`."""
    hdr = os.pread(fd, 64, 0)
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
    if e_phentsize != 56 or not 0 < e_phnum <= MAX_PHNUM:
        raise ExecError(f"{name}: malformed program headers")
    table = os.pread(fd, 56 * e_phnum, e_phoff)
    if len(table) != 56 * e_phnum:
        raise ExecError(f"{name}: truncated program headers")
    phdrs = [struct.unpack_from("<IIQQQQQQ", table, 56 * i) for i in range(e_phnum)]
    if any(p[0] == PT_INTERP for p in phdrs):
        raise ExecError(f"{name}: dynamically linked programs are not supported yet")
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    if not loads:
        raise ExecError(f"{name}: no loadable segments")
    low = min(_page_down(p[3]) for p in loads)
    bias = lib.SB_IMAGE_BASE - low if e_type == ET_DYN else 0
    file_size = os.fstat(fd).st_size
    ranges, phdr_addr, high = [], 0, 0
    for _, flags, off, vaddr, _, filesz, memsz, _ in loads:
        start, end = vaddr + bias, vaddr + bias + memsz
        if filesz > memsz or off + filesz > file_size or start < lib.SB_IMAGE_BASE or end > limit:
            raise ExecError(f"{name}: a segment lies outside the sandbox's image area")
        arena.write(start, os.pread(fd, filesz, off))
        ranges.append((_page_down(start), _page_up(end), _prot(flags)))
        if off <= e_phoff < off + filesz:
            phdr_addr = start + (e_phoff - off)
        high = max(high, _page_up(end))
    return Image(e_entry + bias, phdr_addr, e_phnum, high, ranges)


def _auxv_host() -> dict[int, int]:
    raw = open("/proc/self/auxv", "rb").read()
    return {k: v for k, v in struct.iter_unpack("<QQ", raw) if k}


def build_stack(arena: Arena, top: int, argv: list[bytes], envp: list[bytes],
                image: Image, uid: int, gid: int, execfn: bytes) -> int:
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
        (lib.AT_PAGESZ, PAGE), (lib.AT_BASE, 0), (lib.AT_FLAGS, 0), (lib.AT_ENTRY, image.entry),
        (lib.AT_UID, uid), (lib.AT_EUID, uid), (lib.AT_GID, gid), (lib.AT_EGID, gid),
        (lib.AT_SECURE, 0), (lib.AT_CLKTCK, 100), (lib.AT_HWCAP, host.get(lib.AT_HWCAP, 0)),
        (lib.AT_HWCAP2, host.get(lib.AT_HWCAP2, 0)), (lib.AT_RANDOM, blob_addr + random_off),
        (lib.AT_PLATFORM, blob_addr + platform_off), (lib.AT_EXECFN, blob_addr + execfn_off),
    ]
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


def boot_state(lay: Layout, arena_size: int, image: Image, sp: int, *, max_threads: int,
               pid: int, uid: int, gid: int, utsname: bytes, stdio: list) -> bytes:
    """The initial struct sb_state: boot block, memory map, fd table."""
    st = ffi.new("struct sb_state *")
    b = st.boot
    b.magic, b.version = lib.SB_MAGIC, lib.SB_ABI_VERSION
    b.arena_base, b.arena_size = BASE, arena_size
    b.entry, b.sp, b.brk_start = image.entry, sp, image.brk_start
    b.mmap_top, b.threads_base, b.max_threads = lay.mmap_top, lay.threads_base, max_threads
    b.pid, b.ppid, b.uid, b.gid = pid, pid - 1, uid, gid
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
    st.brk_cur = image.brk_start
    vmas = image.ranges + [(lay.stack_top - STACK_SIZE, lay.stack_top, 3)]
    for i, (s, e, p) in enumerate(sorted(vmas)):
        st.vmas[i] = (s, e, p)
    st.nvmas = len(vmas)
    for fd in range(lib.SB_MAX_FDS):
        st.fd_host[fd] = fd if fd < len(stdio) and stdio[fd] is not None else -1
    return bytes(ffi.buffer(st))
