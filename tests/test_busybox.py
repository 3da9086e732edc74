"""Debian's busybox-static (non-PIE, linked at 0x400000), byte for byte
against a native run with the same inputs."""

import pytest

from conftest import BUSYBOX, native, requires_busybox, sandboxed

pytestmark = requires_busybox
GPL = "/usr/share/common-licenses/GPL-3"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    (d / "words.txt").write_text("pear\napple\nfig\napple\nbanana\n")
    (d / "sub").mkdir()
    (d / "sub" / "a").write_text("a\n")
    (d / "sub" / "b").write_text("bb\n")
    return d


CASES = [
    ["echo", "hello", "world"],
    ["cat", "{d}/words.txt"],
    ["ls", "{d}/sub"],
    ["ls", "-ln", "{d}/sub"],  # names need /etc/passwd, not in the default view
    ["wc", "{d}/words.txt", GPL],
    ["sha256sum", "{d}/words.txt", GPL],
    ["head", "-n", "3", GPL],
    ["sort", "{d}/words.txt"],
    ["sort", "-r", GPL],
    ["env"],
    ["printf", "%s=%05d %x\\n", "a", "42", "255"],
    ["uname"],
    ["uname", "-s", "-m"],
    ["true"],
    ["false"],
    ["cat", "{d}/missing"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a))
def test_matches_native(args, data_dir):
    argv = [BUSYBOX] + [a.format(d=data_dir) for a in args]
    got = sandboxed(argv, ro=[str(data_dir)])
    want = native(argv)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, want.returncode)
    assert got.reason is None


def test_stdin_is_passed_through():
    data = b"zeta\nalpha\nmu\n" * 1000
    got = sandboxed([BUSYBOX, "sort", "-u"], input=data)
    assert got.stdout == b"alpha\nmu\nzeta\n"


def test_ls_root_shows_only_the_view():
    got = sandboxed([BUSYBOX, "ls", "/"])
    assert got.returncode == 0
    made_up = {b"dev", b"etc", b"proc"}  # broker/virtual.py, never host files
    private = {b"tmp"}  # each run's own empty, writable /tmp
    assert set(got.stdout.split()) <= {b"bin", b"lib", b"lib64", b"sbin", b"usr"} | made_up | private
