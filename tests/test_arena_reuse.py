"""An ended sandbox's arena, zeroed, serves the next start of the same size
(strictbox/arena.py): whatever the program left there, however it ended,
the next sandbox finds nothing of it."""

from __future__ import annotations

import os

import pytest

from conftest import sandboxed
from strictbox import afterwards, arena, sandbox

MEMORY = 64 << 20


@pytest.fixture(scope="module")
def prog(compile_c) -> str:
    return str(compile_c("arena_leftovers.c", "-static"))


def spare_ident() -> tuple[int, int] | None:
    afterwards.wait()
    spare = arena._spare
    if spare is None:
        return None
    st = os.fstat(spare[1])
    return st.st_dev, st.st_ino


def scan_with(prog, monkeypatch, want_ident) -> bytes:
    """The scan's output, from a sandbox that must have taken the spare."""
    idents = []
    real = sandbox.Sandbox.start
    monkeypatch.setattr(sandbox.Sandbox, "start", lambda sb: (real(sb), idents.append(sb.arena.ident)))
    got = sandboxed([prog, "scan"], memory=MEMORY)
    assert got.returncode == 0, (got.reason, got.stderr)
    assert idents == [want_ident]
    return got.stdout


@pytest.mark.parametrize("end", ["exit", "killed"])
def test_the_next_sandbox_finds_nothing_of_the_last(prog, monkeypatch, end):
    if end == "exit":
        got = sandboxed([prog, "scribble"], memory=MEMORY)
        assert (got.returncode, got.stdout) == (0, b"scribbled\n"), got.reason
    else:  # (killed at the wall-clock limit as it waits)
        got = sandboxed([prog, "scribble", "hang"], memory=MEMORY, timeout=1)
        assert got.stdout == b"scribbled\n" and "timeout" in got.reason
    ident = spare_ident()
    assert ident is not None
    assert scan_with(prog, monkeypatch, ident) == b"runs 0\n"


def test_a_start_of_another_size_makes_its_own(prog, monkeypatch):
    sandboxed([prog, "scribble"], memory=MEMORY)
    ident = spare_ident()
    idents = []
    real = sandbox.Sandbox.start
    monkeypatch.setattr(sandbox.Sandbox, "start", lambda sb: (real(sb), idents.append(sb.arena.ident)))
    assert sandboxed([prog, "scan"], memory=2 * MEMORY).stdout == b"runs 0\n"
    assert ident is not None and idents != [ident]
    assert spare_ident() == ident  # (one is kept at a time: the other went)


def test_an_arena_with_more_pages_than_are_kept_is_freed(prog, monkeypatch):
    monkeypatch.setattr(arena, "SPARE_MAX", 1 << 20)
    sandboxed([prog, "scribble"], memory=MEMORY)
    assert spare_ident() is None
