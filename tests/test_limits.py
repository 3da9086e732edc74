"""Resource limits: memory (the arena's size), CPU time and wall-clock time,
through the Python API and the command line.  The strictbox timeout on each
run is the guard against a hang; no test asserts absolute times."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import BUSYBOX, requires_busybox, sandboxed

MiB = 1 << 20


def _chunks(out: bytes) -> int:
    m = re.fullmatch(rb"chunks (\d+) huge refused\n", out)
    assert m, out
    return int(m.group(1))


def test_memory_hog_is_refused_at_the_limit(compile_c):
    prog = compile_c("limits_memhog.c", "-static")
    r = sandboxed([str(prog)], memory=64 * MiB, timeout=20)
    # malloc failed inside the sandbox and the program carried on: no OOM kill.
    assert (r.returncode, r.reason, r.stderr) == (0, None, b"")
    n64 = _chunks(r.stdout)
    assert 16 <= n64 < 60  # the arena also holds the image, the 8 MiB stack and the state
    r = sandboxed([str(prog)], memory=128 * MiB, timeout=20)
    assert (r.returncode, r.reason) == (0, None)
    assert n64 + 48 <= _chunks(r.stdout) < 124  # the limit is what bounds it


@pytest.mark.parametrize("arg", [[], ["ignore"]], ids=["plain", "sigxcpu-ignored"])
def test_cpu_limit_ends_a_spinner(compile_c, arg):
    prog = compile_c("limits_spin.c", "-static")
    r = sandboxed([str(prog), *arg], cpu=1, timeout=30)
    assert r.reason is not None and "CPU time limit" in r.reason, r.reason
    assert r.returncode < 0
    assert r.stdout == b"spinning\n"


def test_wall_timeout_ends_a_spinner(compile_c):
    prog = compile_c("limits_spin.c", "-static")
    r = sandboxed([str(prog)], timeout=1)
    assert r.reason is not None and "timeout" in r.reason, r.reason
    assert r.reason == "wall-clock timeout after 1 s"
    assert r.returncode == -9
    assert r.stdout == b"spinning\n"


def _cli() -> list[str]:
    exe = shutil.which("strictbox")
    return [exe] if exe else [sys.executable, "-m", "strictbox"]


def test_cli_timeout_exit_code_and_message(compile_c):
    prog = compile_c("limits_spin.c", "-static")
    p = subprocess.run([*_cli(), "run", "--timeout", "1", "--", str(prog)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 137  # 128 + SIGKILL
    assert p.stdout == "spinning\n"
    lines = [l for l in p.stderr.splitlines() if l.startswith("strictbox:")]
    assert lines == ["strictbox: wall-clock timeout after 1 s"], p.stderr


def test_cli_cpu_limit_message(compile_c):
    prog = compile_c("limits_spin.c", "-static")
    p = subprocess.run([*_cli(), "run", "--cpu", "1", "--timeout", "30", "--", str(prog)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 128 + 24  # SIGXCPU
    lines = [l for l in p.stderr.splitlines() if l.startswith("strictbox:")]
    assert lines == ["strictbox: CPU time limit (1 s) exceeded"], p.stderr


@requires_busybox
def test_sandbox_after_limits_runs_normally(compile_c):
    prog = compile_c("limits_spin.c", "-static")
    sandboxed([str(prog)], timeout=0.5)
    r = sandboxed([BUSYBOX, "echo", "ok"], memory=32 * MiB, timeout=10)
    assert (r.returncode, r.reason, r.stdout) == (0, None, b"ok\n")
