"""The filesystem view: nothing outside the mounts is reachable."""

import os

import pytest

from conftest import BUSYBOX, requires_busybox, sandboxed

pytestmark = requires_busybox


@pytest.fixture
def jail(tmp_path):
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "ok.txt").write_text("visible\n")
    (tmp_path / "secret.txt").write_text("SECRET\n")
    os.symlink("../secret.txt", inside / "rel_escape")
    os.symlink(str(tmp_path / "secret.txt"), inside / "abs_escape")
    os.symlink("/etc/shadow", inside / "shadow_link")
    os.symlink("ok.txt", inside / "good_link")
    return inside


@pytest.mark.parametrize("path", [
    "/etc/shadow",
    "/usr/../etc/shadow",
    "/usr/lib/../../etc/shadow",
    "{j}/../secret.txt",
    "{j}/rel_escape",
    "{j}/abs_escape",
    "{j}/shadow_link",
    "/proc/self/root/etc/shadow",
])
def test_escapes_are_denied(jail, path):
    got = sandboxed([BUSYBOX, "cat", path.format(j=jail)], ro=[str(jail)])
    assert got.returncode == 1
    assert b"No such file or directory" in got.stderr
    assert b"SECRET" not in got.stdout and b"root:" not in got.stdout


def test_symlinks_inside_the_mount_work(jail):
    got = sandboxed([BUSYBOX, "cat", f"{jail}/good_link"], ro=[str(jail)])
    assert got.stdout == b"visible\n"


def test_mount_at_another_path(jail):
    got = sandboxed([BUSYBOX, "cat", "/data/ok.txt"], ro=[f"{jail}:/data"])
    assert got.stdout == b"visible\n"


def test_read_only_mount_refuses_writes(jail):
    got = sandboxed([BUSYBOX, "cp", f"{jail}/ok.txt", f"{jail}/new"], ro=[str(jail)])
    assert got.returncode == 1
    assert b"Read-only file system" in got.stderr
    assert not (jail / "new").exists()


def test_cwd_and_relative_paths(jail):
    got = sandboxed([BUSYBOX, "cat", "ok.txt"], ro=[str(jail)], cwd=str(jail))
    assert got.stdout == b"visible\n"
    got = sandboxed([BUSYBOX, "pwd"], ro=[str(jail)], cwd=str(jail))
    assert got.stdout == f"{jail}\n".encode()
