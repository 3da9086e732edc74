"""Unmodified static C programs (non-PIE and static-pie) inside strict mode."""

import pytest

from conftest import native, sandboxed

FLAVOURS = ["-static", "-static-pie"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hello_matches_native(compile_c, flavour):
    prog = str(compile_c("hello.c", flavour))
    got, want = sandboxed([prog, "7"]), native([prog, "7"])
    assert got.reason is None
    assert got.returncode == 7 == want.returncode
    lines = got.stdout.decode().splitlines()
    assert lines[:4] == want.stdout.decode().splitlines()[:4]
    assert lines[4] == "pid 2 uid 1000"  # virtual identity
    assert got.stats["sandbox"] > 0 and got.stats["denied"] == 0


@pytest.mark.parametrize("mode, expect", [
    ("segv", "caught 11 at 0x10\nrecovered 0\ncaught 11 at 0x18\nrecovered 1\n"
             "caught 11 at 0x20\nrecovered 2\n"),
    ("trap", "traps 2 fp 1.5 -> 6.0\n"),
    ("fpe", "fpe 8 code 1 on altstack 1\n"),
    ("rdtsc", "rdtsc monotonic\n"),
])
def test_faults_reach_program_handlers(compile_c, mode, expect):
    prog = str(compile_c("faults.c", "-static"))
    got, want = sandboxed([prog, mode]), native([prog, mode])
    assert got.stdout.decode() == expect == want.stdout.decode()
    assert got.returncode == want.returncode
    assert got.reason is None


def test_unhandled_fault_ends_with_that_signal(compile_c):
    prog = str(compile_c("faults.c", "-static"))
    got = sandboxed([prog, "nohandler"])
    assert got.stdout == b"before the fault\n"  # written before the fault, not lost
    assert got.returncode == -11
    assert "SIGSEGV" in got.reason and "0x10" in got.reason


def test_cli_exit_status_and_reason(compile_c, tmp_path):
    import subprocess
    prog = str(compile_c("faults.c", "-static"))
    p = subprocess.run(["strictbox", "run", "--", prog, "nohandler"], capture_output=True)
    assert p.returncode == 128 + 11
    assert p.stdout == b"before the fault\n"
    assert p.stderr.decode().count("strictbox:") == 1
    p = subprocess.run(["strictbox", "run", "--", prog, "fpe"], capture_output=True)
    assert p.returncode == 3 and p.stderr == b""


@pytest.mark.parametrize("link", ["-static", "-O1"])
def test_clocks_advance_without_a_round_trip_or_a_trap(compile_c, link):
    """clock_gettime goes through strictbox's vDSO, static or dynamic: it
    reads the clock page with no system call at all (gettimeofday, left to
    the runtime, still traps, and its 1000 reads show up)."""
    import time

    prog = str(compile_c("clocks.c", link))
    got = sandboxed([prog])
    assert got.reason is None, got.reason
    lines = got.stdout.decode().splitlines()
    assert lines[:3] == ["backwards 0 still 0 advanced 1", "gettimeofday back 0 moved 1", "cpu 1"]
    assert abs(int(lines[3].split()[1]) - time.time()) < 60
    assert got.stats["broker"] < 10  # 100,000 clock reads served from the clock page
    assert 1000 <= got.stats["sandbox"] < 3000  # ... none of them trapped


def test_an_execve_keeps_the_clock_where_it_was(compile_c):
    """The nudges a process's reads added go on into its next image: in
    deterministic time (a page that never moves) they are the clock."""
    from strictbox.policy import Policy
    prog = str(compile_c("clock_exec.c", "-static"))
    got = sandboxed([prog], policy=Policy().set_time("deterministic"))
    assert (got.stdout, got.returncode) == (b"went on\n", 0), (got.stderr, got.reason)


def test_threads_reading_at_once_do_not_run_the_clock_ahead(compile_c):
    """Every read nudges the one process-wide clock; threads reading at once
    add theirs up only to a tick past the clock page: the program never
    sees more time pass than did."""
    import time
    prog = str(compile_c("clock_threads.c", "-static", "-pthread"))
    t0 = time.monotonic()
    got = sandboxed([prog, "4", "100000"], max_threads=8)
    wall = time.monotonic() - t0
    assert got.returncode == 0, (got.stderr, got.reason)
    assert int(got.stdout) / 1e9 <= wall, (int(got.stdout), wall)
