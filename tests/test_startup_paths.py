"""The shortcuts that make dynamic programs start with fewer broker round
trips must show the program what it would see without them."""

from __future__ import annotations

import hashlib
import os

import pytest

from conftest import BUSYBOX, native, requires_busybox, requires_ld_cache, sandboxed
from strictbox import virtual


def test_mmap_fixed_of_a_file_over_used_memory(compile_c):
    """ld.so maps each segment over its first mapping of the whole file: the
    broker fills the range (the file's bytes, zeros after them) without the
    runtime clearing it first."""
    prog = str(compile_c("mmap_fixed.c", "-static"))
    want = native([prog])
    assert want.returncode == 0, want.stderr
    got = sandboxed([prog, "beyond"])
    assert got.returncode == 0, got.stderr
    lines = got.stdout.decode().splitlines()
    assert [line for line in lines if "beyond" not in line] == want.stdout.decode().splitlines()
    assert len(lines) == 6 and all(line.endswith(" 1") for line in lines), lines



@pytest.fixture
def self_link(compile_c, tmp_path) -> tuple[str, str]:
    """(a link to the readlink_self program, the program), in a directory
    the sandbox sees read-only."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "readlink_self"
    prog.write_bytes(compile_c("readlink_self.c").read_bytes())
    prog.chmod(0o755)
    (bindir / "link").symlink_to("readlink_self")
    return str(bindir / "link"), str(prog)


def test_the_links_along_the_programs_path_read_as_natively_with_no_round_trip(self_link, monkeypatch):
    """readlink of the program's own path, and of where its links end, is
    answered in the sandbox (CPython does both as it starts); a path off
    that chain, and a buffer of no bytes, still go to the broker."""
    link, prog = self_link
    argv = [link, link, prog, os.path.dirname(prog) + "/missing"]
    want = native(argv)
    assert want.returncode == 0 and b"readlink_self" in want.stdout, want
    got = sandboxed(argv, ro=[os.path.dirname(prog)])
    assert (got.returncode, got.stdout) == (0, want.stdout), (got.stderr, got.reason)
    from strictbox import lookups
    monkeypatch.setattr(lookups, "program_links", lambda sb, program: [])
    asked = sandboxed(argv, ro=[os.path.dirname(prog)])
    assert asked.stdout == want.stdout
    assert got.stats["broker"] == asked.stats["broker"] - 4  # (2 calls each on the link and the program)


def test_a_policy_that_looks_at_readlink_gets_every_one(self_link):
    link, prog = self_link
    from strictbox.policy import Policy
    got = sandboxed([link, link], ro=[os.path.dirname(prog)],
                    policy=Policy.permissive().deny("readlinkat", errno="EPERM"))
    assert got.returncode == 0, got.stderr
    assert b"1 readlinkat 3: -1 Operation not permitted" in got.stdout, got.stdout
    assert b"1 readlink: 13 readlink_self" in got.stdout, got.stdout
    assert sum("denied readlinkat" in line for line in got.log) == 1, got.log


@requires_busybox
@requires_ld_cache
def test_ld_so_cache_is_the_hosts_under_the_system_mounts():
    got = sandboxed([BUSYBOX, "sha256sum", "/etc/ld.so.cache"])
    assert got.returncode == 0, got.stderr
    with open("/etc/ld.so.cache", "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    assert got.stdout.split()[0].decode() == want


@requires_busybox
@requires_ld_cache
def test_no_ld_so_cache_when_the_view_shows_other_libraries(tmp_path):
    """A cache naming host directories the view does not show as they are
    would send ld.so to the wrong files: then there is none."""
    got = sandboxed([BUSYBOX, "cat", "/etc/ld.so.cache"], ro=[f"{tmp_path}:/lib"])
    assert got.returncode == 1 and b"No such file" in got.stderr


@requires_ld_cache
def test_dynamic_program_runs_with_and_without_the_cache(compile_c, tmp_path):
    prog = str(compile_c("hello.c"))  # dynamic: ld.so reads the cache, or searches
    with_cache = sandboxed([prog])
    assert with_cache.returncode == 0, with_cache.stderr
    libc_dir = os.path.dirname(os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"))
    others = sorted(d for d in virtual.host_ld_cache().dirs
                    if os.path.realpath(d) != libc_dir and os.path.isdir(d)
                    and not libc_dir.startswith(os.path.realpath(d) + "/"))
    if not others:
        pytest.skip("the host's cache names no directory but libc's")
    # an empty directory over one the cache names: the cache is withheld
    without = sandboxed([prog], ro=[f"{tmp_path}:{others[0]}"])
    assert (without.returncode, without.stdout) == (0, with_cache.stdout)
    # ld.so searched (the runtime answers most of its misses: listings.py)
    searched = without.stats["sandbox"] + without.stats["broker"]
    assert with_cache.stats["sandbox"] + with_cache.stats["broker"] < searched


def test_ld_so_cache_parser_rejects_what_it_does_not_understand():
    assert virtual._parse_ld_cache(b"ld.so-1.7.0" + bytes(64)) is None
    head = virtual.LD_CACHE_MAGIC + (5).to_bytes(4, "little") + bytes(24)
    assert virtual._parse_ld_cache(head) is None  # 5 entries announced, none there
    entry = (0).to_bytes(4, "little") * 2 + (1 << 30).to_bytes(4, "little") + bytes(12)
    one = virtual.LD_CACHE_MAGIC + (1).to_bytes(4, "little") + bytes(24) + entry
    assert virtual._parse_ld_cache(one) is None  # a string offset past the end


def test_mmap_fixed_over_the_same_file_keeps_or_recopies_the_bytes(compile_c):
    """A segment mapped over the whole-file mapping at its own offset keeps the
    bytes in place; any other case (another offset, bytes written meanwhile,
    another file on the same fd) gets the file's bytes copied again."""
    prog = str(compile_c("mmap_in_place.c", "-static"))
    want = native([prog])
    assert want.returncode == 0, want.stderr
    got = sandboxed([prog])
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout
    assert got.stdout.decode().split().count("ok") == 8, got.stdout


def test_segments_mapped_in_place_cost_no_round_trip(compile_c):
    prog = str(compile_c("mmap_in_place.c", "-static"))
    few, many = sandboxed([prog, "count", "1"]), sandboxed([prog, "count", "41"])
    assert few.stdout == many.stdout == b"count ok\n", (few.stdout, many.stdout)
    assert many.stats["broker"] == few.stats["broker"], (few.stats, many.stats)
    assert many.stats["sandbox"] >= few.stats["sandbox"] + 40
