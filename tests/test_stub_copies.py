"""The image's file bytes that are not pinned (the program's and its
ld.so's writable segments, the premaps' unpinned parts) are copied in by
the stub as it starts (struct sb_copy), beside the broker's own start work;
past SB_MAX_COPIES the broker copies the rest itself."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ABI_INCLUDE, PROGRAMS, native, sandboxed
from strictbox import afterwards, arena, loader, lookups, sandbox, standby
from strictbox._native import lib

SEGMENTS = 40  # many_segments.c


@pytest.fixture(scope="module", params=["static", "dynamic"])
def many_segments(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("segs") / f"many_segments_{request.param}"
    starts = [f"-Wl,--section-start=.seg{i}={0x10000000 + i * 0x10000:#x}" for i in range(SEGMENTS)]
    static = ["-static"] if request.param == "static" else []
    subprocess.run(["cc", "-O1", "-Wall", f"-I{ABI_INCLUDE}", *static, *starts, "-o", str(out),
                    str(PROGRAMS / "many_segments.c")], check=True)
    return str(out)


def test_more_segments_than_the_stub_copies_all_arrive(many_segments):
    want = native([many_segments])
    assert want.stdout == b"segments 40 wrong 0\n", want
    with open(many_segments, "rb") as f:
        elf = loader.parse_elf(f.fileno(), many_segments)
    assert sum(1 for p in elf.loads if p[1] & 2) > lib.SB_MAX_COPIES  # (p_flags: PF_W)
    got = sandboxed([many_segments])
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, 0)


@pytest.mark.parametrize("stub", ["standby", "started"])
def test_a_start_leaves_the_copying_to_the_stub(monkeypatch, stub):
    """CPython's start: its data segment and its libraries' premapped
    parts, all copied by the stub (a standby one, or one the start
    starts); the broker copies none of it then."""
    if stub == "standby":
        sandboxed(["/usr/bin/python3", "-I", "-c", "pass"])
        afterwards.wait()
        taken, real = [], standby.take
        monkeypatch.setattr(standby, "take", lambda stub: taken.append(real(stub)) or taken[-1])
    else:
        monkeypatch.setattr(standby, "take", lambda stub: None)
    copied, starting = [], []
    copy_in, start = arena.Arena.copy_in, sandbox.Sandbox.start

    def counted(self, addr, fd, offset, n):
        if starting and addr >= lib.SB_IMAGE_BASE:  # (not the prefetch slots below)
            copied.append((addr, n))
        return copy_in(self, addr, fd, offset, n)

    def watched(self):
        starting.append(self)
        try:
            start(self)
        finally:
            starting.clear()

    monkeypatch.setattr(arena.Arena, "copy_in", counted)
    monkeypatch.setattr(sandbox.Sandbox, "start", watched)
    got = sandboxed(["/usr/bin/python3", "-I", "-c", "import zlib; print(zlib.crc32(b'x'))"])
    assert got.reason is None and got.stdout == b"2363233923\n", (got.reason, got.stdout)
    assert starting == [] and copied == []
    assert stub == "started" or taken[0] is not None  # (it was the standby's start)
    monkeypatch.setattr(standby, "take", lambda stub: None)
    monkeypatch.setattr(loader.Loaded, "hand_over", lambda self, extra, flags=0: 0)  # (the broker's, as at an exec)
    got = sandboxed(["/usr/bin/python3", "-I", "-c", "pass"])
    assert got.reason is None and copied, got.reason


def test_hand_over_takes_the_segments_first_then_extra_up_to_the_limit():
    elf = loader.Elf("prog", 7, loader.ET_DYN, 0, 0, [], None)

    def seg(i):
        return loader.Segment(elf, 0x400000 + 0x2000 * i, 0x1000 * i, 0x100, 0x100, 3)

    few = [seg(i) for i in range(3)]
    loaded = loader.Loaded(0, None, 0, 0, [], list(few))
    extra = [(0x7f0000000000, 0x3000, 0x1000, 9)]
    assert loaded.hand_over(extra) == 1
    assert loaded.segments == []
    whole = lib.SB_COPY_WHOLE  # (a segment: the file must hold it all; extra: a premap's, to its end)
    assert loaded.copies == [(s.addr, 0x100, s.offset, 7, whole) for s in few] + [(*extra[0], 0)]
    many = [seg(i) for i in range(lib.SB_MAX_COPIES + 2)]
    loaded = loader.Loaded(0, None, 0, 0, [], list(many))
    assert loaded.hand_over([], lib.SB_COPY_DONE) == 0  # (a standby copied these: their fds to close)
    assert loaded.hand_over(extra) == 0
    assert loaded.segments == many[lib.SB_MAX_COPIES:]  # (the broker copies these)
    assert [c[4] for c in loaded.copies] == [lib.SB_COPY_DONE | whole] * lib.SB_MAX_COPIES


def test_a_program_cut_short_before_the_stub_copies_it_does_not_start(tmp_path, monkeypatch):
    """As when the broker copied it: the run ends with the stub's word, not
    with zeros where the program's data was."""
    prog = tmp_path / "prog"
    shutil.copy(os.path.realpath("/usr/bin/python3"), prog)
    with open(prog, "rb") as f:
        data = [p for p in loader.parse_elf(f.fileno(), str(prog)).loads if p[1] & 2][0]
    monkeypatch.setattr(standby, "take", lambda stub: None)
    real = lookups.foretold_libraries

    def cut_short(sb, *args):  # (the image is laid out: the stub copies it once started)
        os.truncate(prog, data[2] + data[5] // 2)  # (half way into the data segment's file bytes)
        return real(sb, *args)
    monkeypatch.setattr(lookups, "foretold_libraries", cut_short)
    got = sandboxed([str(prog), "-I", "-c", "pass"], ro=[str(tmp_path)])
    assert got.reason == "the stub failed to start (see its message on stderr)", got.reason
    assert b"a file of the program was cut short" in got.stderr, got.stderr
