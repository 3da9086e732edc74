"""Pipes, dup and waiting calls served by the broker for a dynamic glibc program."""

from conftest import native, sandboxed


def test_pipes_dup_poll_match_native(compile_c):
    prog = str(compile_c("fds.c"))
    got, want = sandboxed([prog]), native([prog])
    assert got.reason is None, got.reason
    assert (got.returncode, got.stdout.decode()) == (want.returncode, want.stdout.decode())
    assert "through fd 20" in got.stdout.decode()
