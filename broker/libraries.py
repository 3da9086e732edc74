"""The shared libraries glibc's ld.so opens first for a dynamic program,
foretold from the program's own ELF headers and the host's ld.so.cache, so
the broker can hold them open for the runtime as it starts (lookups.
first_lookups): ld.so's open of each then costs no round trip.

Only what ld.so is certain to do is foretold: the libraries a program and
its libraries name (DT_NEEDED), each found by the one plain x86-64 entry
the cache has for it, breadth first as ld.so loads them.  An object with a
search of its own (DT_RPATH, DT_RUNPATH, DF_1_NODEFLIB) or an environment
that changes the search (any LD_ variable) ends the foretelling there.  A
wrong guess costs a held file the program never opens and a first mapping
it never takes (premaps.py), never a wrong answer: the runtime gives the
held file only to an open of its very path, and the mapping only to a
mapping of that very file."""

from __future__ import annotations

import os
import struct

from . import loader

GLIBC_LOADER = "ld-linux-x86-64.so.2"  # glibc's ld.so for x86-64, by its DT_SONAME
PT_DYNAMIC = 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
DT_FLAGS_1, DF_1_NODEFLIB = 0x6FFFFFFB, 0x800  # (no cache, no default directories)
MAX_DYNAMIC = 1 << 16  # bytes of a dynamic section read
MAX_STRINGS = 1 << 20  # bytes of its string table
MAX_NAME = 255  # bytes of a library's name (NAME_MAX)
MOST = 32  # libraries foretold for one program, and names one object may need


def dynamic(elf: loader.Elf) -> tuple[list[str], str | None] | None:
    """The names elf needs (DT_NEEDED, in order) and its own (DT_SONAME);
    None if it has a search of its own, or needs more than MOST, or if its
    dynamic section cannot be read plainly (a name longer than MAX_NAME)."""
    dyn = [p for p in elf.phdrs if p[0] == PT_DYNAMIC]
    if len(dyn) != 1 or not 0 < dyn[0][5] <= MAX_DYNAMIC:
        return None if dyn else ([], None)
    raw = os.pread(elf.fd, dyn[0][5], dyn[0][2])
    tags: dict[int, list[int]] = {}
    for tag, val in struct.iter_unpack("<qQ", raw[: len(raw) // 16 * 16]):
        if tag == DT_NULL:
            break
        tags.setdefault(tag, []).append(val)
    if (DT_RPATH in tags or DT_RUNPATH in tags or DT_STRTAB not in tags or DT_STRSZ not in tags
            or len(tags.get(DT_NEEDED, ())) > MOST or any(f & DF_1_NODEFLIB for f in tags.get(DT_FLAGS_1, ()))):
        return None
    size = tags[DT_STRSZ][0]
    off = _file_offset(elf, tags[DT_STRTAB][0], size)
    if off is None or size > MAX_STRINGS:
        return None
    strings = os.pread(elf.fd, size, off)

    def name(at: int) -> str | None:
        end = strings.find(b"\0", at, at + MAX_NAME + 1)
        return os.fsdecode(strings[at:end]) if 0 <= at < end else None

    needed = [name(v) for v in tags.get(DT_NEEDED, [])]
    soname = name(tags[DT_SONAME][0]) if DT_SONAME in tags else None
    if None in needed or (DT_SONAME in tags and soname is None):
        return None
    return needed, soname


def _file_offset(elf: loader.Elf, vaddr: int, size: int) -> int | None:
    """Where the bytes at vaddr lie in the file: within one segment's file part."""
    for _, _, off, p_vaddr, _, filesz, _, _ in elf.loads:
        if p_vaddr <= vaddr and vaddr + size <= p_vaddr + filesz:
            return vaddr - p_vaddr + off
    return None


_DYNAMIC = loader.PerFile()  # dynamic()


def _dynamic_of(fd: int, parse) -> tuple[list[str], str | None] | None:
    """dynamic() of the ELF open at fd (parse() reads its headers), once
    per version of the file."""
    def work():
        try:
            return dynamic(parse())
        except loader.ExecError:
            return None
    return _DYNAMIC.get(os.fstat(fd), work)


def foretell(prog: loader.Program, env: list[bytes], cache_paths: dict[str, str], open_file) -> list[str]:
    """The paths ld.so opens the libraries of prog at, in order, as far as
    they are certain.  cache_paths: the host cache's plain x86-64 entries
    (virtual.LdCache.paths); open_file(path): that file open read-only (a
    host fd, which this closes), or a negative errno."""
    if prog.interp is None or any(e.startswith(b"LD_") for e in env):
        return []
    try:
        own = _dynamic_of(prog.main.fd, lambda: prog.main)
        interp = _dynamic_of(prog.interp.fd, lambda: prog.interp)
    except OSError:
        return []
    if own is None or interp is None or interp[1] != GLIBC_LOADER:
        return []
    loaded, paths, queue = {GLIBC_LOADER}, [], list(own[0])
    while queue and len(paths) < MOST:
        name = queue.pop(0)
        if name in loaded:
            continue
        loaded.add(name)
        path = cache_paths.get(name)
        fd = open_file(path) if path is not None and "/" not in name else -1
        if fd < 0:  # (ld.so's search goes on where we do not follow)
            return paths
        try:
            found = _dynamic_of(fd, lambda: loader.parse_elf(fd, path))
        except OSError:
            found = None
        finally:
            os.close(fd)
        if found is None:
            return paths
        paths.append(path)
        if found[1] is not None:
            loaded.add(found[1])
        queue.extend(found[0])
    return paths
