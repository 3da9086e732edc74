"""Small read-only files are prefetched when opened: the runtime serves
read, pread, lseek, fstat and isatty itself, with Linux's offsets."""

from conftest import native, sandboxed

TEXT = b"0123456789abcdefghijklmnopqrstuvwxyz\n"


def test_prefetched_file_behaves_like_linux(compile_c, tmp_path):
    (tmp_path / "data.txt").write_bytes(TEXT)
    prog = str(compile_c("prefetch.c"))
    argv = [prog, str(tmp_path / "data.txt")]
    got, want = sandboxed(argv, ro=[str(tmp_path)]), native(argv)
    assert got.reason is None, got.reason
    assert got.stdout.decode() == want.stdout.decode()
    assert "after exec: 5 [klmno]" in got.stdout.decode()


def test_prefetch_saves_round_trips(compile_c, tmp_path):
    """A 40 KiB file read 4 bytes at a time: a handful of round trips, not 10,000."""
    (tmp_path / "big.txt").write_bytes(TEXT * 1100)
    # static: ld.so's search for libc (glibc-hwcaps, tls, ... directories,
    # which differ from CPU to CPU) alone costs ~40 round trips on some hosts
    prog = str(compile_c("prefetch.c", "-static"))
    got = sandboxed([prog, str(tmp_path / "big.txt"), "small-reads"], ro=[str(tmp_path)])
    assert got.reason is None, got.reason
    assert got.stdout == b"read %d bytes\n" % len(TEXT * 1100)
    assert got.stats["broker"] < 50, got.stats


def test_sequential_reads_move_the_window(compile_c, tmp_path):
    """A 1 MiB file read 4 bytes at a time: the window moves on 64 KiB at a
    time, about 16 round trips, not 250,000 (nor the 16,000 of 64-byte
    preads without the window)."""
    data = (TEXT * 28400)[: 1 << 20]
    (tmp_path / "big.txt").write_bytes(data)
    prog = str(compile_c("prefetch.c", "-static"))
    got = sandboxed([prog, str(tmp_path / "big.txt"), "small-reads"], ro=[str(tmp_path)])
    assert got.reason is None, got.reason
    assert got.stdout == b"read %d bytes\n" % len(data)
    assert got.stats["broker"] < 50, got.stats


def test_writable_mount_files_are_not_prefetched(compile_c, tmp_path):
    """A file on a rw mount can change under its reader: it is read live."""
    (tmp_path / "f").write_bytes(b"one\n")
    prog = str(compile_c("prefetch.c"))
    got = sandboxed([prog, "/w/f", "live"], rw=[f"{tmp_path}:/w"])
    assert got.reason is None, got.reason
    assert got.stdout == b"size 8 read 8 [one\ntwo\n]\n"


def test_stat_answers_on_read_only_mounts_are_kept():
    """200 stats of one path on a read-only mount: one round trip."""
    script = "i=0; while [ $i -lt 200 ]; do [ -d /usr/lib ] || exit 1; i=$((i+1)); done"
    got = sandboxed(["/bin/sh", "-c", script])
    assert (got.reason, got.returncode) == (None, 0)
    assert got.stats["broker"] < 60, got.stats


def test_stat_on_writable_mounts_is_always_asked(tmp_path):
    script = ": > /w/x; [ -s /w/x ] || echo empty; echo data > /w/x; [ -s /w/x ] && echo full"
    got = sandboxed(["/bin/sh", "-c", script], rw=[f"{tmp_path}:/w"])
    assert got.reason is None, got.reason
    assert got.stdout == b"empty\nfull\n"


def test_queued_closes_keep_fd_semantics(compile_c, tmp_path):
    """Closing a broker file costs no round trip, yet the number is closed."""
    (tmp_path / "data.txt").write_bytes(TEXT)
    prog = str(compile_c("prefetch.c"))
    argv = [prog, str(tmp_path / "data.txt"), "close"]
    got, want = sandboxed(argv, ro=[str(tmp_path)]), native(argv)
    assert got.reason is None, got.reason
    assert got.stdout.decode() == want.stdout.decode()
    assert "read after close: -1 Bad file descriptor" in got.stdout.decode()


def _dir_with_files(tmp_path, n=40):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(n):
        (d / f"file-with-a-longish-name-{i:03}").write_bytes(b"x")
    return d


def test_end_of_a_read_only_directory_behaves_like_linux(compile_c, tmp_path):
    d = _dir_with_files(tmp_path)
    prog = str(compile_c("dir_end.c", "-static"))
    want = native([prog, str(d)])
    got = sandboxed([prog, str(d)], ro=[str(d)])
    assert got.reason is None, got.reason
    assert got.stdout == want.stdout
    assert b"first entries=42 last=0 after=0" in got.stdout
    # and on a writable mount, where the broker gives no hint
    rw = sandboxed([prog, "/w"], rw=[f"{d}:/w"])
    assert rw.stdout == want.stdout


def test_a_read_only_directory_listed_again_costs_no_round_trip(compile_c, tmp_path):
    """The whole listing came with the open: a rewind (lseek 0) and every
    getdents64 after it, the one that reads 0 included, are the runtime's."""
    d = _dir_with_files(tmp_path)
    prog = str(compile_c("dir_end.c", "-static"))
    few = sandboxed([prog, str(d), "1"], ro=[str(d)])
    many = sandboxed([prog, str(d), "21"], ro=[str(d)])
    assert few.stdout == many.stdout
    assert many.stats["broker"] == few.stats["broker"], (few.stats, many.stats)


def test_a_large_file_read_from_its_prefetched_head_and_beyond(compile_c, tmp_path):
    """ld.so's header and note reads come from the first 4 KiB kept in the
    sandbox; reads past them go to the broker at the runtime's offset."""
    data = bytes((i * 31 + i // 251) & 0xFF for i in range(200000))
    (tmp_path / "big.bin").write_bytes(data)
    prog = str(compile_c("head_prefetch.c", "-static"))
    argv = [prog, str(tmp_path / "big.bin")]
    want, got = native(argv), sandboxed(argv, ro=[str(tmp_path)])
    assert got.reason is None, got.reason
    assert got.stdout.decode() == want.stdout.decode()
    assert "wrong" not in got.stdout.decode()
