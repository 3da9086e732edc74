"""strictbox trace: a line per call, from the broker and from the sandbox's ring."""

from __future__ import annotations

import io
import json
import re
import shutil

import pytest

import strictbox
from strictbox.cli import main
from strictbox.trace import Tracer

from conftest import BUSYBOX, requires_busybox

SANDBOX_LINE = "<sandbox> (reported by the sandbox)"


def traced(argv, **kw) -> tuple[strictbox.RunResult, str]:
    out = io.StringIO()
    kw.setdefault("timeout", 60)
    r = strictbox.run(argv, capture_output=True, tracer=Tracer(out), **kw)
    return r, out.getvalue()


@requires_busybox
def test_busybox_trace_cli(tmp_path, capfd):
    (tmp_path / "f").write_text("hello\n")
    log = tmp_path / "trace.txt"
    rc = main(["trace", "-o", str(log), "--ro", f"{tmp_path}:/data", "--", BUSYBOX, "cat",
               "/data/f", "/data/missing"])
    assert rc == 1  # cat fails on the missing file
    assert capfd.readouterr().out == "hello\n"
    lines = log.read_text().splitlines()
    assert all(re.match(r"^\[\d+\] \w+\(.*\) = ", ln) for ln in lines), lines
    # served in the sandbox, reported through the ring, with decoded arguments
    assert any(re.match(r"\[2\] brk\(addr=0x[0-9a-f]+\) = 0x[0-9a-f]+  " + re.escape(SANDBOX_LINE), ln)
               for ln in lines)
    assert any(ln.startswith("[2] write(fd=1, buf=0x") and "count=6) = 6" in ln
               and ln.endswith(SANDBOX_LINE) for ln in lines)
    # served by the broker: path read from the arena, flags hex, decision and rule
    opened = [ln for ln in lines if ln.startswith("[2] openat(dirfd=AT_FDCWD, path=\"/data/f\", flags=0x")]
    assert opened and re.search(r"\) = \d+  <broker> allow by default = \"allow\"$", opened[0])
    missing = [ln for ln in lines if 'path="/data/missing"' in ln]
    assert missing and "= -1 ENOENT (No such file or directory)  <broker>" in missing[0]
    # the table's own denials say so
    assert any(ln.startswith("[2] prctl(") and "-1 EPERM" in ln and "by syscall table" in ln
               for ln in lines)
    assert lines[-1].startswith("[2] exit_group(status=1) = ?")
    # in order: the sandbox's calls before the broker call that followed them
    first_broker = next(i for i, ln in enumerate(lines) if "<broker>" in ln)
    assert "brk(" in "".join(lines[:first_broker])


@requires_busybox
def test_trace_shows_policy_decision(tmp_path):
    (tmp_path / "f").write_text("x")
    r, out = traced([BUSYBOX, "rm", "/data/f"], rw=[f"{tmp_path}:/data"], policy="minimal")
    assert r.returncode != 0 and (tmp_path / "f").exists()
    denied = [ln for ln in out.splitlines() if 'path="/data/f"' in ln and "<broker> errno(" in ln]
    assert denied, out
    assert "by default = " in denied[-1] or "by [" in denied[-1]


@pytest.mark.skipif(shutil.which("python3") is None, reason="no python3")
def test_python_trace_json(tmp_path):
    (tmp_path / "s.py").write_text("import os\nprint(len(os.listdir('/data')))\n")
    log = tmp_path / "trace.jsonl"
    rc = main(["trace", "--json", "-o", str(log), "--ro", f"{tmp_path}:/data", "--",
               "python3", "/data/s.py"])
    assert rc == 0
    events = [json.loads(ln) for ln in log.read_text().splitlines()]
    calls = [e for e in events if e.get("call")]
    local = [e for e in calls if e["where"] == "sandbox"]
    broker = [e for e in calls if e["where"] == "broker"]
    assert local and broker
    assert all(e["reported_by_sandbox"] and e["decision"] is None for e in local)
    assert all(e["decision"] == "allow" and e["rule"] == 'default = "allow"'
               for e in broker if e["errno"] is None and e["call"] not in ("socket",))
    script = [e for e in broker if e["call"] == "openat" and e["args"]["path"] == "/data/s.py"]
    assert script and script[0]["result"] >= 0 and script[0]["args"]["dirfd"] == -100
    assert isinstance(script[0]["args"]["flags"], int)
    failed = [e for e in broker if e["errno"] == "ENOENT"]
    assert failed and all(e["result"] == -2 for e in failed)
    assert any(e["call"] == "clock_gettime" or e["call"] == "rt_sigaction" for e in local)
    assert any(e["call"] == "getdents64" for e in local)  # the listing came with the open


def test_hostile_ring_never_crashes(compile_c):
    prog = str(compile_c("trace_scribble.c", "-DSB_CFFI", "-static"))
    r, out = traced([prog])
    assert r.returncode == 0, (r.reason, r.log)
    assert r.stdout == b"survived\n"
    assert not [ln for ln in r.log if "trace:" in ln or "internal" in ln], r.log
    notes = [ln for ln in out.splitlines() if ln.startswith("strictbox trace:")]
    assert any("were not traced" in n for n in notes)
    assert any("went back" in n for n in notes)
    bogus = [ln for ln in out.splitlines() if "syscall_99999(" in ln or "syscall_-5(" in ln]
    assert bogus and all(ln.endswith(SANDBOX_LINE) for ln in bogus)
    assert any('path="<unreadable 0x7fff00000001>"' in ln for ln in out.splitlines())
    copied = [ln for ln in out.splitlines() if ln.startswith("[-7] openat(") and '..."' in ln]
    assert copied and all(ln.endswith(SANDBOX_LINE) for ln in copied)  # (the forged copies, shown)
    # the same program under JSON output: every line parses
    jout = io.StringIO()
    r = strictbox.run([prog], capture_output=True, tracer=Tracer(jout, as_json=True), timeout=60)
    assert r.returncode == 0
    assert all(isinstance(json.loads(ln), dict) for ln in jout.getvalue().splitlines())


def test_paths_shown_as_the_program_gave_them(compile_c):
    """A call served in the sandbox is reported with its path as it was
    then: the program may reuse the buffer before the broker reads the
    record.  A path longer than a record holds ends in "..."."""
    from strictbox._native import lib
    prog = str(compile_c("trace_paths.c", "-static"))
    r, out = traced([prog])
    assert r.returncode == 0, (r.reason, r.log)
    local = [ln for ln in out.splitlines() if ln.startswith("[2] newfstatat(") and ln.endswith(SANDBOX_LINE)]
    long = "/etc/" + "a" * (lib.SB_TRACE_PATH - 1 - 5)
    assert [ln.split(", ")[1] for ln in local] == ['path="/etc/passwd"', f'path="{long}..."'], out


def test_ring_written_only_in_trace_mode(compile_c):
    prog = str(compile_c("trace_scribble.c", "-DSB_CFFI", "-static"))
    plain = strictbox.run([prog, "head"], capture_output=True, timeout=60)
    assert plain.returncode == 0 and plain.stdout == b"0\n"
    r, out = traced([prog, "head"])
    assert r.returncode == 0 and int(r.stdout) >= 2  # at least getppid and getuid
    assert "getppid() = " in out and "getuid() = 1000" in out
