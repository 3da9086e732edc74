"""Memory the program unmaps, or gives back from its heap, and takes again
reads as zeros (as a native run's does), though a large unmap leaves its
bytes until then: they are cleared in the sandbox at the reuse (a range up
to 2 MiB) or zeroed by a broker round trip (a hole punched), or never if the
program exits first (CPython frees its arenas as it exits)."""

from __future__ import annotations

import pytest

from conftest import native, sandboxed

CASES = ["remap", "fixed_inside", "fixed_before", "heap", "heap_again", "grow_in_place", "moved", "many"]


@pytest.fixture(scope="module", params=["dynamic", "static"])
def program(request, compile_c) -> str:
    flags = ("-static",) if request.param == "static" else ()
    return str(compile_c("unmapped_reuse.c", *flags))


def test_unmapped_memory_taken_again_reads_as_zeros(program):
    want = "".join(f"{case} 1\n" for case in CASES).encode()
    assert native([program]).stdout == want
    got = sandboxed([program])
    assert (got.reason, got.returncode, got.stdout) == (None, 0, want), got.stderr


def test_an_unmap_costs_a_round_trip_only_once_a_large_range_is_reused(program):
    keep, unmap, again, large, heap = (sandboxed([program, mode])
                                       for mode in ("keep", "exit", "again", "large", "heap"))
    assert [r.returncode for r in (keep, unmap, again, large, heap)] == [0] * 5
    assert (again.stdout, large.stdout, heap.stdout) == (b"again 1\n", b"large 1\n", b"heap 1\n")
    assert unmap.stats["broker"] == keep.stats["broker"]
    assert again.stats["broker"] == keep.stats["broker"]  # (cleared in place; the map is local)
    assert heap.stats["broker"] == keep.stats["broker"]  # (the heap's top too)
    assert large.stats["broker"] == keep.stats["broker"] + 1  # (the punch)
