"""Policies enforced on real sandboxed programs (busybox-static, CPython)."""

import errno
import os
import shutil
import subprocess
import sys

import pytest

import strictbox
from strictbox.policy import Policy, profile

from conftest import BUSYBOX, requires_busybox, sandboxed

pytestmark = requires_busybox
GPL = "/usr/share/common-licenses/GPL-3"


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "public.txt").write_text("public\n")
    (d / "secret.txt").write_text("secret\n")
    os.symlink("secret.txt", d / "innocent")
    return d


def test_denied_call_names_call_argument_and_rule_and_returns_the_errno(data):
    p = Policy().deny("openat", 'path == "/data/secret*"', errno="ENOTBLK")
    r = sandboxed([BUSYBOX, "cat", "/data/public.txt", "/data/secret.txt"],
                  ro=[f"{data}:/data"], policy=p)
    assert r.stdout == b"public\n"
    assert b"/data/secret.txt': Block device required" in r.stderr  # ENOTBLK reached the program
    assert r.returncode == 1 and r.reason is None
    [line] = [l for l in r.log if l.startswith("denied openat")]
    assert 'path="/data/secret.txt"' in line  # the argument
    assert "[errno.ENOTBLK] openat = 'path == \"/data/secret*\"'" in line  # the rule
    assert line.endswith("(ENOTBLK)")
    assert r.stats["denied"] >= 1


def test_a_symlink_does_not_dodge_a_path_filter(data):
    p = Policy().deny("openat", 'path == "/data/secret*"', errno="EACCES")
    r = sandboxed([BUSYBOX, "cat", "/data/innocent"], ro=[f"{data}:/data"], policy=p)
    assert r.stdout == b"" and b"Permission denied" in r.stderr
    assert any('path="/data/secret.txt"' in l for l in r.log)


def test_a_link_does_not_hide_a_file_from_a_path_rule_when_the_walk_fails(data, compile_c):
    """Through /proc/self/fd/N, a path that names a file with a trailing
    slash, or a name beneath a file, is judged where it leads as far as it
    goes: the rule answers, and the program learns nothing of the file."""
    prog = str(compile_c("lookups.c"))
    (data / "secretdir").mkdir()
    p = Policy.permissive().path("/data/secret*", "errno(EACCES)")
    via = [f"s:/proc/self/fd/3/{name}" for name in
           ("secret.txt", "secret.txt/", "secret.txt/x", "secret_missing/", "secretdir/x/y")]
    r = sandboxed([prog, "k:/data", *via, "s:/proc/self/fd/3/public.txt/"], ro=[f"{data}:/data"], policy=p)
    assert r.returncode == 0, (r.stderr, r.log)
    assert r.stdout.decode().splitlines() == ["k /data fd 3"] + [
        f"s {op[2:]} errno {errno.EACCES}" for op in via] + [
        f"s /proc/self/fd/3/public.txt/ errno {errno.ENOTDIR}"]


def test_dotdot_tells_nothing_a_path_rule_hides(data, compile_c):
    """With no rule on paths, `..` after a file fails as on Linux; with one,
    `..` is taken by name, so its answer says nothing of the name before it."""
    prog = str(compile_c("lookups.c"))
    ops = ["s:/data/secret.txt/..", "s:/data/secret_missing/..", "s:/data/public.txt/.."]
    plain = sandboxed([prog, *ops], ro=[f"{data}:/data"])
    assert plain.stdout.decode().splitlines() == [
        f"s /data/secret.txt/.. errno {errno.ENOTDIR}", f"s /data/secret_missing/.. errno {errno.ENOENT}",
        f"s /data/public.txt/.. errno {errno.ENOTDIR}"]
    for p in (Policy.permissive().path("/data/secret*", "errno(EACCES)"),
              Policy().deny("openat", 'path == "/data/secret*"', errno="EACCES")):
        ruled = sandboxed([prog, *ops], ro=[f"{data}:/data"], policy=p)
        answers = [line.split(" ", 2)[2] for line in ruled.stdout.decode().splitlines()]
        # the same for a hidden file, a hidden missing name and a public file: /data's
        assert len(answers) == 3 and len(set(answers)) == 1 and answers[0].startswith("size "), answers


def test_a_path_that_fails_to_walk_is_judged_in_one_walk(data, monkeypatch):
    """However many names follow the one the walk fails at, judging the path
    costs one walk (a long path must not hold the broker up)."""
    from strictbox.fsview import View
    walks = []
    real = View.walk
    monkeypatch.setattr(View, "walk", lambda self, *a, **k: walks.append(a[0]) or real(self, *a, **k))
    p = Policy.permissive().path("/data/secret*", "errno(EACCES)")
    long = "/nonexistent/" + "a/" * 1500 + "x"
    r = sandboxed([BUSYBOX, "stat", long], ro=[f"{data}:/data"], policy=p)
    assert r.returncode == 1 and b"No such file" in r.stderr
    tried = [w for w in walks if w.startswith("/nonexistent")]
    assert 0 < len(tried) <= 3, len(tried)  # (judged once, walked again by the handler)


def test_flag_filter_keeps_openat_read_only(tmp_path):
    p = Policy().allow("openat").deny("openat", "flags & O_ACCMODE != O_RDONLY", errno="EROFS")
    # builtins only: busybox sh cannot fork in a sandbox
    r = sandboxed([BUSYBOX, "sh", "-c", f"read line < {GPL} && echo read; echo x > /tmp/f"],
                  policy=p)
    assert r.stdout == b"read\n"
    assert b"Read-only file system" in r.stderr
    [line] = [l for l in r.log if l.startswith("denied openat")]
    assert 'path="/tmp/f"' in line and "flags=0x241" in line and "O_ACCMODE != O_RDONLY" in line


def test_kill_action_ends_the_run_with_the_reason(data):
    p = Policy().kill("openat", 'path == "/data/secret*"')
    r = sandboxed([BUSYBOX, "cat", "/data/public.txt", "/data/secret.txt", "/data/public.txt"],
                  ro=[f"{data}:/data"], policy=p)
    assert r.stdout == b"public\n"  # the second public.txt never printed
    assert r.returncode == -9
    assert r.reason.startswith("policy: killed on openat(") and "secret.txt" in r.reason


def test_log_action_allows_and_records(data):
    r = sandboxed([BUSYBOX, "cat", "/data/public.txt"], ro=[f"{data}:/data"],
                  policy=Policy().log("openat"))
    assert r.stdout == b"public\n" and r.returncode == 0
    assert any(l.startswith("logged openat(") and "/data/public.txt" in l for l in r.log)


def test_path_rules_apply_to_every_path_call(data):
    p = Policy().path("/data/secret*", "errno(EACCES)")
    r = sandboxed([BUSYBOX, "ls", "-l", "/data/secret.txt", "/data/public.txt"],
                  ro=[f"{data}:/data"], policy=p)
    assert b"public.txt" in r.stdout and b"secret.txt" not in r.stdout
    assert any("[[path]] match = \"/data/secret*\"" in l for l in r.log)


def test_default_action_with_allow_list():
    p = profile("minimal")
    r = sandboxed([BUSYBOX, "sort", GPL], policy=p)
    want = subprocess.run([BUSYBOX, "sort", GPL], capture_output=True).stdout
    assert r.stdout == want and r.returncode == 0
    r = sandboxed([BUSYBOX, "sh", "-c", "echo x > /tmp/f"], policy=p)
    assert r.returncode != 0 and b"Read-only file system" in r.stderr


def test_compute_profile_has_stdio_and_no_files():
    r = sandboxed([BUSYBOX, "sort"], input=b"pear\napple\n", policy="compute")
    assert r.stdout == b"apple\npear\n" and r.returncode == 0
    r = sandboxed([BUSYBOX, "cat", BUSYBOX], policy="compute")
    assert r.returncode == 1 and b"Permission denied" in r.stderr
    assert any(l.startswith("denied openat(") and '"@file-read" = true' in l for l in r.log)


def test_policy_mounts_identity_limits_and_time_reach_the_sandbox(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a").write_text("hello\n")
    p = (Policy().mount("/in", str(src)).mount("/scratch", mode="tmp")
         .set_identity(uid=4321, hostname="polbox").set_time("deterministic")
         .set_limits(wall=30))
    runs = {("cat", "/in/a"): b"hello\n", ("id", "-u"): b"4321\n", ("hostname",): b"polbox\n",
            ("date", "-u", "+%s"): b"946684800\n",
            ("sh", "-c", "echo made > /scratch/x; read l < /scratch/x; echo $l"): b"made\n"}
    for args, want in runs.items():
        r = sandboxed([BUSYBOX, *args], policy=p)
        assert (r.stdout, r.returncode) == (want, 0), (args, r.stderr, r.log)
    assert not any(n.startswith("strictbox-mount-") for n in os.listdir(tmp_path.parent))


def test_no_system_mounts_hides_the_host_libraries():
    p = Policy()
    p.system_mounts = False
    r = sandboxed([BUSYBOX, "ls", "/lib"], policy=p)
    assert r.returncode != 0 and b"No such file" in r.stderr


@pytest.mark.skipif(shutil.which("python3") is None, reason="no python3")
def test_python_profile_runs_a_script_and_denies_the_network(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import json, socket\nprint(json.dumps([1, 2]))\n"
                      "try:\n    socket.socket()\nexcept OSError as e:\n    print(e.errno)\n")
    r = sandboxed(["python3", str(script)], ro=[str(tmp_path)], policy="python")
    assert r.stdout == b"[1, 2]\n13\n", r.stderr
    assert any(l.startswith("denied socket(") and "@network" in l for l in r.log)


def test_cli_run_with_a_policy_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[errno.EACCES]\nopenat = \'path == "/usr/share/*"\'\n')
    cmd = [sys.executable, "-m", "strictbox", "run", "--policy", str(f), "-v", "--",
           BUSYBOX, "cat", GPL]
    r = subprocess.run(cmd, capture_output=True)
    assert r.returncode == 1
    assert b"Permission denied" in r.stderr and b"denied openat(" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('default = "maybe"\n')
    r = subprocess.run(cmd[:5] + [str(bad), "--", BUSYBOX, "true"], capture_output=True)
    assert r.returncode == 127 and b"bad.toml:1: unknown action 'maybe'" in r.stderr


def test_run_refuses_an_unknown_profile():
    with pytest.raises(strictbox.StrictboxError, match="no such policy file or built-in profile"):
        strictbox.run([BUSYBOX, "true"], policy="nonesuch")


@requires_busybox
def test_file_size_limit_stops_writes_with_efbig(tmp_path):
    pol = Policy().set_limits(file_size=1000)
    got = sandboxed([BUSYBOX, "dd", "if=/dev/zero", "of=/w/big", "bs=5000", "count=1"],
                    rw=[f"{tmp_path}:/w"], policy=pol)
    assert got.reason is None, got.reason
    assert got.returncode == 1
    assert b"File too large" in got.stderr
    assert (tmp_path / "big").stat().st_size == 1000


DISK_STEPS = """\
fill_data 1000000 ENOSPC
size_a 1000000
write_tmp -ENOSPC
pwrite_tmp_far -ENOSPC
fallocate_tmp -ENOSPC
fallocate_keep_size -ENOSPC
ftruncate_up -EFBIG
truncate_up -EFBIG
pwrite_inside 4096
append_one -ENOSPC
ftruncate_half 0
fill_tmp 500000 ENOSPC
size_b 500000
unlink_a 0
fill_after_give_back 1000000 ENOSPC
unlink_held 0
write_while_held -ENOSPC
write_after_close 1
fill_c 999999 ENOSPC
write_d -ENOSPC
rename_over 0
write_d_after_rename 1
"""


def test_disk_limit_caps_what_the_sandbox_adds_to_its_writable_mounts(tmp_path, compile_c):
    """[limits] disk, from TOML: writes stop with ENOSPC after what fits,
    counted across the --rw mount and the private /tmp together, net of
    what truncation, O_TRUNC, unlink and rename give back."""
    from strictbox.policy import loads
    prog = compile_c("disk_limit.c")
    (tmp_path / "data").mkdir()
    pol = loads('[limits]\ndisk = 1000000\n')
    got = sandboxed([str(prog), "1000000"], rw=[f"{tmp_path / 'data'}:/data"], policy=pol)
    assert (got.returncode, got.reason) == (0, None), (got.reason, got.stderr)
    assert got.stdout.decode() == DISK_STEPS
    assert os.listdir(tmp_path / "data") == ["c"]
    assert (tmp_path / "data" / "c").stat().st_size == 1


def test_without_a_disk_limit_the_same_writes_all_succeed(tmp_path, compile_c):
    prog = compile_c("disk_limit.c")
    (tmp_path / "data").mkdir()
    got = sandboxed([str(prog), "1000000"], rw=[f"{tmp_path / 'data'}:/data"])
    assert got.returncode == 0, got.stderr
    assert got.stdout.decode().splitlines()[:3] == ["fill_data 1100000 ok", "size_a 1100000",
                                                    "write_tmp 1"]
