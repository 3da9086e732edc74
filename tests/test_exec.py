"""execve inside the sandbox: checked by the broker, started by the runtime."""

import os

from conftest import native, sandboxed


def _scripts(tmp_path):
    (tmp_path / "not-executable").write_text("#!/bin/sh\necho no\n")
    (tmp_path / "no-format").write_bytes(b"\x00\x01 neither ELF nor script\n")
    os.chmod(tmp_path / "no-format", 0o755)
    script = tmp_path / "script"
    script.write_text("#!/bin/sh -e\necho \"script got $# args: $*\"\nexec /bin/echo exec from a script\n")
    os.chmod(script, 0o755)
    return script


def test_exec_failures_return_and_success_resets_the_process(compile_c, tmp_path):
    _scripts(tmp_path)
    prog = str(compile_c("exec.c"))
    argv = [prog, str(tmp_path)]
    got, want = sandboxed(argv, ro=[str(tmp_path)]), native(argv)
    assert got.reason is None, got.reason
    assert got.stdout.decode() == want.stdout.decode()
    assert got.returncode == want.returncode == 3
    assert "child: kept fd 1, cloexec fd Bad file descriptor" in got.stdout.decode()


def test_shebang_script_runs_through_its_interpreter(tmp_path):
    script = _scripts(tmp_path)
    argv = [str(script), "a", "b"]
    got, want = sandboxed(argv, ro=[str(tmp_path)]), native(argv)
    assert got.reason is None, got.reason
    assert got.stdout == want.stdout == b"script got 2 args: a b\nexec from a script\n"
    assert got.returncode == 0


def test_exec_into_python_from_a_shell():
    got = sandboxed(["/bin/sh", "-c", "exec /usr/bin/python3 -I -c 'import sys; print(sys.argv)' x"])
    assert got.reason is None, got.reason
    assert got.stdout == b"['-c', 'x']\n"
