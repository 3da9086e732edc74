"""Hostile programs: escapes from Syscall User Dispatch, forged channel
messages and wild pointers.  Whatever the program does, strictbox must end
it with the right reason, the broker must survive, and the next sandbox in
the same process must run normally."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import BUSYBOX, native, sandboxed


def assert_next_sandbox_runs():
    """A normal sandbox right after, in the same broker process."""
    if BUSYBOX is None:
        return
    r = sandboxed([BUSYBOX, "echo", "ok"], timeout=10)
    assert (r.returncode, r.reason, r.stdout) == (0, None, b"ok\n")


# -- 1. a direct system call after flipping the selector ---------------------

def test_direct_syscall_after_selector_flip_is_killed(compile_c):
    prog = compile_c("hostile_escape.c", "-DSB_CFFI", "-static")
    r = sandboxed([str(prog)], timeout=10)
    assert r.reason is not None and "seccomp strict mode" in r.reason, r.reason
    assert r.returncode == -9
    assert r.stdout == b"marker: before the escape\n"  # written before; nothing after
    assert_next_sandbox_runs()


# -- 2. forged messages on the broker channel --------------------------------

@pytest.mark.parametrize("mode, detail", [
    ("garbage", "undecodable message"),
    ("badseq", "sequence number"),
    ("oversize", "exceeds 256"),
    ("string", ""),  # rejected by the decoder (no strings allowed) or the int check
])
def test_forged_channel_message_is_a_protocol_violation(compile_c, mode, detail):
    prog = compile_c("hostile_channel.c", "-DSB_CFFI", "-static")
    r = sandboxed([str(prog), mode], timeout=10)
    assert r.reason is not None and r.reason.startswith("protocol violation"), r.reason
    assert detail in r.reason
    assert r.returncode == -9
    assert r.stdout.startswith(f"mode {mode}: ".encode())
    assert b"REPLY" not in r.stdout  # the broker never answered it
    assert_next_sandbox_runs()


def test_raw_well_formed_request_is_answered(compile_c):
    """Control for the test above: the same hand-made framing, correctly
    numbered, is served (so the violations are about the content)."""
    prog = compile_c("hostile_channel.c", "-DSB_CFFI", "-static")
    r = sandboxed([str(prog), "valid"], timeout=10)
    assert (r.returncode, r.reason) == (0, None)
    assert b"wrote 17, reply of 3 bytes, cwd /\n" in r.stdout


def test_request_for_sandbox_local_call_does_not_crash_broker(compile_c):
    """A well-formed request for getpid, which the runtime serves itself and
    the broker has no handler for: that sandbox ends, the broker carries on."""
    prog = compile_c("hostile_channel.c", "-DSB_CFFI", "-static")
    try:
        r = sandboxed([str(prog), "local"], timeout=5)
    except Exception as e:  # noqa: BLE001 - this is what the test is about
        pytest.fail(f"the broker raised {e!r}")
    finally:
        gc.collect()  # if it raised: close the leaked channel so the stub exits
    assert r.returncode is not None
    answered = r.returncode == 3 and b"REPLY" in r.stdout  # e.g. ENOSYS
    assert answered or r.reason is not None, (r.returncode, r.reason, r.stdout)
    assert_next_sandbox_runs()


def test_request_for_sandbox_local_call_is_not_an_internal_error(compile_c):
    prog = compile_c("hostile_channel.c", "-DSB_CFFI", "-static")
    try:
        r = sandboxed([str(prog), "local"], timeout=5)
    finally:
        gc.collect()
    assert not any("internal broker error" in l for l in r.log), r.log
    answered = r.returncode == 3 and b"REPLY" in r.stdout
    violation = r.reason is not None and r.reason.startswith("protocol violation")
    assert answered or violation, (r.returncode, r.reason, r.stdout)


def test_empty_channel_message_is_a_protocol_violation(compile_c):
    prog = compile_c("hostile_channel.c", "-DSB_CFFI", "-static")
    r = sandboxed([str(prog), "empty"], timeout=2)
    assert r.reason is not None and r.reason.startswith("protocol violation"), r.reason


# -- 6. wild pointers in broker-served calls ---------------------------------

POINTER_LINES = b"""\
open_1 -EFAULT
open_null -EFAULT
open_wild -EFAULT
open_top -EFAULT
stat_path_wild -EFAULT
open_unterminated -ENAMETOOLONG
open_self ok
read_1 -EFAULT
read_wild -EFAULT
read_wrap -EFAULT
pread_wrap -EFAULT
read_maxlen_wild -EFAULT
fstat_1 -EFAULT
fstat_wild -EFAULT
getcwd_1 -EFAULT
readv_iov_wild -EFAULT
readv_iov_wrap -EFAULT
readv_iovcnt_huge -EINVAL
pread_ok 4
magic ELF
close 0
""".splitlines()


def _without_pos(out: bytes) -> list[bytes]:
    return [l for l in out.splitlines() if not l.startswith(b"pos_after_efault")]


def test_pointers_outside_the_arena_give_efault(compile_c):
    prog = compile_c("hostile_pointers.c", "-static")
    nat = native([str(prog)], timeout=10)
    assert nat.returncode == 0
    assert _without_pos(nat.stdout) == POINTER_LINES  # what Linux says
    r = sandboxed([str(prog)], timeout=10)
    assert (r.returncode, r.reason, r.stderr) == (0, None, b"")
    assert _without_pos(r.stdout) == POINTER_LINES
    assert r.stats["broker"] > len(POINTER_LINES) // 2  # they did reach the broker
    assert_next_sandbox_runs()


def test_failed_read_does_not_move_the_file_position(compile_c):
    prog = compile_c("hostile_pointers.c", "-static")
    pos = [l for l in native([str(prog)], timeout=10).stdout.splitlines()
           if l.startswith(b"pos_after_efault")]
    assert pos == [b"pos_after_efault 0"]
    r = sandboxed([str(prog)], timeout=10)
    assert [l for l in r.stdout.splitlines() if l.startswith(b"pos_after_efault")] == pos


def test_writev_with_huge_total_keeps_the_broker_small(compile_c, tmp_path):
    prog = compile_c("hostile_writev.c", "-static")
    # A fresh broker process, so its peak RSS is this request's alone.
    script = textwrap.dedent(f"""
        import resource, strictbox
        r = strictbox.run([{str(prog)!r}, "/out/f", "8", "16"], capture_output=True,
                          timeout=20, rw=[{str(tmp_path) + ':/out'!r}])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
        print(r.returncode, r.reason, r.stdout.decode().strip(), peak, sep="|")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip().split("|")
    assert out[:3] == ["0", "None", "writev 1048576"], out  # one request moves at most MAX_IO
    assert os.path.getsize(tmp_path / "f") == 1 << 20
    assert int(out[3]) < 100, f"broker peak RSS {out[3]} MiB"
