"""Path lookups the runtime answers itself (broker/lookups.py): a stat or a
"no such file" it keeps, and a warm start's answers from earlier runs, must
show the program what asking the broker would, and the policy must see
every call it would decide otherwise."""

from __future__ import annotations

import errno
import os

import pytest

import strictbox
from strictbox.policy import Policy

from conftest import lines, native, open_fds, sandboxed

ENOENT, EACCES = f"errno {errno.ENOENT}", f"errno {errno.EACCES}"


@pytest.fixture
def prog(compile_c):
    return str(compile_c("lookups.c"))


@pytest.fixture
def ro(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    (d / "here").write_text("12345")
    return d


def native_cold_warm(prog, ops, ro):
    """ops ("x:{}/name", {} the mount) natively on ro, then in two sandboxes
    that share a warm start: (native's lines, the first run, the warm one),
    the sandboxes' lines checked against native's."""
    want = native([prog, *(o.format(ro) for o in ops)]).stdout.decode().replace(str(ro), "/ro")
    warm = strictbox.WarmStart()
    args = [prog, *(o.format("/ro") for o in ops)]
    cold = sandboxed(args, ro=[f"{ro}:/ro"], warm=warm)
    warmed = sandboxed(args, ro=[f"{ro}:/ro"], warm=warm)
    assert lines(cold) == lines(warmed) == want.splitlines()
    return want, cold, warmed


def test_a_kept_answer_costs_one_round_trip(prog, ro):
    """The second and later lookups of a path on a read-only mount, found or
    missing, stat or read-only open, never reach the broker."""
    mount = [f"{ro}:/ro"]
    once = sandboxed([prog, "s:/ro/here", "s:/ro/none"], ro=mount)
    again = sandboxed([prog, "s:/ro/here", "s:/ro/none", "s:/ro/here", "s:/ro/none",
                       "o:/ro/none", "o:/ro/none", "s:/ro/none/x"], ro=mount)
    assert lines(again) == ["s /ro/here size 5", f"s /ro/none {ENOENT}"] * 2 + [
        f"o /ro/none {ENOENT}"] * 2 + [f"s /ro/none/x {ENOENT}"]
    # (and /ro/none/x: the listing of /ro the first miss brought lacks none, listings.py)
    assert again.stats["broker"] == once.stats["broker"]


def test_a_filter_every_lookup_passes_keeps_them_in_the_sandbox(prog, ro):
    """strictbox learn allows openat with "flags & O_ACCMODE == O_RDONLY &&
    !(flags & O_CREAT)": every open the runtime answers itself passes it,
    so missing names are still kept and listed.  A filter a lookup's flags
    can fail, or one that looks at an argument they do not fix, sends each
    to the broker again."""
    from strictbox.policy import Policy
    mount = [f"{ro}:/ro"]
    ops = ["o:/ro/none", "o:/ro/none", "s:/ro/none", "o:/ro/other", "n:/ro/none"]
    learned = Policy().rule("@default", "allow").rule(
        "openat", "allow", "flags & O_ACCMODE == O_RDONLY && !(flags & O_CREAT)")
    once = sandboxed([prog, "o:/ro/none"], ro=mount, policy=learned)
    got = sandboxed([prog, *ops], ro=mount, policy=learned)
    assert lines(got) == [f"o /ro/none {ENOENT}"] * 2 + [f"s /ro/none {ENOENT}", f"o /ro/other {ENOENT}",
                                                          f"n /ro/none {ENOENT}"]
    assert got.stats["broker"] == once.stats["broker"]
    for when in ("flags & O_NONBLOCK", "mode == 0"):
        picky = Policy.permissive().rule("openat", "log", when)
        once = sandboxed([prog, "o:/ro/none"], ro=mount, policy=picky)
        got = sandboxed([prog, *ops], ro=mount, policy=picky)
        assert got.stats["broker"] >= once.stats["broker"] + 3, when  # (the opens: asked each time)


def test_a_missing_open_first_is_kept_for_stats_too(prog, ro):
    mount = [f"{ro}:/ro"]
    once = sandboxed([prog, "o:/ro/none"], ro=mount)
    again = sandboxed([prog, "o:/ro/none", "s:/ro/none", "o:/ro/none"], ro=mount)
    assert lines(again) == [f"o /ro/none {ENOENT}", f"s /ro/none {ENOENT}", f"o /ro/none {ENOENT}"]
    assert again.stats["broker"] == once.stats["broker"]


def test_a_link_into_a_writable_mount_is_asked_every_time(prog, ro):
    """/ro/link -> /tmp/target: missing until the program makes the target
    in its writable /tmp, so that answer is not the read-only mount's."""
    os.symlink("/tmp/target", ro / "link")
    got = sandboxed([prog, "s:/ro/link", "o:/ro/link", "c:/tmp/target", "s:/ro/link", "o:/ro/link"],
                    ro=[f"{ro}:/ro"])
    assert lines(got) == [f"s /ro/link {ENOENT}", f"o /ro/link {ENOENT}", "c /tmp/target ok",
                          "s /ro/link size 0", "o /ro/link ok"]


def test_a_stat_through_a_link_the_program_can_change_is_asked_every_time(prog, ro, tmp_path):
    """A link in a writable mount, or /proc/self/cwd, may lead elsewhere
    the next time, though each time it leads to a read-only mount."""
    (ro / "a").write_text("1")
    (ro / "b").write_text("22")
    (ro / "d1").mkdir()
    (ro / "d2").mkdir()
    (ro / "d2" / "f").write_text("333")
    (ro / "d1" / "f").write_text("4444")
    rw = tmp_path / "rw"
    rw.mkdir()
    got = sandboxed([prog, "L:/rw/l=/ro/a", "s:/rw/l", "s:/rw/l", "L:/rw/l=/ro/b", "s:/rw/l",
                     "h:/ro/d1", "s:/proc/self/cwd/f", "h:/ro/d2", "s:/proc/self/cwd/f"],
                    ro=[f"{ro}:/ro"], rw=[f"{rw}:/rw"])
    assert lines(got) == ["L /rw/l=/ro/a ok", "s /rw/l size 1", "s /rw/l size 1", "L /rw/l=/ro/b ok",
                          "s /rw/l size 2", "h /ro/d1 ok", "s /proc/self/cwd/f size 4", "h /ro/d2 ok",
                          "s /proc/self/cwd/f size 3"]


def test_a_stat_through_dotdot_after_a_writable_name_is_asked_every_time(prog, ro, tmp_path):
    """/rw/d/.. depends on what /rw/d is, which the program can change."""
    rw = tmp_path / "rw"
    (rw / "sub" / "deeper").mkdir(parents=True)
    path = "s:/rw/d/../../ro/here"
    mounts = {"ro": [f"{ro}:/ro"], "rw": [f"{rw}:/rw"]}
    got = sandboxed([prog, path, "L:/rw/d=/rw/sub/deeper", path], **mounts)
    fresh = sandboxed([prog, path], **mounts)  # (the link is there now)
    assert lines(got)[2] == lines(fresh)[0]


def test_a_stat_through_a_link_whose_target_has_dotdot_is_asked_every_time(prog, ro, tmp_path):
    """A read-only link may lead through a writable name and `..` back to
    a read-only file: what that name is, the program can change."""
    rw = tmp_path / "rw"
    rw.mkdir()
    os.symlink("/rw/d/../../ro/here", ro / "up")
    mounts = {"ro": [f"{ro}:/ro"], "rw": [f"{rw}:/rw"]}
    got = sandboxed([prog, "s:/ro/up", "L:/rw/d=/rw/x/y", "s:/ro/up"], **mounts)
    fresh = sandboxed([prog, "s:/ro/up"], **mounts)  # (the link is there now)
    assert lines(got)[2] == lines(fresh)[0]


def test_dots_in_a_removed_working_directory_are_linuxs(prog, tmp_path):
    """The working directory is there for `.` and `..` even once removed."""
    rw = tmp_path / "rw"
    (rw / "w").mkdir(parents=True)
    ops = ["M:{}/d", "h:{}/d", "D:{}/d", "D:.", "M:.", "D:..", "s:..", "s:/proc/self/cwd/..",
           "s:/proc/self/cwd/../d", "h:..", "s:."]
    want = native([prog, *(o.format(rw / "w") for o in ops)]).stdout.decode().replace(str(rw), "/rw")
    got = sandboxed([prog, *(o.format("/rw/w") for o in ops)], rw=[f"{rw}:/rw"])
    assert lines(got) == [line for line in want.splitlines()]


def test_a_writable_mount_inside_a_read_only_one_is_asked_every_time(prog, ro, tmp_path):
    rw = tmp_path / "rw"
    rw.mkdir()
    got = sandboxed([prog, "s:/ro/sub/x", "o:/ro/sub/x", "c:/ro/sub/x", "s:/ro/sub/x", "o:/ro/sub/x"],
                    ro=[f"{ro}:/ro"], rw=[f"{rw}:/ro/sub"])
    assert lines(got) == [f"s /ro/sub/x {ENOENT}", f"o /ro/sub/x {ENOENT}", "c /ro/sub/x ok",
                          "s /ro/sub/x size 0", "o /ro/sub/x ok"]


def test_answers_match_linux(prog, ro):
    """The same lookups natively, on the host directory the view mounts."""
    (ro / "d").mkdir()
    os.symlink("here", ro / "rel")
    os.symlink("nowhere", ro / "dangling")
    ops = ["here", "none", "rel", "dangling", "here/x", "none/x", "here", "none", "dangling",
           "here/", "here/.", "rel/", "none/", "dangling/", ".", "./",
           "here/../here", "none/../here", "d/../here", "d/none/../../here", "rel/../here", "d/.."]
    args = [f"{op}:{{}}/{p}" for p in ops for op in "soa"]
    want = native([prog, *(a.format(ro) for a in args)])
    got = sandboxed([prog, *(a.format("/ro") for a in args)], ro=[f"{ro}:/ro"])
    assert lines(got) == want.stdout.decode().replace(str(ro), "/ro").splitlines()


def test_a_path_rule_sees_every_lookup_it_denies_or_logs(prog, ro):
    (ro / "secret").write_text("s")
    (ro / "watched").write_text("w")
    policy = Policy.permissive().path("/ro/secret", "errno(EACCES)").path("/ro/watched", "log")
    warm = strictbox.WarmStart()
    ops = [prog, "s:/ro/secret", "s:/ro/secret", "s:/ro/watched", "s:/ro/watched", "s:/ro/here"]
    for _ in range(2):  # the second run starts warm
        got = sandboxed(ops, ro=[f"{ro}:/ro"], policy=policy, warm=warm)
        assert lines(got) == [f"s /ro/secret {EACCES}"] * 2 + ["s /ro/watched size 1"] * 2 + [
            "s /ro/here size 5"]
        assert sum(line.startswith("denied newfstatat") for line in got.log) == 2
        assert sum(line.startswith("logged newfstatat") for line in got.log) == 2


def test_a_warm_start_looks_its_paths_up_again(prog, ro):
    """A run starts with the answers the host gives then, not those of the
    run that looked the paths up first."""
    warm = strictbox.WarmStart()
    ops = [prog, "s:/ro/here", "s:/ro/none", "o:/ro/none"]
    cold = sandboxed(ops, ro=[f"{ro}:/ro"], warm=warm)
    assert lines(cold) == ["s /ro/here size 5", f"s /ro/none {ENOENT}", f"o /ro/none {ENOENT}"]
    warmed = sandboxed(ops, ro=[f"{ro}:/ro"], warm=warm)
    assert lines(warmed) == lines(cold)
    assert warmed.stats["broker"] <= cold.stats["broker"] - 2  # neither path was asked (nor libc opened)
    (ro / "here").unlink()
    (ro / "none").write_text("now")
    changed = sandboxed(ops, ro=[f"{ro}:/ro"], warm=warm)
    assert lines(changed) == [f"s /ro/here {ENOENT}", "s /ro/none size 3", "o /ro/none ok"]
    # another view of the same paths shares nothing with this one
    other = sandboxed(ops, ro=[f"{ro}:/ro", f"{ro}:/elsewhere"], warm=warm)
    assert other.stats["broker"] >= changed.stats["broker"] + 2


def test_a_warm_start_holds_made_up_etc_files_too(prog):
    """/etc/passwd and /etc/group are made up for each sandbox: a warm start
    holds them open for the program's first open of each, as it does host
    files, and the program reads there what it would have."""
    def saved(ops):
        warm = strictbox.WarmStart()
        cold, warmed = (sandboxed([prog, *ops], warm=warm) for _ in range(2))
        assert lines(warmed) == lines(cold)
        return cold.stats["broker"] - warmed.stats["broker"], lines(cold)
    base, _ = saved(["s:/ro"])
    more, seen = saved(["s:/ro", "r:/etc/passwd", "r:/etc/group"])
    assert more == base + 2, (base, more)
    assert seen[1].startswith("r /etc/passwd fd 3 read 3 'roo' dup 2 't:'"), seen
    more, seen = saved(["s:/ro", "n:/etc/passwd"])  # (F_GETFL shows the flags it was opened with)
    assert (more, seen[1]) == (base + 1, "n /etc/passwd fd 3 nonblock 2048"), seen


def test_python_starts_warm_with_fewer_round_trips():
    argv = ["/usr/bin/python3", "-I", "-c", "import json; print(json.dumps([1, 2]))"]
    warm = strictbox.WarmStart()
    cold = sandboxed(argv, warm=warm)
    warmed = sandboxed(argv, warm=warm)
    assert (cold.returncode, cold.stdout) == (0, b"[1, 2]\n"), cold.stderr
    assert (warmed.returncode, warmed.stdout, warmed.stderr) == (0, cold.stdout, cold.stderr)
    assert warmed.stats["broker"] <= cold.stats["broker"] - 25, (cold.stats, warmed.stats)


# -- files a warm start holds open -----------------------------------------------

def test_a_held_file_is_the_file_opened_at_the_lowest_fd(prog, ro):
    """The first open of a file a warm start holds costs no round trip, and
    the fd behaves as one the broker opened: its number, reads, a dup's
    shared offset, fstat, F_GETFD, lseek; later opens are the broker's."""
    (ro / "other").write_text("abcdefgh")
    ops = ["k:{}/other", "r:{}/here", "r:{}/here", "s:{}/here"]
    want, cold, warmed = native_cold_warm(prog, ops, ro)
    assert "r /ro/here fd 4 read 3 '123' dup 2 '45'" in want  # (what it checks)
    assert warmed.stats["broker"] <= cold.stats["broker"] - 2  # other's and here's first open


def test_a_held_file_is_not_taken_with_other_flags(prog, ro):
    """O_NONBLOCK, which F_GETFL would show: the broker opens it, and the
    next plain open takes the held file."""
    ops = ["n:{}/here", "r:{}/here"]
    want, cold, warmed = native_cold_warm(prog, ops, ro)
    assert "nonblock 2048" in want


@pytest.mark.parametrize("mode, why", [
    ("forge", "an open of a file the broker does not hold"),
    ("in_use", "an open of a file the broker does not hold, or at an fd in use"),
    ("twice", "an open of a file the broker does not hold"),
])
def test_a_forged_warm_open_ends_the_sandbox(compile_c, ro, mode, why):
    prog = str(compile_c("hostile_fd_events.c", "-static"))
    warm = strictbox.WarmStart()
    first = sandboxed([prog, "twice", "/ro/here"], ro=[f"{ro}:/ro"], warm=warm)  # notes /ro/here
    assert b"open 1" in first.stdout
    got = sandboxed([prog, mode, "/ro/here"], ro=[f"{ro}:/ro"], warm=warm)
    assert got.returncode < 0 and got.reason and why in got.reason, (got.reason, got.stdout)
    assert b"after" not in got.stdout
    if mode != "forge":
        assert b"held 1" in got.stdout


def test_forged_closes_of_fds_it_does_not_have_change_nothing(compile_c):
    prog = str(compile_c("hostile_fd_events.c", "-static"))
    got = sandboxed([prog, "closes"])
    assert (got.returncode, got.stdout) == (0, b"after 0\n"), (got.reason, got.stderr)


def test_a_held_directory_lists_as_linux_does(prog, ro):
    """A directory a warm start holds: its whole listing is in the sandbox
    from the open on; rewinds and a dup's shared position still hold."""
    (ro / "sub").mkdir()
    for i in range(30):
        (ro / "sub" / f"entry{i:02}").write_text("x")
    ops = ["d:{}/sub", "d:{}/sub", "d:{}"]
    want, cold, warmed = native_cold_warm(prog, ops, ro)
    assert "entries 32 0 32 dup 32 0" in want
    assert warmed.stats["broker"] <= cold.stats["broker"] - 2


def test_a_listing_goes_on_across_an_execve(compile_c, ro):
    (ro / "sub").mkdir()
    for i in range(40):
        (ro / "sub" / f"name{i:02}").write_text("x")
    prog = str(compile_c("dir_exec.c"))
    want = native([prog, str(ro / "sub")])
    got = sandboxed([prog, "/ro/sub"], ro=[f"{ro}:/ro"])
    assert got.returncode == 0, (got.stderr, got.reason)
    assert got.stdout == want.stdout
    assert len(got.stdout.splitlines()) == 44  # 42 names, two counts


# -- what a review found (each failed before its fix) ---------------------------

def test_a_full_stat_cache_never_hands_out_the_file_held_for_another_path(prog, ro):
    for i in range(30):
        (ro / f"f{i}").write_text(f"f{i}")
    for i in range(120):
        (ro / f"g{i}").write_text(f"g{i}xxx")
    warm = strictbox.WarmStart()
    sandboxed([prog, *(f"r:/ro/f{i}" for i in range(30))], ro=[f"{ro}:/ro"], warm=warm)
    ops = ["m:{}/missing"] + [f"{op}:{{}}/g{i}" for i in range(120) for op in "sr"]
    want = native([prog, *(o.format(ro) for o in ops)]).stdout.decode().replace(str(ro), "/ro")
    got = sandboxed([prog, *(o.format("/ro") for o in ops)], ro=[f"{ro}:/ro"], warm=warm)
    assert lines(got) == want.splitlines()


def test_an_fd_whose_flags_the_runtime_changed_is_still_taken(prog, ro):
    """FIOCLEX on /dev/null leaves its cache entry bare: still an fd in use."""
    warm = strictbox.WarmStart()
    ops = [prog, "x:/dev/null", "r:/ro/here"]
    cold = sandboxed(ops, ro=[f"{ro}:/ro"], warm=warm)
    warmed = sandboxed(ops, ro=[f"{ro}:/ro"], warm=warm)
    assert lines(warmed) == lines(cold)
    assert "r /ro/here fd 4 read 3 '123'" in cold.stdout.decode()


def test_a_fifo_where_a_held_file_was_does_not_block_the_start(prog, ro):
    warm = strictbox.WarmStart()
    sandboxed([prog, "r:/ro/here"], ro=[f"{ro}:/ro"], warm=warm)
    (ro / "here").unlink()
    os.mkfifo(ro / "here")  # nothing will ever write it
    got = sandboxed([prog, "s:/ro/none"], ro=[f"{ro}:/ro"], warm=warm, timeout=20)
    assert lines(got) == [f"s /ro/none {ENOENT}"]


def test_a_read_only_mount_a_writable_one_shows_is_asked_every_time(prog, ro):
    """ro=[d:/ro], rw=[d/out:/out]: the sandbox changes /ro/out through /out."""
    (ro / "out").mkdir()
    (ro / "out" / "old").write_text("12345")
    mounts = dict(ro=[f"{ro}:/ro"], rw=[f"{ro / 'out'}:/out"])
    ops = [prog, "s:/ro/out/new", "o:/ro/out/new", "r:/ro/out/old", "c:/out/new", "s:/ro/out/new",
           "o:/ro/out/new"]
    warm = strictbox.WarmStart()
    for _ in range(2):
        got = sandboxed(ops, warm=warm, **mounts)
        assert lines(got)[3:] == ["c /out/new ok", "s /ro/out/new size 0", "o /ro/out/new ok"]
        (ro / "out" / "new").unlink()


def test_a_start_that_fails_keeps_no_held_file(prog, ro, monkeypatch):
    warm = strictbox.WarmStart()
    sandboxed([prog, "r:/ro/here"], ro=[f"{ro}:/ro"], warm=warm)
    monkeypatch.setenv("STRICTBOX_STUB", "/nonexistent/strictbox-stub")
    before = open_fds()
    for _ in range(3):
        with pytest.raises((OSError, strictbox.StrictboxError)):
            sandboxed([prog, "r:/ro/here"], ro=[f"{ro}:/ro"], warm=warm)
    assert open_fds() == before


def test_a_traced_run_cannot_start_warm(prog):
    from strictbox.trace import Tracer
    with pytest.raises(strictbox.StrictboxError, match="traced run cannot start warm"):
        sandboxed([prog], tracer=Tracer(), warm=strictbox.WarmStart())


def test_a_missing_name_in_the_made_up_etc_is_kept(prog, tmp_path):
    """/etc and /dev are made up and never change while a sandbox runs; a
    mount inside them is asked every time."""
    conf = tmp_path / "conf"
    conf.mkdir()
    once = sandboxed([prog, "s:/etc/nothere"])
    again = sandboxed([prog, "s:/etc/nothere", "o:/etc/nothere", "s:/etc/nothere", "s:/dev/nothere",
                       "s:/dev/nothere", "s:/etc/passwd/x"])
    assert lines(again) == [f"s /etc/nothere {ENOENT}", f"o /etc/nothere {ENOENT}",
                            f"s /etc/nothere {ENOENT}", f"s /dev/nothere {ENOENT}",
                            f"s /dev/nothere {ENOENT}", f"s /etc/passwd/x errno {errno.ENOTDIR}"]
    assert again.stats["broker"] == once.stats["broker"] + 2  # /dev/nothere, /etc/passwd/x
    got = sandboxed([prog, "s:/etc/conf/new", "c:/etc/conf/new", "s:/etc/conf/new"],
                    rw=[f"{conf}:/etc/conf"])
    assert lines(got) == [f"s /etc/conf/new {ENOENT}", "c /etc/conf/new ok", "s /etc/conf/new size 0"]


def test_stats_of_what_only_the_broker_makes_are_kept_but_never_procs(prog):
    """The directories mount points make, and the made-up /etc and /dev,
    never change while the sandbox lives; /proc follows its fds."""
    ops = ["s:/", "s:/etc/passwd", "s:/dev/null", "s:/etc", "s:/usr"]
    once = sandboxed([prog, *ops])
    twice = sandboxed([prog, *ops, *ops])
    assert lines(twice) == lines(once) * 2
    assert twice.stats["broker"] == once.stats["broker"]
    proc = ["s:/proc/self/status", "s:/proc/self/fd/1"]
    once, twice = sandboxed([prog, *proc]), sandboxed([prog, *proc, *proc])
    assert twice.stats["broker"] == once.stats["broker"] + 2


# -- what a second review found ----------------------------------------------

@pytest.fixture
def listed(tmp_path):
    d = tmp_path / "listed"
    d.mkdir()
    for i in range(41):
        (d / f"file_{i}").write_text("")
    return d


@pytest.mark.parametrize("mode", ["threads", "upper", "dup"])
def test_a_shared_directory_position_is_linuxs(compile_c, listed, mode):
    """Threads listing one fd, an fd with junk above its 32 bits, a dup."""
    prog = str(compile_c("dir_share.c", "-pthread"))
    want = native([prog, mode, str(listed)])
    got = sandboxed([prog, mode, "/ro"], ro=[f"{listed}:/ro"])
    assert (got.returncode, got.stdout) == (0, want.stdout), (got.reason, got.stderr)
    if mode == "threads":
        assert b"same=100 " in want.stdout


@pytest.mark.parametrize("rule", ["deny", "kill"])
def test_the_runtime_handing_a_position_back_is_no_call_of_the_programs(compile_c, listed, rule):
    """A policy that denies or kills on lseek does not see the runtime's own."""
    prog = str(compile_c("dir_share.c", "-pthread"))
    policy = Policy.permissive()
    policy = policy.deny("lseek", errno="EPERM") if rule == "deny" else policy.kill("lseek")
    want = native([prog, "dup", str(listed)])
    got = sandboxed([prog, "dup", "/ro"], ro=[f"{listed}:/ro"], policy=policy)
    assert (got.returncode, got.stdout, got.reason) == (0, want.stdout, None)
    assert not any("lseek" in line for line in got.log), got.log


# -- what a third review found ---------------------------------------------------

@pytest.fixture
def offsets(compile_c):
    return str(compile_c("offsets.c", "-static"))


@pytest.fixture
def big(tmp_path):
    d = tmp_path / "big"
    d.mkdir()
    (d / "big.bin").write_bytes(bytes(range(256)) * 800)  # 204800 bytes: past a slot
    return d


def test_a_made_up_file_seeked_past_the_largest_offset_says_einval(offsets):
    """(Linux's own files stop earlier, at their file system's largest size.)"""
    got = sandboxed([offsets, "made_up"])
    assert (got.returncode, got.stdout, got.reason) == (
        0, b"set 1\ncur -EINVAL\ncur again -EINVAL\n", None)


def test_an_offset_past_the_end_survives_an_execve(offsets, big):
    want = native([offsets, "exec", str(big / "big.bin")])
    got = sandboxed([offsets, "exec", "/ro/big.bin"], ro=[f"{big}:/ro"])
    assert (got.returncode, got.stdout) == (0, want.stdout), got.reason
    assert b"after exec 300000" in want.stdout


def test_a_dup_takes_no_prefetch_slot(offsets, big):
    (big / "small").write_bytes(b"x" * 100)
    one = sandboxed([offsets, "dups", "/ro/small", "1"], ro=[f"{big}:/ro"])
    many = sandboxed([offsets, "dups", "/ro/small", "45"], ro=[f"{big}:/ro"])
    assert one.stdout == many.stdout == b"read 40\n"
    assert many.stats["broker"] == one.stats["broker"] + 44  # the dups; no read


def test_dup3_flags_are_an_int(offsets):
    want = native([offsets, "dup3_high"])
    assert (sandboxed([offsets, "dup3_high"]).stdout, want.stdout) == (b"dup3 9\n", b"dup3 9\n")


def test_a_hand_back_of_an_offset_never_given_is_refused(offsets, tmp_path):
    """SB_OP_HAND_BACK moves only a position the runtime was given: else it
    would be an lseek no policy sees."""
    got = sandboxed([offsets, "hand_back", "/w/f"], rw=[f"{tmp_path}:/w"],
                    policy=Policy.permissive().deny("lseek", errno="EPERM"))
    assert got.stdout == b"write 12\nhand_back -EBADF\nread 0\n", (got.stdout, got.reason)


def test_a_file_that_says_it_is_empty_is_read_all_the_same(prog):
    """procfs files say st_size 0 and have bytes: no prefetch decides for them."""
    want = native([prog, "r:/proc/sys/kernel/ostype"]).stdout.decode()
    got = sandboxed([prog, "r:/k/ostype"], ro=["/proc/sys/kernel:/k"])
    assert lines(got) == [want.strip().replace("/proc/sys/kernel", "/k")]
    assert "read 3 'Lin'" in want


def compiled(pkg, sources: dict[str, str]):
    """pkg/NAME.py for each name and source, with its bytecode compiled (as
    CPython caches it) in pkg/__pycache__; pkg."""
    import subprocess
    pkg.mkdir(exist_ok=True)
    for name, text in sources.items():
        (pkg / f"{name}.py").write_text(text)
    subprocess.run(["/usr/bin/python3", "-m", "py_compile", *(str(pkg / f"{n}.py") for n in sources)],
                   check=True)
    return pkg


def test_cpython_bytecode_comes_with_the_stat_of_its_source(tmp_path, monkeypatch):
    """Once CPython has opened one .pyc, a stat of D/N.py on a read-only
    mount brings D/__pycache__/N.<tag>.pyc along: its open costs nothing."""
    pkg = compiled(tmp_path / "mods", {f"m{i}": f"VALUE = {i} * 7\n" for i in range(6)})
    (pkg / "plain.py").write_text("VALUE = 'no bytecode'\n")  # none cached: compiled in memory
    code = ("import sys; sys.path.insert(0, '/mods'); import m0, m1, m2, m3, m4, m5, plain; "
            "print(m0.VALUE + m5.VALUE, plain.VALUE)")
    argv = ["/usr/bin/python3", "-I", "-c", code]
    with_read_ahead = sandboxed(argv, ro=[f"{pkg}:/mods"])
    # path rules that give /mods plainly: judged per file, as the runtime would answer it
    from strictbox.policy import Policy
    ruled = Policy.permissive().path("/mods/secret*", "errno(EACCES)").path("/mods/*", "allow")
    with_rules = sandboxed(argv, ro=[f"{pkg}:/mods"], policy=ruled)
    from strictbox import lookups
    monkeypatch.setattr(lookups, "_hold_ahead", lambda sb, path, raw, flags: None)
    without = sandboxed(argv, ro=[f"{pkg}:/mods"])
    assert with_read_ahead.stdout == without.stdout == with_rules.stdout == b"35 no bytecode\n", \
        with_read_ahead.stderr
    assert with_read_ahead.stats["broker"] <= without.stats["broker"] - 6
    assert with_rules.stats["broker"] <= without.stats["broker"] - 6



def test_a_directory_opened_from_its_held_file_is_held_again_for_its_next_open(tmp_path, monkeypatch):
    """CPython lists each directory it imports from twice (site, then its
    FileFinder): once the program has opened a directory the broker held
    for it, the next open of that path is held too, and costs nothing."""
    mods = tmp_path / "mods"
    for i in range(5):
        (mods / f"d{i}").mkdir(parents=True)
        for j in range(i + 1):
            (mods / f"d{i}" / f"f{j}").write_text("")
    code = ("import os\n"
            "for i in range(5):\n"
            "    d = f'/mods/d{i}'\n"
            "    os.stat(d)\n"
            "    print(sorted(os.listdir(d)) == sorted(os.listdir(d)), len(os.listdir(d)))\n")
    argv = ["/usr/bin/python3", "-I", "-c", code]
    want = "".join(f"True {i + 1}\n" for i in range(5)).encode()
    again = sandboxed(argv, ro=[f"{mods}:/mods"])
    from strictbox import lookups
    monkeypatch.setattr(lookups, "hold_again", lambda sb, index, raw, flags: None)
    once = sandboxed(argv, ro=[f"{mods}:/mods"])
    assert again.stdout == once.stdout == want, (again.stderr, once.stderr)
    assert again.stats["broker"] <= once.stats["broker"] - 4  # (d1..d4's second open)


def test_a_lookup_waits_for_its_entry_filled_after_the_answer_and_asks_if_that_is_slow(tmp_path, monkeypatch):
    """The bytecode a stat brings along is held right after the answer, as
    the program runs on: its open waits for that; if the broker takes
    longer than the runtime waits (2 ms), the open goes to the broker
    instead, with the same result."""
    import time
    pkg = compiled(tmp_path / "mods", {f"m{i}": f"VALUE = {i} * 7\n" for i in range(4)})
    code = "import sys; sys.path.insert(0, '/mods'); import m0, m1, m2, m3; print(m1.VALUE + m3.VALUE)"
    argv = ["/usr/bin/python3", "-I", "-c", code]
    from strictbox import lookups
    quick = sandboxed(argv, ro=[f"{pkg}:/mods"])
    real = lookups._hold_ahead

    def slow(sb, path, raw, flags):
        if path.startswith("/mods/"):
            time.sleep(0.02)
        return real(sb, path, raw, flags)

    monkeypatch.setattr(lookups, "_hold_ahead", slow)
    late = sandboxed(argv, ro=[f"{pkg}:/mods"])
    assert quick.stdout == late.stdout == b"28\n", (quick.stderr, late.stderr)
    assert (quick.returncode, late.returncode) == (0, 0)
    assert late.stats["broker"] >= quick.stats["broker"] + 3  # (each bytecode open asked, after its wait)


def test_unpaired_the_bytecode_comes_with_the_stat_too(tmp_path, monkeypatch):
    """A sandbox not paired with the broker (the second at once in one
    process, a one-CPU host) does not wait for entries filled after the
    answer: they are filled before it, and the bytecode's open costs
    nothing there either (asking instead would strand the held file)."""
    from strictbox import loop, lookups
    monkeypatch.setattr(loop, "_take_cpu_pair", lambda: None)
    pkg = compiled(tmp_path / "mods", {f"m{i}": f"VALUE = {i}\n" for i in range(6)})
    code = "import sys; sys.path.insert(0, '/mods'); import json, m0, m1, m2, m3, m4, m5; print(m5.VALUE)"
    argv = ["/usr/bin/python3", "-I", "-c", code]
    ahead = sandboxed(argv, ro=[f"{pkg}:/mods"])
    monkeypatch.setattr(lookups, "_hold_ahead", lambda sb, path, raw, flags: None)
    without = sandboxed(argv, ro=[f"{pkg}:/mods"])
    assert ahead.stdout == without.stdout == b"5\n", (ahead.stderr, without.stderr)
    assert ahead.stats["broker"] <= without.stats["broker"] - 6


def test_bytecode_up_to_256_kib_comes_whole_in_slots_in_a_row(tmp_path, monkeypatch):
    """CPython reads a .pyc whole: one of up to SB_PREFETCH_MOST bytes is
    held whole (in free prefetch slots in a row), so importing its module
    costs the same round trips as a small one's; a larger one comes with
    its head only, and its read is a round trip.  (Unpaired, so that each
    read-ahead is made before the answer: the counts do not depend on how
    long the program waits for one made after it.)"""
    from strictbox import loop
    monkeypatch.setattr(loop, "_take_cpu_pair", lambda: None)
    sizes = {"small": 1000, "mid": 150_000, "huge": 300_000}
    pkg = compiled(tmp_path / "mods", {name: f"DATA = {'x' * n!r}\n" for name, n in sizes.items()})
    pycs = {p.name.split(".")[0]: p.stat().st_size for p in (pkg / "__pycache__").iterdir()}
    assert pycs["small"] < 64 * 1024 < pycs["mid"] <= 256 * 1024 < pycs["huge"], pycs
    got = {}
    for name, n in sizes.items():
        code = f"import sys; sys.path.insert(0, '/mods'); import json, {name}; print(len({name}.DATA))"
        got[name] = sandboxed(["/usr/bin/python3", "-I", "-c", code], ro=[f"{pkg}:/mods"])
        assert (got[name].returncode, got[name].stdout) == (0, f"{n}\n".encode()), got[name].stderr
    assert got["mid"].stats["broker"] == got["small"].stats["broker"]
    assert got["huge"].stats["broker"] == got["small"].stats["broker"] + 1  # (its read)


def test_a_directory_found_by_a_stat_comes_listed_once_the_program_lists_those(tmp_path, monkeypatch):
    """CPython's import system stats each directory it imports from, then
    lists it: once the program has done that, a stat that finds a directory
    on a read-only mount brings it along, held open with its listing, and
    the listing the program reads is the directory's own."""
    import subprocess
    mods = tmp_path / "mods"
    for i in range(6):
        (mods / f"p{i}").mkdir(parents=True)
        (mods / f"p{i}" / "__init__.py").write_text("")
        (mods / f"p{i}" / "sub.py").write_text(f"VALUE = {i}\n")
        for j in range(i):
            (mods / f"p{i}" / f"extra{j}.txt").write_text("")
    subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", str(mods)], check=True)
    code = ("import os, sys; sys.path.insert(0, '/mods'); "
            "import p0.sub, p1.sub, p2.sub, p3.sub, p4.sub, p5.sub; "
            "print(sum(m.sub.VALUE for m in (p0, p1, p2, p3, p4, p5)), sorted(os.listdir('/mods/p4')))")
    argv = ["/usr/bin/python3", "-I", "-c", code]
    want = f"15 {sorted(os.listdir(mods / 'p4'))}\n".encode()
    with_read_ahead = sandboxed(argv, ro=[f"{mods}:/mods"])
    from strictbox import lookups
    monkeypatch.setattr(lookups, "learn_dir_listing", lambda sb, path, flags: None)
    without = sandboxed(argv, ro=[f"{mods}:/mods"])
    assert with_read_ahead.stdout == without.stdout == want, with_read_ahead.stderr
    assert with_read_ahead.stats["broker"] <= without.stats["broker"] - 6


def test_a_package_s_init_comes_with_the_miss_of_its_extension_module(tmp_path, monkeypatch):
    """CPython looks for a package's D/__init__ as an extension module first
    (a miss) and then as D/__init__.py: that stat, and its bytecode, come
    with the miss."""
    import subprocess
    mods = tmp_path / "mods"
    for i in range(6):
        (mods / f"q{i}").mkdir(parents=True)
        (mods / f"q{i}" / "__init__.py").write_text(f"VALUE = {i}\n")
    (mods / "bare").mkdir()  # (a namespace package: no __init__ at all)
    subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", str(mods)], check=True)
    code = ("import sys; sys.path.insert(0, '/mods'); import q0, q1, q2, q3, q4, q5, bare; "
            "print(sum(m.VALUE for m in (q0, q1, q2, q3, q4, q5)), bare.__path__)")
    argv = ["/usr/bin/python3", "-I", "-c", code]
    with_read_ahead = sandboxed(argv, ro=[f"{mods}:/mods"])
    from strictbox import lookups
    monkeypatch.setattr(lookups, "read_ahead_package", lambda sb, path: None)
    without = sandboxed(argv, ro=[f"{mods}:/mods"])
    assert with_read_ahead.stdout == without.stdout == b"15 _NamespacePath(['/mods/bare'])\n", \
        with_read_ahead.stderr
    assert with_read_ahead.stats["broker"] <= without.stats["broker"] - 6


def test_cpython_s_first_package_comes_with_its_bytecode_too(monkeypatch):
    """CPython's first import is a package (encodings), before any bytecode
    it opened could tell its tag: the extension suffix it probes first
    tells it (cpython-311 in __init__.cpython-311-x86_64-linux-gnu.so)."""
    import re
    from strictbox import lookups
    argv = ["/usr/bin/python3", "-I", "-c", "import encodings; print(encodings.__name__)"]
    told = sandboxed(argv)
    monkeypatch.setattr(lookups, "INIT_EXTENSION", re.compile(r"(?!)"))
    untold = sandboxed(argv)
    assert told.stdout == untold.stdout == b"encodings\n"
    assert told.stats["broker"] <= untold.stats["broker"] - 2

# -- what a fourth review found --------------------------------------------------

def test_a_held_file_is_never_replaced_whatever_the_arena_says(compile_c, tmp_path):
    """The runtime's stat cache says an entry is free (the program zeroed it):
    the broker's own record of what it holds decides, so no host fd leaks."""
    import subprocess
    (tmp_path / "m.py").write_text("X = 1\n")
    subprocess.run(["/usr/bin/python3", "-m", "py_compile", str(tmp_path / "m.py")], check=True)
    [pyc] = (tmp_path / "__pycache__").iterdir()
    prog = str(compile_c("hostile_fd_events.c", "-static"))
    before = open_fds()
    got = sandboxed([prog, "zero_stat_cache", f"/ro/__pycache__/{pyc.name}", "/ro/m.py"],
                    ro=[f"{tmp_path}:/ro"])
    assert got.returncode == 0, (got.reason, got.stdout)
    assert b"held_seen 1\n" in got.stdout  # the read-ahead held it once, and no more
    assert open_fds() == before


def test_a_fifo_on_a_mount_is_refused_not_waited_for(prog, ro):
    """Opening a FIFO waits for its other end, which only the host could be:
    the broker, serving every sandbox, refuses it (ENXIO) and says so."""
    os.mkfifo(ro / "fifo")
    got = sandboxed([prog, "o:/ro/fifo", "s:/ro/fifo"], ro=[f"{ro}:/ro"], timeout=20)
    assert lines(got) == [f"o /ro/fifo errno {errno.ENXIO}", "s /ro/fifo size 0"]
    assert sum("a FIFO on a mount is not opened" in line for line in got.log) == 1, got.log


def test_a_second_thread_ends_the_warm_starts_answers_and_keeps_no_file(compile_c, ro):
    """The broker puts a warm start's answers in the stat cache only while
    the program has one thread (the runtime writes it as it runs): once it
    says it has two, what the broker looked up meanwhile is dropped, its
    held files closed, and the program sees what a fresh run sees."""
    prog = str(compile_c("hostile_thread_count.c", "-static"))
    for i in range(40):
        (ro / f"f{i}").write_text("x" * i)
    paths = [f"/ro/f{i}" for i in range(40)] + [f"/ro/none{i}" for i in range(40)]
    want = [f"{p} stat {int(p[5:]) if 'none' not in p else -1} open {int('none' not in p)}" for p in paths]
    warm = strictbox.WarmStart()
    assert lines(sandboxed([prog, "1", *paths], ro=[f"{ro}:/ro"], warm=warm)) == want  # (learnt)
    before = open_fds()
    for _ in range(3):
        assert lines(sandboxed([prog, "2", *paths], ro=[f"{ro}:/ro"], warm=warm)) == want
    assert open_fds() == before


def test_a_file_mapped_over_the_prefetch_slots_leaks_no_broker_fd(compile_c, tmp_path):
    """A program's raw request maps a file over the prefetch slots, then
    stats a .py 500 times: each time the broker holds the .pyc for it and
    copies its first bytes to a slot.  Mappings never go over the runtime's
    state (the broker writes there): they are copies; nothing leaks."""
    ro = tmp_path / "ro"
    (ro / "__pycache__").mkdir(parents=True)
    (ro / "m.py").write_text("x = 1\n")
    for name in ("m", "a"):
        (ro / "__pycache__" / f"{name}.cpython-311.pyc").write_bytes(b"p" * 100)
    (ro / "zeros").write_bytes(bytes(1 << 20))
    prog = str(compile_c("hostile_pin_over_slots.c", "-static"))
    args = [prog, "/ro/zeros", "/ro/__pycache__/a.cpython-311.pyc", "/ro/m.py"]
    sandboxed(args + ["1"], ro=[f"{ro}:/ro"])
    before = open_fds()
    got = sandboxed(args + ["500"], ro=[f"{ro}:/ro"])
    assert (got.stdout, got.returncode, got.reason) == (b"pyc 1 zeros 1\ndone\n", 0, None), got.log
    assert open_fds() == before


def test_a_file_mapped_over_the_stat_cache_leaks_no_warm_file(compile_c, tmp_path):
    """The same over the stat cache while a warm start's answers wait to be
    published: they are published (the stat cache is the program's own
    memory), and no file the broker held for them leaks."""
    ro = tmp_path / "ro"
    ro.mkdir()
    for i in range(40):
        (ro / f"f{i}").write_text("x" * (i + 1))
    (ro / "zeros").write_bytes(bytes(512 << 10))
    prog = str(compile_c("hostile_pin_over_statc.c", "-static"))
    paths = [f"/ro/f{i}" for i in range(40)]
    warm = strictbox.WarmStart()
    assert sandboxed([prog, "1", "/ro/zeros", *paths], ro=[f"{ro}:/ro"], warm=warm).stdout == b"learnt\n"
    before = open_fds()
    for _ in range(3):
        got = sandboxed([prog, "2", "/ro/zeros", *paths], ro=[f"{ro}:/ro"], warm=warm)
        assert (got.stdout, got.returncode, got.reason) == (b"pinning\nafter\n", 0, None), got.log
    assert open_fds() == before
