"""Resource limits as a program reads and lowers them: the broker's (the
sandbox's memory limit as RLIMIT_AS, its fd limit as RLIMIT_NOFILE), read
in the sandbox with no round trip (untrusted_runtime/process.c) unless a
policy rule looks at the calls, and lowered through the broker."""

from __future__ import annotations

import errno

import pytest

from strictbox.policy import Policy

from conftest import lines, native, sandboxed

MIB = 1 << 20


@pytest.fixture(scope="module")
def prog(compile_c):
    return str(compile_c("rlimits.c"))


def test_limits_read_as_the_broker_sets_them_and_lowered_for_good(prog):
    got = lines(sandboxed([prog, "read", "lower", "read"], memory=256 * MIB))
    nofile = got[0].split()[-2:]
    assert got[:9] == [f"{how} {name} {value}" for name, value in
                       (("nofile", " ".join(nofile)), ("stack", f"{8 * MIB} {8 * MIB}"),
                        ("as", f"{256 * MIB} {256 * MIB}"))
                       for how in ("get", "prlimit pid", "prlimit 0")]
    lowered = f"40 {nofile[1]}"
    assert got[9:13] == [f"set nofile 40 {lowered}", f"get nofile {lowered}",
                         f"prlimit pid nofile {lowered}", f"prlimit 0 nofile {lowered}"]
    assert got[13] == f"get nofile {lowered}"  # (read again later: still lowered)


def test_limits_outlive_an_execve_and_are_the_process_s(prog):
    """A lowered limit holds in the program an execve starts; any thread's
    id names the process; the upper halves of the registers count for
    nothing (a pid_t and an unsigned int)."""
    got = lines(sandboxed([prog, "lower", "exec"]))
    lowered = got[1].split(" ", 2)[2]
    assert got[4:7] == [f"get nofile {lowered}", f"prlimit pid nofile {lowered}",
                        f"prlimit 0 nofile {lowered}"]
    got = lines(sandboxed([prog, "wide", "thread:0"]))
    assert got[0] == got[1].replace("prlimit pid wide", "get stack wide") == f"get stack wide {8 * MIB} {8 * MIB}"
    assert got[2].startswith("thread prlimit own tid ") and "errno" not in got[2]
    assert native([prog, "wide"]).stdout.decode().splitlines()[0].startswith("get stack wide ")


def test_a_lowered_cpu_limit_holds_as_on_linux(compile_c):
    """A program that lowers RLIMIT_CPU (1 s soft, 2 s hard) and spins is
    killed by SIGXCPU at the soft limit, or, catching it, by SIGKILL at the
    hard one; the reason names its own limit."""
    spin = str(compile_c("cpu_limit.c"))
    for args, sig, out, limit in (((), 24, b"setrlimit 0\n", 1), (("handled",), 9, b"setrlimit 0\nwarned\n", 2)):
        here = native([spin, *args], timeout=20)
        got = sandboxed([spin, *args], timeout=20)
        assert (here.returncode, here.stdout) == (-sig, out)
        assert (got.returncode, got.stdout) == (-sig, out), (got.reason, got.log)
        assert got.reason == f"CPU time limit exceeded (the program's own RLIMIT_CPU, {limit} s)"


def test_errors_as_linux_gives_them(prog):
    got = dict(line.rsplit(" ", 1) if "errno" in line else (line, "") for line in
               lines(sandboxed([prog, "errors"])))
    want = {"get 99 errno": str(errno.EINVAL), "prlimit 99 errno": str(errno.EINVAL),
            # (read-only: the program's own rodata, pinned: a page nobody may write)
            "get NULL errno": str(errno.EFAULT), "get read-only errno": str(errno.EFAULT),
            "raise nofile errno": str(errno.EPERM), "prlimit other errno": str(errno.ESRCH)}
    assert {k: got.get(k) for k in want} == want, got
    assert any(k.startswith("prlimit NULL ") for k in got)  # (nothing asked: 0)
    here = dict(line.rsplit(" ", 1) if "errno" in line else (line, "") for line in
                native([prog, "errors"]).stdout.decode().splitlines())
    for k in ("get 99 errno", "prlimit 99 errno", "get NULL errno", "get read-only errno"):
        assert here.get(k) == want[k], here


def test_a_lowered_fd_limit_holds_as_on_linux(prog):
    """Past a soft RLIMIT_NOFILE the program lowered, an open fails with
    EMFILE, a dup2 to a higher fd with EBADF, F_DUPFD with EINVAL and a
    poll of more fds with EINVAL; the fds below it work as before."""
    got = lines(sandboxed([prog, "fds"]))
    assert got[1:] == native([prog, "fds"]).stdout.decode().splitlines()[1:]
    assert got[1:3] == [f"opened 5, then errno {errno.EMFILE}", "open again 7"]


def test_reads_cost_no_round_trip_unless_a_rule_looks_at_them(prog):
    one = sandboxed([prog, "reads:1"])
    many = sandboxed([prog, "reads:500", "lower", "reads:500"])
    assert many.stats["broker"] == one.stats["broker"] + 1  # the one that lowers
    assert many.stats["sandbox"] >= one.stats["sandbox"] + 1000
    logged = Policy().rule("getrlimit", "log")
    seen = sandboxed([prog, "reads:50"], policy=logged)
    assert seen.stats["broker"] >= one.stats["broker"] + 50
    assert sum("getrlimit" in line for line in seen.log) >= 50
    two = sandboxed([prog, "thread:200"])  # (with a second thread, each read is the broker's)
    assert two.stats["broker"] >= one.stats["broker"] + 200
    refused = Policy().rule("prlimit64", "errno(EPERM)")
    asked = sandboxed([prog, "reads:50"], policy=refused)  # (and getrlimit's reads go too)
    assert asked.stats["broker"] >= one.stats["broker"] + 50
    got = lines(sandboxed([prog, "read"], policy=refused))
    assert got[0].startswith("get nofile ") and got[1:3] == ["prlimit pid nofile errno 1",
                                                             "prlimit 0 nofile errno 1"]


def test_sysinfo_is_answered_in_the_sandbox_as_the_broker_answers_it(compile_c):
    """While the policy lets every sysinfo by, the runtime answers it (a round
    trip of CPython's start): the broker's answer, the memory limit as RAM and
    the time since the start on the sandbox's own clock (none of it passes
    under deterministic time)."""
    prog = str(compile_c("sysinfo_view.c"))
    limit = 256 << 20
    want = f"r 0 uptime 0 total {limit} free {limit} procs 1 swap 0 unit 1"
    none, local = (sandboxed([prog, n], memory=limit) for n in ("0", "50"))
    logged = sandboxed([prog, "50"], memory=limit, policy=Policy().rule("sysinfo", "log"))
    fixed = sandboxed([prog, "50"], memory=limit, policy=Policy.permissive().set_time("deterministic"))
    assert lines(local) == lines(logged) == lines(fixed) == [want]
    assert local.stats["broker"] == none.stats["broker"]
    assert logged.stats["broker"] == none.stats["broker"] + 50


def test_sysinfo_uptime_starts_at_zero_in_a_new_process(compile_c):
    """The first sandbox of a process (its clock thread just started) on one
    CPU: the clock page has the time before the sandbox's start reads it."""
    import subprocess
    import sys
    prog = str(compile_c("sysinfo_view.c"))
    code = "import strictbox, sys; sys.stdout.buffer.write(strictbox.run([sys.argv[1]], capture_output=True).stdout)"
    for _ in range(3):
        out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code, prog], capture_output=True,
                             timeout=60)
        assert out.stdout.startswith(b"r 0 uptime 0 "), (out.stdout, out.stderr[-500:])
