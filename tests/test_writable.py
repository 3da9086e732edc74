"""Writable mounts: every write-side call in real sandboxes, compared with
native runs, plus what must never happen (writes to read-only mounts, links
and renames between mounts, chown, setuid bits, symlinks out of the view)
and the private /tmp each run gets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import strictbox
from conftest import BUSYBOX, native, requires_busybox, sandboxed, walk_tree


@pytest.fixture(autouse=True)
def umask_022():
    """Native runs inherit our umask and sandboxes get 022: make them agree."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def probe(compile_c):
    """probe(["rename /a /b", ...], **run options) -> {op: result}."""
    prog = compile_c("writable_probe.c", "-static")

    def run(ops, **kw):
        r = sandboxed([str(prog), *ops], **kw)
        assert r.returncode == 0 and r.reason is None, (r.stdout, r.stderr, r.reason)
        lines = r.stdout.decode().splitlines()
        results = dict(line.split(" = ", 1) for line in lines)
        assert list(results) == list(ops)
        run.log = r.log
        return results

    return run


def tree(root: Path, times: bool = False) -> list[tuple]:
    """Everything under root that a write could change."""
    out = []
    for rel, p, st in walk_tree(root):
        if stat.S_ISLNK(st.st_mode):
            what = ("link", os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            what = ("dir",)
        else:
            what = ("file", p.read_bytes(), st.st_nlink, st.st_ino)
        out.append((rel, st.st_mode, st.st_uid, what, st.st_mtime_ns if times else 0))
    return out


def without_inodes(t: list[tuple]) -> list[tuple]:
    return [(p, m, u, w[:3] if w[0] == "file" else w, t_) for p, m, u, w, t_ in t]


# -- every call and flag, against a native run ---------------------------------

def test_calls_and_flags_match_native(compile_c, tmp_path):
    prog = compile_c("writable_ops.c", "-static")
    (tmp_path / "native").mkdir()
    (tmp_path / "sandboxed").mkdir()
    want = native([str(prog), str(tmp_path / "native")], timeout=60)
    got = sandboxed([str(prog), "/work"], rw=[f"{tmp_path / 'sandboxed'}:/work"])
    assert want.returncode == 0, want.stderr
    assert got.reason is None and got.returncode == 0, got.stderr
    assert got.stdout.decode().splitlines() == want.stdout.decode().splitlines()
    assert got.stdout.count(b"= -1 ") > 30  # the failures are compared too, not only successes
    assert without_inodes(tree(tmp_path / "sandboxed")) == without_inodes(tree(tmp_path / "native"))


BUSYBOX_CASES = [
    ["mkdir", "-p", "a/b/c"],
    ["mkdir", "emptydir"],
    ["touch", "new", "src.txt"],
    ["cp", "src.txt", "copy.txt"],
    ["cp", "-r", "srcdir", "copydir"],
    ["cp", "src.txt", "srcdir"],
    ["mv", "src.txt", "moved.txt"],
    ["mv", "srcdir", "emptydir"],
    ["mv", "src.txt", "srcdir/a"],
    ["rm", "src.txt"],
    ["rm", "-r", "srcdir"],
    ["rm", "missing"],
    ["rmdir", "emptydir"],
    ["rmdir", "srcdir"],
    ["unlink", "src.txt"],
    ["ln", "-s", "src.txt", "sym"],
    ["ln", "-s", "/etc/passwd", "abs"],
    ["ln", "src.txt", "hard"],
    ["ln", "-sf", "srcdir", "src.txt"],
    ["chmod", "600", "src.txt"],
    ["chmod", "-R", "go-rwx", "srcdir"],
    ["chmod", "+t", "emptydir"],
    ["truncate", "-s", "3", "src.txt"],
    ["truncate", "-s", "10000", "new"],
    ["dd", "if=src.txt", "of=out", "bs=2", "seek=3"],
    ["dd", "if=ref", "of=src.txt", "bs=1", "seek=2", "conv=notrunc"],
    ["install", "-m", "640", "src.txt", "installed"],
    ["sed", "-i", "s/source/changed/", "src.txt"],
    ["tee", "t1", "t2"],
    ["touch", "-r", "ref", "src.txt"],
]


def _seed(d: Path) -> None:
    d.mkdir()
    (d / "src.txt").write_text("source text\n")
    (d / "srcdir").mkdir()
    (d / "srcdir" / "a").write_text("a\n")
    (d / "srcdir" / "b").write_text("bb\n")
    (d / "emptydir").mkdir()
    (d / "ref").write_text("ref\n")
    os.utime(d / "ref", ns=(1_000_000_001, 2_000_000_002))


@requires_busybox
@pytest.mark.parametrize("args", BUSYBOX_CASES, ids=lambda a: " ".join(a))
def test_busybox_matches_native(args, tmp_path):
    _seed(tmp_path / "native")
    _seed(tmp_path / "sandboxed")
    feed = b"teed\n" if args[0] == "tee" else None
    want = native([BUSYBOX, *args], cwd=tmp_path / "native", input=feed, timeout=60)
    got = sandboxed([BUSYBOX, *args], rw=[f"{tmp_path / 'sandboxed'}:/work"], cwd="/work",
                    input=feed)
    assert got.reason is None
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, want.returncode)
    assert without_inodes(tree(tmp_path / "sandboxed")) == without_inodes(tree(tmp_path / "native"))
    if args[:2] == ["touch", "-r"]:
        assert (tmp_path / "sandboxed" / "src.txt").stat().st_mtime_ns == 2_000_000_002


# -- read-only mounts and synthetic directories ------------------------------------

WRITES = [
    "create {d}/new", "create {d}/f", "append {d}/f", "trunc {d}/f", "mkdir {d}/new",
    "rmdir {d}/sub", "unlink {d}/f", "rename {d}/f {d}/g", "exchange {d}/f {d}/sub",
    "link {d}/f {d}/g", "linkf {d}/f {d}/g", "symlink f {d}/g", "chmod {d}/f 600",
    "fchmod {d}/f 600", "chown {d}/f", "lchown {d}/f", "fchownat {d}/f", "fchown {d}/f",
    "truncate {d}/f 0", "utime {d}/f", "opentmp {d}", "linkfd {d}/f {d}/g", "unlink {d}/missing",
    "mkdir {d}/sub/deeper", "chmod {d} 777", "utime {d}",
]


def test_read_only_mount_answers_erofs_to_every_write(probe, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "f").write_text("keep\n")
    (ro / "sub").mkdir()
    before = tree(tmp_path, times=True)
    ops = [w.format(d="/data") for w in WRITES]
    got = probe(ops, ro=[f"{ro}:/data"])
    assert got == {o: "-1 EROFS" for o in ops}
    assert tree(tmp_path, times=True) == before
    assert probe(["read /data/f"], ro=[f"{ro}:/data"]) == {"read /data/f": "keep\\n"}


def test_synthetic_directories_answer_erofs(probe):
    ops = ["mkdir /new", "rename /usr /u2", "rmdir /usr", "unlink /bin",
           "symlink /etc /s", "opentmp /", "chmod / 777", "utime /"]
    assert probe(ops) == {o: "-1 EROFS" for o in ops}


def test_ftruncate_needs_a_file_opened_for_writing(probe, tmp_path):
    (tmp_path / "f").write_text("0123456789")
    got = probe(["ftruncate /work/f 4", "read /work/f"], rw=[f"{tmp_path}:/work"])
    assert got == {"ftruncate /work/f 4": "0", "read /work/f": "0123"}
    got = probe(["ftruncate /data/f 1"], ro=[f"{tmp_path}:/data"])
    assert got == {"ftruncate /data/f 1": "-1 EROFS"}  # opening it O_RDWR already fails


# -- between mounts -------------------------------------------------------------------

def test_rename_and_link_between_mounts_are_exdev(probe, tmp_path):
    """All three mounts lie on one host file system, where the host would
    allow the link: the answer must come from the view."""
    for name in ("a", "b", "r"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text(f"{name}\n")
    before = tree(tmp_path, times=True)
    ops = ["rename /a/f /b/g", "link /a/f /b/g", "linkf /a/f /b/g", "exchange /a/f /b/f",
           "linkfd /a/f /b/g", "tmpfile /a /b/g",
           # a read-only file must not get a writable name
           "link /r/f /a/g", "linkf /r/f /a/g", "linkfd /r/f /a/g", "rename /r/f /a/g"]
    mounts = dict(rw=[f"{tmp_path / 'a'}:/a", f"{tmp_path / 'b'}:/b"], ro=[f"{tmp_path / 'r'}:/r"])
    assert probe(ops, **mounts) == {o: "-1 EXDEV" for o in ops}
    assert tree(tmp_path, times=True) == before
    # A symlink is fine: it is resolved in the view, to the read-only file.
    ops = ["symlink /r/f /a/s", "append /a/s", "read /a/s"]
    assert probe(ops, **mounts) == {"symlink /r/f /a/s": "0", "append /a/s": "-1 EROFS",
                                    "read /a/s": "r\\n"}
    assert (tmp_path / "r" / "f").read_text() == "r\n"
    assert (tmp_path / "r" / "f").stat().st_nlink == 1


def test_mount_points_cannot_be_moved_or_replaced(probe, tmp_path):
    """Read-only mounts nested in a writable one whose host directories lie
    inside it: renaming a mount point (or a directory on the way to one)
    would bring the read-only directory into the writable mount's reach."""
    work = tmp_path / "work"
    (work / "ro").mkdir(parents=True)
    (work / "ro" / "f").write_text("protected\n")
    (work / "a" / "b").mkdir(parents=True)
    (work / "a" / "b" / "f").write_text("protected too\n")
    (work / "other").mkdir()
    before = tree(tmp_path, times=True)
    ops = ["rename /work/ro /work/moved", "rename /work/a /work/moved", "rmdir /work/ro",
           "unlink /work/ro", "rename /work/other /work/ro", "rename /work/other /work/a",
           "exchange /work/other /work/a", "rmdir /work/a", "symlink x /work/ro",
           "mkdir /work/ro", "link /work/other /work/ro",
           "append /work/ro/f", "append /work/a/b/f", "rename /work/a/b /work/x",
           "create /work/a/b/new", "chmod /work/ro/f 666", "rename /work/ro/f /work/f"]
    got = probe(ops, rw=[f"{work}:/work"],
                ro=[f"{work / 'ro'}:/work/ro", f"{work / 'a' / 'b'}:/work/a/b"])
    assert got == {
        "rename /work/ro /work/moved": "-1 EBUSY",
        "rename /work/a /work/moved": "-1 EBUSY",
        "rmdir /work/ro": "-1 EBUSY",
        "unlink /work/ro": "-1 EBUSY",
        "rename /work/other /work/ro": "-1 EBUSY",
        "rename /work/other /work/a": "-1 EBUSY",
        "exchange /work/other /work/a": "-1 EBUSY",
        "rmdir /work/a": "-1 EBUSY",
        "symlink x /work/ro": "-1 EEXIST",
        "mkdir /work/ro": "-1 EEXIST",
        "link /work/other /work/ro": "-1 EEXIST",
        "append /work/ro/f": "-1 EROFS",
        "append /work/a/b/f": "-1 EROFS",
        "rename /work/a/b /work/x": "-1 EBUSY",
        "create /work/a/b/new": "-1 EROFS",
        "chmod /work/ro/f 666": "-1 EROFS",
        "rename /work/ro/f /work/f": "-1 EXDEV",
    }
    assert tree(tmp_path, times=True) == before


# -- owners and modes -------------------------------------------------------------------

def test_chown_is_refused_and_logged(probe, tmp_path):
    (tmp_path / "f").write_text("x")
    st = (tmp_path / "f").stat()
    ops = ["chown /work/f", "lchown /work/f", "fchownat /work/f", "fchown /work/f",
           "chown /work/missing"]
    got = probe(ops, rw=[f"{tmp_path}:/work"])
    assert got == {"chown /work/f": "-1 EPERM", "lchown /work/f": "-1 EPERM",
                   "fchownat /work/f": "-1 EPERM", "fchown /work/f": "-1 EPERM",
                   "chown /work/missing": "-1 ENOENT"}
    for call in ("chown", "lchown", "fchownat", "fchown"):
        assert any(line.startswith(f"denied {call}:") and "EPERM" in line for line in probe.log)
    after = (tmp_path / "f").stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (st.st_uid, st.st_gid, st.st_mode)


@requires_busybox
def test_busybox_chown_fails_with_eperm(tmp_path):
    (tmp_path / "f").write_text("x")
    got = sandboxed([BUSYBOX, "chown", "0:0", "/work/f"], rw=[f"{tmp_path}:/work"])
    assert got.returncode == 1
    assert b"Operation not permitted" in got.stderr


def test_chmod_never_sets_setuid_or_setgid(probe, tmp_path):
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).write_text(name)
    (tmp_path / "dir").mkdir()
    ops = ["chmod /work/a 4755", "chmod /work/b 2711", "fchmod /work/c 6777",
           "chmod /work/d 7000", "chmod /work/dir 3777", "createmode /work/e 4777",
           "mkdir /work/sub 2777"]
    got = probe(ops, rw=[f"{tmp_path}:/work"])
    assert got == {o: "0" for o in ops}
    modes = {n: stat.S_IMODE((tmp_path / n).stat().st_mode) for n in "abcde"}
    assert modes == {"a": 0o755, "b": 0o711, "c": 0o777, "d": 0o1000, "e": 0o755}
    assert stat.S_IMODE((tmp_path / "dir").stat().st_mode) == 0o1777  # the sticky bit stays
    assert not (tmp_path / "sub").stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert any("setuid/setgid bits dropped" in line for line in probe.log)


# -- symlinks never lead out -------------------------------------------------------------

def test_symlinks_made_inside_do_not_escape(probe, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    (work / "f").write_text("inside\n")
    os.symlink("../secret.txt", work / "host_made")  # left there by someone on the host
    targets = {"s1": "/etc/shadow", "s2": "../../../../../../etc/shadow",
               "s3": str(secret), "s4": "../secret.txt", "sd": "/etc", "sd2": "../..",
               "loop": "loop"}
    watched = [secret, Path("/etc/shadow"), Path("/etc/passwd")]
    watched = [p for p in watched if p.exists()]
    before = {p: p.stat() for p in watched}
    ops = [f"symlink {t} /work/{n}" for n, t in targets.items()]
    attacks = []
    for n in ["s1", "s2", "s3", "s4", "host_made"]:
        attacks += [f"read /work/{n}", f"append /work/{n}", f"create /work/{n}",
                    f"chmod /work/{n} 777", f"truncate /work/{n} 0", f"utime /work/{n}",
                    f"linkf /work/{n} /work/hard_{n}", f"linkfdpath /work/{n} /work/fd_{n}",
                    f"chown /work/{n}"]
    for n in ["sd", "sd2"]:
        attacks += [f"create /work/{n}/shadow", f"mkdir /work/{n}/x", f"unlink /work/{n}/shadow",
                    f"rename /work/f /work/{n}/passwd", f"symlink x /work/{n}/y",
                    f"tmpfile /work/{n} /work/{n}/z"]
    attacks += ["create /work/loop", "read /work/loop"]
    got = probe(ops + attacks, rw=[f"{work}:/work"])
    assert all(got[o] == "0" for o in ops)
    for o in attacks:
        if o.startswith("linkfdpath"):  # an O_PATH fd of the symlink itself: never followed
            assert got[o] == "-1 EPERM", o
        elif "/work/sd" in o:  # into /etc (made up by the broker) or the synthetic /
            assert got[o].startswith("-1 "), (o, got[o])
        elif "loop" in o:
            assert got[o] == "-1 ELOOP", o
        else:  # the targets are outside the view: they do not exist
            assert got[o] == "-1 ENOENT", (o, got[o])
    for p in watched:
        a, b = before[p], p.stat()
        assert (a.st_mode, a.st_nlink, a.st_size, a.st_mtime_ns, a.st_uid) == \
               (b.st_mode, b.st_nlink, b.st_size, b.st_mtime_ns, b.st_uid), p
    assert secret.read_text() == "SECRET\n"
    inodes = {(p.stat().st_dev, p.stat().st_ino) for p in watched}
    for dirpath, dirnames, filenames in os.walk(work):  # symlinks are not followed
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            assert (st.st_dev, st.st_ino) not in inodes, name
            assert not name.startswith(("hard_", "fd_")), name
    for n, t in targets.items():  # stored exactly as written
        assert os.readlink(work / n) == t


def test_symlinks_inside_the_mount_still_work(probe, tmp_path):
    (tmp_path / "d").mkdir()
    ops = ["symlink d /work/dl", "create /work/dl/f", "symlink f /work/dl/fl", "append /work/dl/fl",
           "symlink /work/d/f /work/abs", "append /work/abs", "linkf /work/abs /work/h",
           "read /work/h", "chmod /work/abs 600", "mode /work/d/f", "rename /work/dl/f /work/g",
           "read /work/abs"]
    got = probe(ops, rw=[f"{tmp_path}:/work"])
    assert got == {**{o: "0" for o in ops}, "read /work/h": "new+more+more",
                   "mode /work/d/f": "0600", "read /work/abs": "-1 ENOENT"}
    assert (tmp_path / "g").read_text() == "new+more+more"
    assert (tmp_path / "h").stat().st_ino == (tmp_path / "g").stat().st_ino


# -- O_TMPFILE and linkat ------------------------------------------------------------------

def test_tmpfile_named_with_linkat(probe, tmp_path):
    work, other, ro = tmp_path / "work", tmp_path / "other", tmp_path / "ro"
    for d in (work, other, ro):
        d.mkdir()
    (work / "sub").mkdir()
    (work / "f").write_text("f\n")
    (ro / "r").write_text("r\n")
    ops = ["tmpfile /work /work/named", "read /work/named", "mode /work/named",
           "tmpfile /work/sub /work/sub/n2", "tmpfile /work /work/excl excl",
           "tmpfile /work/sub /work/named", "tmpfile /work /other/x", "tmpfile /work/sub /work/n3",
           "tmpfile /tmp /tmp/t", "read /tmp/t", "tmpfile /ro /work/x", "opentmp /work/f",
           "linkfd /work/f /work/f2", "linkfd /ro/r /work/r2", "linkdir /work/sub /work/s2",
           "linkfdpath /work/f /work/f3"]
    got = probe(ops, rw=[f"{work}:/work", f"{other}:/other"], ro=[f"{ro}:/ro"])
    assert got == {
        "tmpfile /work /work/named": "0",
        "read /work/named": "tmp:/work/named",
        "mode /work/named": "0640",
        "tmpfile /work/sub /work/sub/n2": "0",
        "tmpfile /work /work/excl excl": "-1 ENOENT",  # O_EXCL: never to be linked
        "tmpfile /work/sub /work/named": "-1 EEXIST",
        "tmpfile /work /other/x": "-1 EXDEV",
        "tmpfile /work/sub /work/n3": "0",  # another directory of the same mount
        "tmpfile /tmp /tmp/t": "0",
        "read /tmp/t": "tmp:/tmp/t",
        "tmpfile /ro /work/x": "-1 EROFS",
        "opentmp /work/f": "-1 ENOTDIR",
        "linkfd /work/f /work/f2": "0",
        "linkfd /ro/r /work/r2": "-1 EXDEV",
        "linkdir /work/sub /work/s2": "-1 EPERM",
        "linkfdpath /work/f /work/f3": "0",
    }
    assert (work / "named").read_text() == "tmp:/work/named"
    assert (work / "sub" / "n2").read_text() == "tmp:/work/sub/n2"
    assert (work / "n3").read_text() == "tmp:/work/n3"
    assert not (work / "excl").exists() and not list(other.iterdir())
    assert (work / "f").stat().st_nlink == 3
    assert (ro / "r").stat().st_nlink == 1
    assert sorted(p.name for p in work.iterdir()) == ["f", "f2", "f3", "n3", "named", "sub"]


# -- the private /tmp -------------------------------------------------------------------------

@pytest.fixture
def host_tmp(tmp_path, monkeypatch):
    """Where the broker makes its private /tmp directories, watched by the test."""
    d = tmp_path / "host_tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@requires_busybox
def test_private_tmp_is_empty_and_writable(host_tmp):
    got = sandboxed([BUSYBOX, "ls", "-a", "/tmp"])
    assert (got.returncode, got.stdout) == (0, b".\n..\n")
    got = sandboxed([BUSYBOX, "sh", "-c", "echo hi > /tmp/x && read v < /tmp/x && echo $v"])
    assert (got.returncode, got.stdout) == (0, b"hi\n")
    assert list(host_tmp.iterdir()) == []


@requires_busybox
def test_private_tmp_is_made_once_the_program_looks_there(host_tmp):
    """A run that never looks at /tmp costs no host directory; one that does
    gets it then, and it goes when the run ends."""
    def while_running(argv, check, tries=500):
        r, w = os.pipe()
        got = []
        t = threading.Thread(target=lambda: got.append(sandboxed(argv, stdin=r)))
        t.start()
        try:
            for _ in range(tries):
                if check():
                    break
                time.sleep(0.01)
            seen = check()
        finally:
            os.close(w)
            t.join(30)
            os.close(r)
        assert got and got[0].returncode == 0, got
        return seen
    # (made at the start, it would show at once)
    assert not while_running([BUSYBOX, "cat"], lambda: list(host_tmp.iterdir()), tries=50)
    made = lambda: [d for d in host_tmp.iterdir() if (d / "x").exists()]
    assert while_running([BUSYBOX, "sh", "-c", ": > /tmp/x; read v; exit 0"], made)
    assert list(host_tmp.iterdir()) == []


def test_private_tmp_is_per_run_and_removed(probe, host_tmp):
    got = probe(["create /tmp/marker", "mkdir /tmp/d", "create /tmp/d/f", "symlink /etc /tmp/l",
                 "chmod /tmp/d 0", "chmod /tmp 0"])
    assert set(got.values()) == {"0"}
    assert list(host_tmp.iterdir()) == []
    assert probe(["read /tmp/marker"]) == {"read /tmp/marker": "-1 ENOENT"}
    assert list(host_tmp.iterdir()) == []


@requires_busybox
def test_private_tmp_is_removed_when_the_run_fails(tmp_path, host_tmp):
    with pytest.raises(strictbox.StrictboxError):  # a mount that cannot be made
        sandboxed([BUSYBOX, "true"], ro=[f"{tmp_path}/missing:/x"])
    assert list(host_tmp.iterdir()) == []
    not_a_program = tmp_path / "text"
    not_a_program.write_text("not a program\n")
    not_a_program.chmod(0o755)
    with pytest.raises(strictbox.StrictboxError):  # the program cannot be loaded
        sandboxed([str(not_a_program)])
    assert list(host_tmp.iterdir()) == []
    got = sandboxed([BUSYBOX, "sh", "-c", "echo x > /tmp/x; while :; do :; done"], timeout=1)
    assert got.reason is not None and "timeout" in got.reason
    assert list(host_tmp.iterdir()) == []


@requires_busybox
def test_a_mount_at_tmp_replaces_the_private_one(tmp_path, host_tmp):
    mine = tmp_path / "mine"
    mine.mkdir()
    got = sandboxed([BUSYBOX, "touch", "/tmp/x"], rw=[f"{mine}:/tmp"])
    assert got.returncode == 0 and (mine / "x").exists()
    got = sandboxed([BUSYBOX, "touch", "/tmp/y"], ro=[f"{mine}:/tmp/"])
    assert got.returncode == 1 and b"Read-only file system" in got.stderr
    assert list(host_tmp.iterdir()) == []


@requires_busybox
def test_cli_gets_a_private_tmp(compile_c, tmp_path):
    host_tmp = tmp_path / "host_tmp"
    host_tmp.mkdir()
    prog = compile_c("writable_probe.c", "-static")
    env = {**os.environ, "TMPDIR": str(host_tmp)}
    cli = [sys.executable, "-m", "strictbox", "run", "--"]
    r = subprocess.run(cli + [BUSYBOX, "ls", "-a", "/tmp"], capture_output=True, env=env,
                       timeout=60)
    assert (r.returncode, r.stdout) == (0, b".\n..\n"), r.stderr
    r = subprocess.run(cli + [str(prog), "create /tmp/f", "read /tmp/f"], capture_output=True,
                       env=env, timeout=60)
    assert (r.returncode, r.stdout) == (0, b"create /tmp/f = 0\nread /tmp/f = new\n"), r.stderr
    assert list(host_tmp.iterdir()) == []
