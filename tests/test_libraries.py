"""A dynamic program's libraries, foretold and held open for it as it
starts (broker/libraries.py, lookups.first_lookups): the foretelling must be
ld.so's own, stop where it cannot be sure, never raise on a hostile ELF;
and the held files must change nothing the program or the policy sees."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

import strictbox
from strictbox import libraries, loader, lookups, virtual
from strictbox.policy import Policy

from conftest import lines, native, open_fds, requires_ld_cache, sandboxed

PYTHON = "/usr/bin/python3"
PRINTS = "import math, zlib; print(math.sqrt(2), zlib.crc32(b'x'))"


def program(path: str) -> loader.Program:
    main = loader.parse_elf(os.open(path, os.O_RDONLY | os.O_CLOEXEC), path)
    if main.interp is None:
        return loader.Program(main, None)
    interp = loader.parse_elf(os.open(main.interp, os.O_RDONLY | os.O_CLOEXEC), main.interp)
    return loader.Program(main, interp)


def host_open(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def foretold(path: str, env=(b"PATH=/usr/bin",)) -> list[str]:
    prog = program(path)
    try:
        return libraries.foretell(prog, list(env), virtual.host_ld_cache().paths, host_open)
    finally:
        prog.close()


def ld_so_list(path: str) -> list[str]:
    """The libraries ld.so itself loads for path, in its order (--list)."""
    interp = program(path)
    interp.close()
    out = subprocess.run([interp.interp.name, "--list", path], capture_output=True, text=True,
                         check=True, env={}).stdout
    return [line.split(" => ")[1].split(" (")[0] for line in out.splitlines() if " => " in line]


@pytest.fixture
def with_libm(compile_c):
    return str(compile_c("hello.c", "-Wl,--no-as-needed", "-lm"))


@requires_ld_cache
def test_foretells_the_libraries_ld_so_loads(with_libm):
    for path in (PYTHON, with_libm):
        want = ld_so_list(path)
        assert want and foretold(path) == want


@requires_ld_cache
def test_a_search_path_of_its_own_or_an_ld_variable_ends_the_foretelling(compile_c, with_libm):
    runpath = str(compile_c("hello.c", "-Wl,--no-as-needed", "-lm", "-Wl,-rpath,nowhere"))
    assert foretold(runpath) == []
    assert foretold(with_libm, env=[b"PATH=/usr/bin", b"LD_LIBRARY_PATH=/nowhere"]) == []
    assert foretold(str(compile_c("hello.c", "-static"))) == []  # (no ld.so at all)
    # and the program runs as it did (but for its pid and uid)
    assert lines(sandboxed([runpath]))[:4] == native([runpath]).stdout.decode().splitlines()[:4]


@requires_ld_cache
def test_held_and_premapped_libraries_save_round_trips_and_change_nothing(monkeypatch):
    want = native([PYTHON, "-I", "-c", PRINTS]).stdout.decode().splitlines()
    held = sandboxed([PYTHON, "-I", "-c", PRINTS])
    monkeypatch.setattr(lookups, "foretold_libraries", lambda *a: [])
    asked = sandboxed([PYTHON, "-I", "-c", PRINTS])
    monkeypatch.setattr(lookups, "first_lookups", lambda *a: None)
    none = sandboxed([PYTHON, "-I", "-c", PRINTS])
    assert lines(held) == lines(asked) == lines(none) == want
    # each library's open and first mapping; ld.so.cache's open, ld.so.preload's miss
    assert held.stats["broker"] <= asked.stats["broker"] - 2 * len(foretold(PYTHON))
    assert asked.stats["broker"] <= none.stats["broker"] - 2


@requires_ld_cache
def test_a_library_mapped_again_is_mapped_anew(compile_c):
    """ld.so's start takes each library's first mapping; a second mapping of
    the file (libm again, in a namespace of its own) is the broker's."""
    prog = str(compile_c("map_again.c", "-Wl,--no-as-needed", "-ldl", "-lm"))
    want = native([prog]).stdout.decode().splitlines()
    assert lines(sandboxed([prog])) == want and want[0].split()[0] == want[0].split()[1]


@requires_ld_cache
def test_the_policy_still_decides_each_library():
    """A library the policy denies or logs is not held: ld.so's open of it
    reaches the broker (judged with its link followed: libz.so.1.2.13)."""
    denied = sandboxed([PYTHON, "-I", "-c", "pass"],
                       policy=Policy.permissive().path("*/libz.so.*.*", "errno(EACCES)"))
    assert denied.returncode == 127 and b"libz.so.1" in denied.stderr
    assert any(line.startswith("denied openat") and "libz.so" in line for line in denied.log)
    logged = sandboxed([PYTHON, "-I", "-c", "pass"], policy=Policy.permissive().path("*/libm.so*", "log"))
    assert logged.returncode == 0
    assert any(line.startswith("logged openat") and "libm.so" in line for line in logged.log)


@requires_ld_cache
def test_the_policy_sees_each_mmap_it_rules_on(monkeypatch):
    """With an mmap rule the broker must see each mapping: no library's
    first mapping is made for the program then (premaps.py)."""
    logs = Policy.permissive().rule("mmap", "log")
    foretelling = sandboxed([PYTHON, "-I", "-c", "pass"], policy=logs)
    monkeypatch.setattr(lookups, "foretold_libraries", lambda *a: [])
    asking = sandboxed([PYTHON, "-I", "-c", "pass"], policy=logs)
    def mmaps(res):
        return [line for line in res.log if line.startswith("logged mmap")]
    assert len(mmaps(foretelling)) == len(mmaps(asking)) >= len(foretold(PYTHON))


@requires_ld_cache
def test_a_first_mapping_never_taken_is_zeroed_once_mapped_over(compile_c, tmp_path):
    """An interpreter that loads nothing finds the libraries' first mappings
    below it; anonymous memory it maps over them reads back as zeros."""
    interp = compile_c("premap_interp.c", "-nostdlib", "-static-pie", "-ffreestanding",
                       "-fno-stack-protector", "-fPIE", f"-Wl,-soname,{libraries.GLIBC_LOADER}")
    shutil.copy(interp, tmp_path / "interp")
    prog = tmp_path / "prog"
    subprocess.run(["cc", "-O1", "-o", str(prog), os.path.join(os.path.dirname(__file__), "programs", "hello.c"),
                    "-Wl,--no-as-needed", "-lm", "-Wl,--dynamic-linker=/t/interp"], check=True)
    got = sandboxed([str(prog)], ro=[f"{tmp_path}:/t"])
    assert lines(got) == ["bytes below", "mapped: zero"]
    asked = sandboxed([str(prog)], ro=[f"{tmp_path}:/t"], policy=Policy.permissive().rule("mmap", "log"))
    assert lines(asked) == ["nothing below", "mapped: zero"]


def test_a_start_that_fails_keeps_no_library_open(monkeypatch):
    sandboxed([PYTHON, "-I", "-c", "pass"])
    monkeypatch.setenv("STRICTBOX_STUB", "/nonexistent/strictbox-stub")  # (after the libraries are planned)
    before = open_fds()
    for _ in range(3):
        with pytest.raises((OSError, strictbox.StrictboxError)):
            sandboxed([PYTHON, "-I", "-c", "pass"])
    assert open_fds() == before


# -- hostile ELF files ---------------------------------------------------------

def dynamic_entries(data: bytes) -> int:
    """The file offset of the dynamic section of an ELF image."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    for i in range(phnum):
        p_type, _, p_offset = struct.unpack_from("<IIQ", data, phoff + 56 * i)
        if p_type == libraries.PT_DYNAMIC:
            return p_offset
    raise AssertionError("no PT_DYNAMIC")


def with_tag(data: bytes, tag: int, value: int) -> bytes:
    """data with the first dynamic entry of tag set to value."""
    at = dynamic_entries(data)
    while True:
        t, _ = struct.unpack_from("<qQ", data, at)
        assert t != libraries.DT_NULL, tag
        if t == tag:
            return data[:at] + struct.pack("<qQ", t, value) + data[at + 16:]
        at += 16


def dynamic_of(path) -> tuple | None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return libraries.dynamic(loader.parse_elf(fd, str(path)))
    finally:
        os.close(fd)


def tiny_elf(entries: list[tuple[int, int]], strings: bytes) -> bytes:
    """A shared object with one PT_LOAD holding everything, and a dynamic
    section of entries ((tag, value); DT_STRTAB and DT_STRSZ added) over
    strings."""
    dyn_at, count = 64 + 2 * 56, len(entries) + 3
    str_at = dyn_at + 16 * count
    size = str_at + len(strings)
    head = bytearray(64)
    head[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHIQQQIHHHHHH", head, 16, loader.ET_DYN, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", loader.PT_LOAD, 5, 0, 0, 0, size, size, 4096)
    phdrs += struct.pack("<IIQQQQQQ", libraries.PT_DYNAMIC, 6, dyn_at, dyn_at, dyn_at, 16 * count, 16 * count, 8)
    dyn = b"".join(struct.pack("<qQ", t, v) for t, v in
                   [*entries, (libraries.DT_STRTAB, str_at), (libraries.DT_STRSZ, len(strings)), (0, 0)])
    return bytes(head) + phdrs + dyn + strings


def test_what_one_object_may_need_is_bounded(tmp_path):
    """However its dynamic section reads, the broker keeps little of it."""
    path = tmp_path / "lib.so"
    N = libraries.DT_NEEDED
    cases = {
        "plain": ([(N, 1), (N, 6), (libraries.DT_SONAME, 11)], b"\0liba\0libb\0me\0", (["liba", "libb"], "me")),
        "too many": ([(N, 1)] * (libraries.MOST + 1), b"\0liba\0", None),
        "a name too long": ([(N, 1)], b"\0" + b"x" * (libraries.MAX_NAME + 1) + b"\0", None),
        "no end to a name": ([(N, 1)], b"\0" + b"x" * 4096, None),
        "its own search": ([(N, 1), (libraries.DT_FLAGS_1, libraries.DF_1_NODEFLIB)], b"\0liba\0", None),
        "a run path": ([(N, 1), (libraries.DT_RUNPATH, 1)], b"\0liba\0", None),
    }
    for name, (entries, strings, want) in cases.items():
        path.write_bytes(tiny_elf(entries, strings))
        assert dynamic_of(path) == want, name


def test_program_headers_past_any_file_are_malformed(tmp_path):
    """(The hypothesis test below found pread's OverflowError here.)"""
    data = bytearray(tiny_elf([], b"\0"))
    struct.pack_into("<Q", data, 32, 1 << 63)  # e_phoff
    (tmp_path / "far").write_bytes(bytes(data))
    with pytest.raises(loader.ExecError, match="malformed program headers"):
        dynamic_of(tmp_path / "far")


def test_a_malformed_dynamic_section_is_not_foretold(with_libm, tmp_path):
    good = open(with_libm, "rb").read()
    assert dynamic_of(with_libm) == (["libm.so.6", "libc.so.6"], None)
    bad = tmp_path / "bad"
    for tag, value in ((libraries.DT_STRSZ, 1 << 40), (libraries.DT_STRTAB, 1 << 40),
                       (libraries.DT_STRSZ, libraries.MAX_STRINGS + 1),
                       (libraries.DT_NEEDED, 1 << 30), (libraries.DT_NEEDED, 1 << 63)):
        bad.write_bytes(with_tag(good, tag, value))
        assert dynamic_of(bad) is None, (tag, value)


CHANGE = st.tuples(st.integers(0, 1 << 14), st.integers(0, 255))


@settings(max_examples=200, deadline=None)
@given(st.lists(CHANGE, max_size=8), st.lists(CHANGE, max_size=8))
def test_a_mangled_dynamic_section_never_raises(built_hello_m, in_dynamic, in_head):
    """Bytes of the dynamic section, and of the file's first 16 KiB (its
    headers and string table), changed at random: a plain answer or None,
    never an exception (the broker reads these for every start)."""
    good, path = built_hello_m
    at, data = dynamic_entries(good), bytearray(good)
    for offset, byte in in_dynamic:
        data[(at + offset % 512) % len(data)] = byte
    for offset, byte in in_head:
        data[offset % len(data)] = byte
    path.write_bytes(bytes(data))
    try:
        found = dynamic_of(path)
    except loader.ExecError:  # (the program headers themselves broken)
        return
    assert found is None or (all(isinstance(n, str) for n in found[0])
                             and (found[1] is None or isinstance(found[1], str)))


@pytest.fixture(scope="module")
def built_hello_m(tmp_path_factory):
    src = os.path.join(os.path.dirname(__file__), "programs", "hello.c")
    out = tmp_path_factory.mktemp("libs") / "hello_m"
    subprocess.run(["cc", "-O1", "-o", str(out), src, "-Wl,--no-as-needed", "-lm"], check=True)
    scratch = out.with_name("mangled")
    shutil.copy(out, scratch)
    return out.read_bytes(), scratch
