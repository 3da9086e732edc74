"""Pipes, dup and waiting calls served by the broker for a dynamic glibc program."""

from conftest import native, sandboxed


def test_pipes_dup_poll_match_native(compile_c):
    prog = str(compile_c("fds.c"))
    got, want = sandboxed([prog]), native([prog])
    assert got.reason is None, got.reason
    assert (got.returncode, got.stdout.decode()) == (want.returncode, want.stdout.decode())
    assert "through fd 20" in got.stdout.decode()


def test_getfd_and_lseek_on_stdio_and_pipes_like_linux(compile_c):
    prog = str(compile_c("fd_flags.c", "-static"))
    want, got = native([prog]), sandboxed([prog])
    assert got.returncode == 0, (got.stderr, got.reason)
    assert got.stdout.decode() == want.stdout.decode()
    assert "stdout getfd=0/0 lseek=-1/ESPIPE" in got.stdout.decode()


def test_getfd_and_lseek_on_stdio_cost_no_round_trip(compile_c):
    prog = str(compile_c("fd_flags.c", "-static"))
    few, many = sandboxed([prog, "count", "1"]), sandboxed([prog, "count", "51"])
    assert few.stdout == many.stdout == b"count done\n"
    assert many.stats["broker"] == few.stats["broker"], (few.stats, many.stats)
