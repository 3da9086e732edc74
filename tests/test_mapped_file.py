"""Large read-only file mappings at run time (a shared object's code, a
locale) are pinned: the spawner maps the file's own pages over the arena
instead of the broker copying them in, as the stub does for the first
image.  A program that reads, writes, unmaps or maps over such a mapping
sees what it sees natively; the broker reads it from the file, and makes
it arena memory again (SB_OP_UNPIN) before the program changes it."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import native, sandboxed
from strictbox import loader
from strictbox.calls import memory

MODES = ["read", "write", "unmap", "fixed", "shifted", "tail", "threads", "signals", "empty", "many"]
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


@pytest.fixture(scope="module")
def program(compile_c):
    return str(compile_c("mapped_file.c", "-pthread"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A file of 300 KB and some (past the pinning threshold; its last
    page partly past its end), on a mount the sandbox sees read-only."""
    d = tmp_path_factory.mktemp("mapped")
    path = d / "data"
    path.write_bytes(os.urandom(300 * 1024 + 123))
    return path


@pytest.mark.parametrize("mode", MODES)
def test_a_mapped_file_reads_as_natively(program, data, mode):
    want = native([program, mode, str(data)])
    assert want.returncode == 0, want.stderr
    got = sandboxed([program, mode, str(data)], ro=[str(data.parent)], timeout=60)
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, 0)


def test_a_write_to_a_mapped_file_without_mprotect_faults(program, data):
    want = native([program, "fault", str(data)])
    got = sandboxed([program, "fault", str(data)], ro=[str(data.parent)])
    assert want.returncode == got.returncode == -11, (want, got.reason)
    assert got.stdout == want.stdout == b"mapped\n"


def test_the_sandbox_maps_the_files_own_pages():
    """python3's libraries, at start and by dlopen, as the sandbox process
    maps them (its /proc/PID/maps): their read-only part is the files' own
    pages, never writable; their writable segment is in the arena."""
    code = "import sys, decimal; print('started', flush=True); sys.stdin.readline()"
    p = subprocess.Popen(["strictbox", "run", "--", "/usr/bin/python3", "-I", "-c", code],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"started\n"
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            child = int(f.read().split()[0])
        with open(f"/proc/{child}/maps") as f:
            maps = [line.split() for line in f]
        p.communicate(b"\n", timeout=30)
    finally:
        p.kill()
    decimal = [m[5] for m in maps if len(m) == 6 and "_decimal" in m[5]]
    assert decimal, maps
    for path in (os.path.realpath(LIBC), decimal[0]):
        mapped = [m for m in maps if len(m) == 6 and m[5] == path]
        assert mapped and all("w" not in m[1] and m[1].endswith("p") for m in mapped), (path, mapped)
        assert sum(int(m[0].split("-")[1], 16) - int(m[0].split("-")[0], 16) for m in mapped) >= memory.PIN_MIN


@pytest.mark.parametrize("mode", ["write", "unmap", "tail"])
def test_a_file_on_a_writable_mount_is_copied(program, data, tmp_path, mode):
    """(A copy: the program's writes through the file would not show.)"""
    (tmp_path / "data").write_bytes(data.read_bytes())
    want = native([program, mode, str(tmp_path / "data")])
    got = sandboxed([program, mode, str(tmp_path / "data")], rw=[str(tmp_path)])
    assert got.reason is None and got.stdout == want.stdout


def test_only_the_read_only_part_of_a_shared_object_is_pinned():
    """ld.so maps a library whole, then its writable segment over that: only
    the read-only segments before it stay, so only they are pinned."""
    fd = os.open(LIBC, os.O_RDONLY)
    try:
        n = loader.read_only_prefix(fd)
        loads = sorted(loader.parse_elf(fd, LIBC).loads, key=lambda p: p[3])
    finally:
        os.close(fd)
    writable = [p for p in loads if p[1] & loader.PF_W]
    assert n == loader.page_down(writable[0][3]) - loader.page_down(loads[0][3])
    assert n % 4096 == 0 and n > memory.PIN_MIN
    not_elf = os.open(__file__, os.O_RDONLY)
    try:
        assert loader.read_only_prefix(not_elf) is None
    finally:
        os.close(not_elf)


def test_an_elf_spans_its_segments_memory_not_only_their_file_bytes():
    """libc's last segment has 53 KB of bss past its file bytes: the span
    (what places an interpreter below its room) covers it."""
    fd = os.open(LIBC, os.O_RDONLY)
    try:
        elf = loader.parse_elf(fd, LIBC)
    finally:
        os.close(fd)
    low = min(loader.page_down(p[3]) for p in elf.loads)
    assert any(p[6] - p[5] >= 8192 for p in elf.loads)  # (bss ending pages past the file bytes)
    assert all(p[3] + p[6] <= low + elf.span for p in elf.loads)
    assert elf.span % 4096 == 0


@pytest.mark.parametrize("script", ["import json, decimal, sqlite3; print(decimal.Decimal(1) / 7)",
                                    "import locale; print(locale.setlocale(locale.LC_ALL, 'C.UTF-8'))"])
def test_python_with_mapped_libraries_runs_as_natively(script):
    argv = ["/usr/bin/python3", "-I", "-c", script]
    want = native(argv)
    got = sandboxed(argv)
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, want.returncode)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A file a prefetch slot holds whole, on a read-only mount."""
    d = tmp_path_factory.mktemp("small")
    path = d / "small"
    path.write_bytes(os.urandom(20 * 1024 + 123))
    return path


def test_a_mapping_of_bytes_a_copy_holds_is_copied_in_the_sandbox(program, tmp_path):
    """ld.so maps a library whole, then its data segment over that a page
    further on: the runtime copies those bytes from where the broker's copy
    put them, with no round trip (unless the policy looks at mmap)."""
    from strictbox.policy import Policy
    path = tmp_path / "copied"  # (larger than a prefetch slot, smaller than a pin)
    path.write_bytes(os.urandom(memory.PIN_MIN - 5000))
    want = native([program, "shifted", str(path)])
    assert want.stdout == (b"unaligned Invalid argument, stays 1; "
                           b"shifted 1, written 1; before 1, after 1\n")
    got = sandboxed([program, "shifted", str(path)], ro=[str(tmp_path)], timeout=60)
    once = sandboxed([program, "tail", str(path)], ro=[str(tmp_path)], timeout=60)  # one mapping
    assert (got.stdout, got.returncode, once.returncode) == (want.stdout, 0, 0), got.reason
    assert got.stats["broker"] == once.stats["broker"], (got.stats, once.stats)
    logs = Policy().rule("mmap", "log")
    logged = sandboxed([program, "shifted", str(path)], ro=[str(tmp_path)], timeout=60, policy=logs)
    logged_once = sandboxed([program, "tail", str(path)], ro=[str(tmp_path)], timeout=60, policy=logs)
    assert (logged.stdout, logged.stats["broker"]) == (want.stdout, logged_once.stats["broker"] + 1)


@pytest.mark.parametrize("mode", ["unmap", "fixed", "tail", "threads", "many"])
def test_a_small_file_is_mapped_from_its_prefetch_slot(program, small, mode):
    """A file a prefetch slot holds whole is mapped by the runtime, a copy
    from the slot, with no round trip (unless the policy looks at mmap):
    the program sees what it sees natively."""
    from strictbox.policy import Policy
    want = native([program, mode, str(small)])
    assert want.returncode == 0, want.stderr
    got = sandboxed([program, mode, str(small)], ro=[str(small.parent)], timeout=60)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, 0), got.reason
    logged = sandboxed([program, mode, str(small)], ro=[str(small.parent)], timeout=60,
                       policy=Policy().rule("mmap", "log"))
    assert (logged.stdout, logged.returncode) == (want.stdout, 0), logged.reason
    if mode == "many":  # 70 mappings: none asked when the policy lets every mmap by
        assert got.stats["broker"] < 20 <= 70 <= logged.stats["broker"], (got.stats, logged.stats)
        assert sum(l.startswith("logged mmap(") for l in logged.log) >= 70
