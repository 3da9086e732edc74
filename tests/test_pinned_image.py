"""The first image's read-only segments are pinned: the stub maps them
straight from the file (the page cache's pages, as a real exec shares them)
instead of the broker copying them into the arena.  A program that reads,
writes, unmaps or execs over its own image sees what it sees natively; the
broker reads its strings from the file, and makes the segments arena memory
again (SB_OP_UNPIN: a copy, and the spawner maps the arena back) before the
program changes one."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import Fleet, native, open_fds, sandboxed
from strictbox import arena, sandbox

MODES = ["read", "write", "unmap", "threads", "exec", "rodata_x", "read_ro", "pipe_ro", "signals"]


@pytest.fixture(scope="module", params=["static", "dynamic"])
def program(request, compile_c):
    flags = ("-static", "-pthread") if request.param == "static" else ("-pthread",)
    return str(compile_c("pinned_image.c", *flags))


@pytest.mark.parametrize("mode", MODES)
def test_the_program_sees_its_image_as_natively(program, mode):
    want = native([program, mode])
    assert want.returncode == 0, want.stderr
    got = sandboxed([program, mode])
    assert got.reason is None, (got.reason, got.log)
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr, 0)


def test_a_write_to_a_pinned_segment_without_mprotect_faults(program):
    """As natively: the segment is read-only (the arena is writable everywhere)."""
    want = native([program, "fault"])
    got = sandboxed([program, "fault"])
    assert want.returncode == got.returncode == -11, (want, got.reason)
    assert got.stdout == want.stdout and got.stdout.startswith(b"text ")
    assert got.reason.startswith("program killed by SIGSEGV"), got.reason


def test_a_spawner_turned_to_remapping_fools_nobody(compile_c):
    """A thread keeps rewriting the byte the spawner received to 'x' while
    threads start: the spawner maps the arena back over the range the box
    names, if it lies in the arena, and says 'X' where the broker waits for
    a thread; otherwise it ends the sandbox.  The program may break itself;
    the sandbox ends with a reason, or the race was lost and it runs on; the
    broker is never fooled."""
    prog = str(compile_c("hostile_spawn_socket.c", "-DSB_CFFI", "-static", "-pthread"))
    for _ in range(5):
        got = sandboxed([prog, "race_x"], timeout=30)
        if got.reason is None:
            assert (got.returncode, got.stdout) == (0, b"threads_started 4\n")
        else:
            assert re.match(r"protocol violation: a message on the spawn socket that is not the "
                            r"spawner's|program killed by SIG(SEGV|ILL|BUS)|the spawner failed a request",
                            got.reason), got.reason


def test_a_spawner_turned_outside_the_arena_maps_nothing_there(compile_c):
    """A thread keeps rewriting the spawner's box into a mapping ('m') of a
    range outside the arena, which the kernel would map (the clock page,
    other user space), while the program maps a large file (pinned: 'm')
    and starts threads.  The spawner checks every range, in registers, and
    ends the sandbox, or the race was lost and the program runs on; the
    clock page is never replaced.  (Without the check, half the runs the
    racer wins go on with the clock page replaced.)"""
    prog = str(compile_c("hostile_spawn_socket.c", "-DSB_CFFI", "-static", "-pthread"))
    libc = os.path.realpath("/usr/lib/x86_64-linux-gnu/libc.so.6")
    ended = 0
    for _ in range(40):  # (until the racer has won a few times)
        if ended == 3:
            break
        got = sandboxed([prog, "race_m", libc], timeout=30)
        assert b"clock_page_kept 0" not in got.stdout
        if got.reason is None:
            assert got.stdout == b"mapped 200\nclock_page_kept 1\nthreads_started 4\n", got.stdout
        else:
            ended += 1
            assert got.reason.startswith("the spawner failed a request"), got.reason
    assert ended, "the racer never reached the spawner"


def test_only_whole_pages_of_read_only_file_bytes_are_pinned():
    """What the stub may map from the file: read-only, no bss, its file
    offset page-aligned like its address, and no page shared with another
    segment (the mapping would hide the other's bytes); at most SB_MAX_PINS."""
    from strictbox import loader
    from strictbox._native import lib

    elf, other = object(), object()

    def seg(addr, size, prot, memsz=None, offset=None, of=elf):
        return loader.Segment(of, addr, addr - 0x400000 if offset is None else offset, size,
                              size if memsz is None else memsz, prot)

    text = seg(0x401000, 0x2000, 5)
    shares = seg(0x403000, 0x800, 1)  # its page holds the start of data too
    data = seg(0x403800, 0x100, 3)
    bss = seg(0x405000, 0x100, 1, memsz=0x2000)
    odd = seg(0x408000, 0x100, 1, offset=0x8010)
    elsewhere = seg(0x40a000, 0x1000, 5, of=other)  # a file on a writable mount
    loaded = loader.Loaded(0, None, 0, 0, [], [text, shares, data, bss, odd, elsewhere])
    assert loaded.pin_segments([elf]) == loaded.pinned == [text]
    assert loaded.segments == [shares, data, bss, odd, elsewhere]  # still copied
    many = [seg(0x400000 + 0x2000 * i, 0x1000, 1) for i in range(lib.SB_MAX_PINS + 2)]
    loaded = loader.Loaded(0, None, 0, 0, [], many)
    assert loaded.pin_segments([elf]) == many[:lib.SB_MAX_PINS]
    assert loaded.segments == many[lib.SB_MAX_PINS:]


def test_a_program_on_a_writable_mount_is_copied(program, tmp_path):
    """The sandbox could write it (or another sharing the mount): its
    running code must not change under it, so it is copied as before, and
    opening it for writing is not refused (a real exec would say ETXTBSY)."""
    prog = tmp_path / "prog"
    shutil.copy(program, prog)
    got = sandboxed([str(prog), "open_rw", str(prog)], rw=[f"{tmp_path}:{tmp_path}"])
    assert got.reason is None, got.reason
    assert got.stdout.endswith(b"open_rw: ok\n"), got.stdout


def test_a_program_on_a_noexec_host_mount_is_copied(program, tmp_path):
    """A host file system mounted noexec refuses executable mappings of its
    files: such a program is copied, as before pinning, and runs (the stub
    failed to map it: `cannot map a segment of the program`)."""
    host = tmp_path / "noexec"
    host.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec", "tmpfs", str(host)],
                      capture_output=True).returncode:
        pytest.skip("mounting a noexec tmpfs needs CAP_SYS_ADMIN, which this machine does not give")
    try:
        shutil.copy(program, host / "prog")
        want = native([program, "read"])
        got = sandboxed([str(host / "prog"), "read"], ro=[str(host)])
        assert got.reason is None, (got.reason, got.stderr)
        assert (got.stdout, got.returncode) == (want.stdout, 0)
    finally:
        subprocess.run(["umount", str(host)], check=True)


def test_a_running_program_cannot_be_opened_for_writing(compile_c, tmp_path):
    """As on Linux (ETXTBSY): another sandbox of the same broker with the
    program's directory mounted read-write cannot open it for writing while
    it runs from a pinned mapping, and can once it has ended."""
    opener = compile_c("pinned_image.c", "-static", "-pthread")
    prog = tmp_path / "prog"
    shutil.copy(opener, prog)
    fleet = Fleet()
    fleet.add([prog, "sleep"], ro=[str(tmp_path)])  # pinned: its mount is read-only
    _, out, _ = fleet.add([opener, "open_rw", "/w/prog"], rw=[f"{tmp_path}:/w"])
    fleet.run()
    assert out.endswith(b"open_rw: Text file busy\n"), out
    assert [sb.outcome.reason for sb in fleet.sbs] == [None, None]
    got = sandboxed([opener, "open_rw", "/w/prog"], rw=[f"{tmp_path}:/w"])
    assert got.stdout.endswith(b"open_rw: ok\n"), got.stdout


def test_a_read_from_a_prefetched_file_into_rodata_is_efault(program, tmp_path):
    """The runtime serves it from its prefetched copy: it hands a buffer it
    may not write to the broker, which answers as Linux (EFAULT, nothing read)."""
    data = tmp_path / "data"
    data.write_bytes(b"hello world\n")
    want = native([program, "read_file_ro", str(data)])
    got = sandboxed([program, "read_file_ro", str(data)], ro=[str(tmp_path)])
    assert got.reason is None, got.reason
    assert (got.stdout, got.returncode) == (want.stdout, 0)
    assert b"then: 5 hello" in got.stdout


def test_a_file_open_for_writing_is_not_pinned(compile_c, tmp_path):
    """While another sandbox of the broker has the program open for writing
    (Linux would refuse the exec: ETXTBSY), it is copied: what that sandbox
    writes then does not reach the running program."""
    prog = tmp_path / "prog"
    shutil.copy(compile_c("pinned_image.c", "-static", "-pthread"), prog)
    offset = prog.read_bytes().index(b"read-only data")
    writer = {}

    def scribble():
        writer["got"] = sandboxed([compile_c("pinned_image.c", "-static", "-pthread"), "scribble",
                                   "/w/prog", hex(offset), "500"], rw=[f"{tmp_path}:/w"])

    t = threading.Thread(target=scribble)
    t.start()
    deadline = time.monotonic() + 20
    while not sandbox._written(os.stat(prog)):  # until it has the file open (it then waits)
        assert time.monotonic() < deadline and t.is_alive()
        time.sleep(0.01)
    got = sandboxed([prog, "twice"], ro=[str(tmp_path)])
    t.join()
    assert writer["got"].stdout.endswith(b"open: ok\npwrite 14\n"), writer["got"].stdout
    assert got.reason is None, got.reason
    assert got.stdout.splitlines()[1:3] == [b"read-only data", b"read-only data"], got.stdout
    assert b"WRITTEN-OVER!!" in prog.read_bytes()  # it did write


def test_an_interrupted_broker_ends_its_sandboxes(compile_c, tmp_path):
    """A KeyboardInterrupt (here: an exception from a signal handler) out of
    strictbox.run: the sandbox is killed and released, nothing stays pinned,
    and no fd is left behind."""
    prog = tmp_path / "prog"
    shutil.copy(compile_c("pinned_image.c", "-static", "-pthread"), prog)
    fds = open_fds()

    def interrupt(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            sandboxed([prog, "sleep"], ro=[str(tmp_path)])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not arena.PINNED_FILES
    assert open_fds() == fds
    got = sandboxed([prog, "open_rw", str(prog)], rw=[f"{tmp_path}:{tmp_path}"])
    assert got.stdout.endswith(b"open_rw: ok\n"), got.stdout
