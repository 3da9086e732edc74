"""Shared fixtures: compile C test programs, run things natively and sandboxed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import strictbox

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


requires_busybox = pytest.mark.skipif(BUSYBOX is None, reason="busybox-static is not installed")
