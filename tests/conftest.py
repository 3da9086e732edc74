"""Shared fixtures: compile C test programs, run things natively and sandboxed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import strictbox
from strictbox import virtual

PROGRAMS = Path(__file__).parent / "programs"
ABI_INCLUDE = Path(__file__).parent.parent / "untrusted_runtime" / "include"
BUSYBOX = shutil.which("busybox")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("programs")


@pytest.fixture(scope="session")
def compile_c(build_dir):
    """compile_c("name.c", "-static") -> path of the built program (cached)."""
    cache: dict[tuple, Path] = {}

    def build(source: str, *flags: str) -> Path:
        key = (source, flags)
        if key not in cache:
            out = build_dir / (Path(source).stem + "".join(f.replace("-", "_") for f in flags))
            subprocess.run(["cc", "-O1", "-Wall", f"-I{ABI_INCLUDE}", *flags, "-o", str(out),
                            str(PROGRAMS / source)], check=True)
            cache[key] = out
        return cache[key]

    return build


def native(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
                          **kw)


def sandboxed(argv, **kw) -> strictbox.RunResult:
    kw.setdefault("timeout", 60)
    return strictbox.run(argv, capture_output=True, **kw)


def lines(res) -> list[str]:
    """The output lines of a run that must have ended well."""
    assert res.returncode == 0, (res.stderr, res.reason, res.log)
    return res.stdout.decode().splitlines()


def open_fds() -> int:
    """This process's open fds, once every ended sandbox's arena is freed
    (a thread closes them, strictbox/afterwards.py), but the ones a standby
    stub and the spare arena hold (strictbox/standby.py, recycle.py: they
    come and go between runs)."""
    import os
    from strictbox import afterwards, recycle, standby
    afterwards.wait()
    return len(os.listdir("/proc/self/fd")) - standby.fds() - recycle.fds()


requires_busybox = pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")
# ld.so's cache, in the one format strictbox reads (virtual.host_ld_cache):
# without it the made-up /etc has none and no library is foretold.
requires_ld_cache = pytest.mark.skipif(virtual.host_ld_cache() is None,
                                       reason="no /etc/ld.so.cache in a format strictbox reads")


class Fleet:
    """One broker running several sandboxes with captured output; run() in
    this thread.  add() returns (sandbox, stdout buffer, stderr buffer); pass
    stdout= an fd to send that stream elsewhere instead of capturing it."""

    def __init__(self):
        from strictbox.loop import Broker
        self.broker = Broker()
        self.sbs = []

    def add(self, argv, stdout=None, **options):
        import os
        from strictbox import api
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        capture, out = {}, bytearray()
        if stdout is None:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            capture[out_r] = out
        else:
            out_w = stdout
        err = bytearray()
        capture[err_r] = err
        sb = api.prepare([str(a) for a in argv], stdio=(0, out_w, err_w), **options)
        try:
            self.broker.add(sb, capture=capture)
        finally:
            os.close(err_w)
            if stdout is None:
                os.close(out_w)
        self.sbs.append(sb)
        return sb, out, err

    def run(self):
        from strictbox import api
        try:
            self.broker.run()
        finally:
            self.broker.close()
            for sb in self.sbs:
                api.release(sb)


def walk_tree(root):
    """(path relative to root, Path, lstat) for everything under root, in a
    stable order: what the tree comparisons in the tests are made of."""
    import os
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            yield str(p.relative_to(root)), p, p.lstat()
