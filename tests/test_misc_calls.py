"""The small calls of broker/calls/misc.py, seen from a real program
(Debian's CPython) inside the sandbox: process group and session, wait with
no children, ids, priority, affinity, statfs, fadvise, extended attributes."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

import strictbox

PY = "/usr/bin/python3"
pytestmark = pytest.mark.skipif(not os.path.exists(PY), reason="no /usr/bin/python3")

PROBE = r'''
import errno, os, sys
out = {}
def t(name, f, *a):
    try:
        out[name] = f(*a)
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
ro, rw = sys.argv[1], sys.argv[2]
t("pgrp", lambda: (os.getpgrp(), os.getpgid(0), os.getsid(0), os.getpgid(os.getpid())) == (os.getpid(),) * 4)
t("pgid other", os.getpgid, 99999)
t("sid other", os.getsid, 99999)
t("waitpid", os.waitpid, -1, os.WNOHANG)
t("waitid", os.waitid, os.P_ALL, 0, os.WEXITED | os.WNOHANG)
t("getresuid", os.getresuid)
t("getresgid", os.getresgid)
t("setreuid -1", os.setreuid, -1, -1)
t("setregid own", os.setregid, os.getgid(), -1)
t("setresuid root", os.setresuid, 0, 0, 0)
t("setresgid root", os.setresgid, -1, 0, -1)
base = os.getpriority(os.PRIO_PROCESS, 0)
t("nice start", lambda: base)
t("nice up", lambda: (os.setpriority(os.PRIO_PROCESS, 0, base + 2), os.getpriority(os.PRIO_PROCESS, 0))[1])
t("nice down", os.setpriority, os.PRIO_PROCESS, 0, base)
t("nice other", os.getpriority, os.PRIO_PROCESS, 99999)
t("affinity", lambda: os.sched_getaffinity(0) == os.sched_getaffinity(os.getpid()) and len(os.sched_getaffinity(0)) >= 1)
t("affinity other", os.sched_getaffinity, 99999)
t("yield", os.sched_yield)
t("statvfs ro", lambda: bool(os.statvfs(ro).f_flag & os.ST_RDONLY))
t("statvfs rw", lambda: bool(os.statvfs(rw).f_flag & os.ST_RDONLY))
t("statvfs usr", lambda: (bool(os.statvfs("/usr").f_flag & os.ST_RDONLY), os.statvfs("/usr").f_namemax))
fd = os.open(rw, os.O_RDONLY)
t("fstatvfs rw", lambda: bool(os.fstatvfs(fd).f_flag & os.ST_RDONLY))
t("statvfs proc", lambda: bool(os.statvfs("/proc/self").f_flag & os.ST_RDONLY))
t("statvfs missing", os.statvfs, rw + "/missing")
f = os.open(ro + "/data", os.O_RDONLY)
t("fadvise", os.posix_fadvise, f, 0, 0, os.POSIX_FADV_SEQUENTIAL)
t("fadvise bad", os.posix_fadvise, f, 0, 0, 99)
r, w = os.pipe()
t("fadvise pipe", os.posix_fadvise, r, 0, 0, os.POSIX_FADV_NORMAL)
t("fadvise badf", os.posix_fadvise, 1000, 0, 0, os.POSIX_FADV_NORMAL)
t("listxattr", os.listxattr, ro + "/data")
t("flistxattr", os.listxattr, f)
t("llistxattr", lambda: os.listxattr(ro + "/data", follow_symlinks=False))
t("listxattr missing", os.listxattr, ro + "/missing")
t("getxattr", os.getxattr, ro + "/data", "security.selinux")
t("getxattr missing", os.getxattr, ro + "/missing", "user.x")
t("getxattr namespace", os.getxattr, ro + "/data", "nonsense.x")
t("getxattr long", os.getxattr, ro + "/data", "user." + "x" * 300)
t("setxattr ro", os.setxattr, ro + "/data", "user.x", b"1")
t("setxattr rw", os.setxattr, rw, "user.x", b"1")
t("removexattr rw", os.removexattr, rw, "user.x")
for k, v in out.items():
    print(f"{k}: {v!r}")
'''

WANT = {
    "pgrp": "True", "pgid other": "'ESRCH'", "sid other": "'ESRCH'",
    "waitpid": "'ECHILD'", "waitid": "'ECHILD'",
    "getresuid": "(1000, 1000, 1000)", "getresgid": "(1000, 1000, 1000)",
    "setreuid -1": "None", "setregid own": "None",
    "setresuid root": "'EPERM'", "setresgid root": "'EPERM'",
    "nice down": "'EACCES'", "nice other": "'ESRCH'",
    "affinity": "True", "affinity other": "'ESRCH'", "yield": "None",
    "statvfs ro": "True", "statvfs rw": "False", "statvfs usr": "(True, 255)",
    "fstatvfs rw": "False", "statvfs proc": "True", "statvfs missing": "'ENOENT'",
    "fadvise": "None", "fadvise bad": "'EINVAL'", "fadvise pipe": "'ESPIPE'",
    "fadvise badf": "'EBADF'",
    "listxattr": "[]", "flistxattr": "[]", "llistxattr": "[]", "listxattr missing": "'ENOENT'",
    "getxattr": "'ENODATA'", "getxattr missing": "'ENOENT'", "getxattr namespace": "'ENOTSUP'",
    "getxattr long": "'ERANGE'", "setxattr ro": "'EROFS'", "setxattr rw": "'ENOTSUP'",
    "removexattr rw": "'ENOTSUP'",
}


@pytest.fixture
def results(tmp_path):
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "probe.py").write_text(PROBE)
    (ro / "data").write_text("some data\n")
    r = strictbox.run([PY, "-I", str(ro / "probe.py"), str(ro), str(rw)], capture_output=True,
                      ro=[str(ro)], rw=[str(rw)], timeout=60)
    assert (r.returncode, r.reason, r.stderr) == (0, None, b""), (r.stderr, r.log)
    got = dict(line.split(": ", 1) for line in r.stdout.decode().splitlines())
    got["log"] = r.log
    return got


def test_answers(results):
    assert {k: results[k] for k in WANT} == WANT, results["log"]
    # none of these calls is refused as unknown any more
    assert not [line for line in results["log"] if "not in strictbox's syscall table" in line]


def test_nice_goes_up_for_real(results):
    start = int(results["nice start"])
    assert int(results["nice up"]) == start + 2


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the probe natively as uid 1000")
def test_native_agrees_where_it_should():
    """The same probe natively as uid/gid 1000 gives the same answers on the
    calls whose meaning does not depend on the view (ids, wait, fadvise, and
    the xattr errors of a missing file or bad name).  Not under tmp_path:
    uid 1000 cannot search pytest's 0700 base directory."""
    with tempfile.TemporaryDirectory(prefix="strictbox-misc-") as d:
        os.chmod(d, 0o755)
        with open(os.path.join(d, "probe.py"), "w") as f:
            f.write(PROBE)
        with open(os.path.join(d, "data"), "w") as f:
            f.write("some data\n")
        r = subprocess.run([PY, "-I", "probe.py", d, d], capture_output=True, cwd=d, user=1000,
                           group=1000, extra_groups=[], timeout=60)
    got = dict(line.split(": ", 1) for line in r.stdout.decode().splitlines())
    for k in ("waitpid", "waitid", "getresuid", "getresgid", "setreuid -1", "setregid own",
              "setresuid root", "setresgid root", "nice down", "affinity", "yield",
              "fadvise", "fadvise bad", "fadvise pipe", "fadvise badf", "listxattr missing",
              "getxattr missing", "getxattr namespace", "getxattr long", "statvfs missing"):
        assert got[k] == WANT[k], (k, got[k], r.stderr)
