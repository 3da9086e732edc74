"""The first image's read-only segments are pinned: the stub maps them
straight from the file (the page cache's pages, as a real exec shares them)
instead of the broker copying them into the arena.  A program that reads,
writes, unmaps or execs over its own image sees what it sees natively; the
broker reads its strings from the file, and makes the segments arena memory
again (SB_OP_UNPIN: a copy, and the spawner maps the arena back) before the
program changes one."""

from __future__ import annotations

import re

import pytest

from conftest import native, sandboxed

MODES = ["read", "write", "unmap", "threads", "exec"]


@pytest.fixture(scope="module", params=["static", "dynamic"])
def program(request, compile_c):
    flags = ("-static", "-pthread") if request.param == "static" else ("-pthread",)
    return str(compile_c("pinned_image.c", *flags))


@pytest.mark.parametrize("mode", MODES)
def test_the_program_sees_its_image_as_natively(program, mode):
    want = native([program, mode])
    assert want.returncode == 0, want.stderr
    got = sandboxed([program, mode])
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, 0)


def test_a_write_to_a_pinned_segment_without_mprotect_faults(program):
    """As natively: the segment is read-only (the arena is writable everywhere)."""
    want = native([program, "fault"])
    got = sandboxed([program, "fault"])
    assert want.returncode == got.returncode == -11, (want, got.reason)
    assert got.stdout == want.stdout and got.stdout.startswith(b"text ")
    assert got.reason.startswith("program killed by SIGSEGV"), got.reason


def test_a_spawner_turned_to_remapping_fools_nobody(compile_c):
    """A thread keeps rewriting the byte the spawner received to 'x' while
    threads start: the spawner maps the arena back over the pinned image
    (zeros there: it was never copied) and says 'X' where the broker waits
    for a thread.  The program may break itself; the sandbox ends with a
    reason, or the race was lost and it runs on; the broker is never fooled."""
    prog = str(compile_c("hostile_spawn_socket.c", "-DSB_CFFI", "-static", "-pthread"))
    for _ in range(5):
        got = sandboxed([prog, "race_x"], timeout=30)
        if got.reason is None:
            assert (got.returncode, got.stdout) == (0, b"threads_started 4\n")
        else:
            assert re.match(r"protocol violation: a message on the spawn socket that is not the "
                            r"spawner's|program killed by SIG(SEGV|ILL|BUS)", got.reason), got.reason
