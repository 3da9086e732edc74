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


def test_a_script_whose_interpreter_cannot_run_fails_as_on_linux(tmp_path):
    """execve of a #! script whose interpreter is missing, not executable,
    or not a program: the errno Linux gives (the shell's status and words say it),
    and no fd left behind."""
    from conftest import open_fds
    (tmp_path / "plain").write_text("echo\n")  # (0644: not executable)
    (tmp_path / "text").write_text("just text\n")
    os.chmod(tmp_path / "text", 0o755)
    # (ENOENT: 127; EACCES: 126; ENOEXEC: the shell runs the script itself, 0)
    cases = {"missing": ("#!/nonexistent/interp\n", 127), "not-executable": (f"#!{tmp_path}/plain\n", 126),
             "not-a-program": (f"#!{tmp_path}/text\n", 0)}
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
        os.chmod(tmp_path / name, 0o755)
    before = open_fds()
    for name in cases:
        argv = ["/bin/sh", "-c", f"exec {tmp_path}/{name}"]
        got, want = sandboxed(argv, ro=[str(tmp_path)]), native(argv)
        assert (got.returncode, got.stderr) == (want.returncode, want.stderr), name
        assert want.returncode == cases[name][1], name
    assert open_fds() == before


def test_the_pool_and_its_threads_survive_an_exec(compile_c, tmp_path):
    """The pool's threads outlive an exec (only the process image goes):
    the new image's clones take their idle slots, and a signal it sends
    itself finds its thread, as natively."""
    prog = str(compile_c("exec_keeps_pool.c", "-static", "-pthread"))
    want = "raise 0 pthread_kill 0 got 2\n" + "create ok\n" * 3
    assert native([prog]).stdout.decode() == want
    got = sandboxed([prog], max_threads=4, ro=[f"{os.path.dirname(prog)}"])
    assert (got.returncode, got.stdout.decode()) == (0, want), (got.reason, got.log)
