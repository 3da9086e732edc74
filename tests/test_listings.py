"""Missing names the runtime answers from a directory listing
(broker/listings.py, untrusted_runtime/listings.c): a program sees what the
broker would have said, and nothing the listing cannot vouch for (a mount
inside it, a writable mount showing the same files, a path rule, /proc, a
change on the host) is ever answered from it."""

from __future__ import annotations

import errno
import os

import strictbox
from strictbox import listings
from strictbox.policy import Policy

from conftest import lines, native, sandboxed
from test_lookups import EACCES, ENOENT, prog, ro  # noqa: F401 (prog, ro: the same fixtures)


def as_native(prog, ro, ops) -> list[str]:
    """ops ("x:/ro/...") run natively on the host directory /ro shows."""
    got = native([prog, *(o.replace("/ro", str(ro), 1) for o in ops)])
    return got.stdout.decode().replace(str(ro), "/ro").splitlines()


def test_names_a_listing_lacks_cost_no_round_trip(prog, ro):
    """After one miss in /ro, the other missing names there (stat, open,
    access, and paths beneath them) are answered in the sandbox."""
    (ro / "sub").mkdir()
    mount = [f"{ro}:/ro"]
    once = sandboxed([prog, "s:/ro/none"], ro=mount)
    ops = ["s:/ro/none", "s:/ro/other", "o:/ro/third", "a:/ro/fourth", "s:/ro/fifth/deeper",
           "s:/ro/none/", "o:/ro//sixth", "s:/ro/here", "a:/ro/here", "s:/ro/sub"]
    got = sandboxed([prog, *ops], ro=mount)
    assert lines(got) == as_native(prog, ro, ops)
    assert lines(got)[:7] == [f"s /ro/none {ENOENT}", f"s /ro/other {ENOENT}", f"o /ro/third {ENOENT}",
                              f"a /ro/fourth {ENOENT}", f"s /ro/fifth/deeper {ENOENT}",
                              f"s /ro/none/ {ENOENT}", f"o /ro//sixth {ENOENT}"]
    # only what is there: /ro/here (a stat, and three access calls), /ro/sub
    assert got.stats["broker"] == once.stats["broker"] + 5


def test_a_missing_directory_lists_the_one_above(prog, ro):
    """A miss deeper down lists the deepest directory that is there."""
    mount = [f"{ro}:/ro"]
    once = sandboxed([prog, "s:/ro/a/b/c"], ro=mount)
    got = sandboxed([prog, "s:/ro/a/b/c", "s:/ro/x", "o:/ro/y/z"], ro=mount)
    assert lines(got) == [f"s /ro/a/b/c {ENOENT}", f"s /ro/x {ENOENT}", f"o /ro/y/z {ENOENT}"]
    assert got.stats["broker"] == once.stats["broker"]


def test_what_a_listing_cannot_vouch_for_is_asked(prog, ro, tmp_path):
    """A mount inside a listed directory, names too long for ENOENT, a
    symlinked directory, and names a writable mount can add."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "f").write_text("ff")
    (ro / "real").mkdir()
    (ro / "real" / "g").write_text("g")
    os.symlink("real", ro / "link")
    long = "x" * 300
    ops = ["s:/ro/none", "s:/ro/sub/f", f"s:/ro/{long}", f"o:/ro/none/{long}", "s:/ro/link/none",
           "s:/ro/link/g", "a:/ro/link/g"]
    got = sandboxed([prog, *ops], ro=[f"{ro}:/ro", f"{other}:/ro/sub"])
    assert lines(got) == [f"s /ro/none {ENOENT}", "s /ro/sub/f size 2",
                          f"s /ro/{long} errno {errno.ENAMETOOLONG}", f"o /ro/none/{long} {ENOENT}",
                          f"s /ro/link/none {ENOENT}", "s /ro/link/g size 1", "a /ro/link/g ok"]
    assert lines(got)[2:] == as_native(prog, ro, ops)[2:]  # (no /ro/sub there)
    # the same host directory, read-only here and writable there: never listed
    shared = ["s:/ro/new", "s:/ro/other", "c:/rw/new", "s:/ro/new", "o:/ro/new"]
    got = sandboxed([prog, *shared], ro=[f"{ro}:/ro"], rw=[f"{ro}:/rw"])
    assert lines(got) == [f"s /ro/new {ENOENT}", f"s /ro/other {ENOENT}", "c /rw/new ok",
                          "s /ro/new size 0", "o /ro/new ok"]


def test_a_change_on_the_host_shows_in_the_next_run(prog, ro):
    """A directory is listed as the host has it as each run starts: one
    that changed a moment before is listed again next time, however coarse
    the clock that stamps it (listings.SETTLED_NS)."""
    mount = [f"{ro}:/ro"]
    first = sandboxed([prog, "s:/ro/none", "s:/ro/late"], ro=mount)
    assert lines(first) == [f"s /ro/none {ENOENT}", f"s /ro/late {ENOENT}"]
    (ro / "late").write_text("1")
    again = sandboxed([prog, "s:/ro/none", "s:/ro/late"], ro=mount)
    assert lines(again) == [f"s /ro/none {ENOENT}", "s /ro/late size 1"]


def test_a_listing_is_kept_for_the_next_sandbox_by_what_changes_with_it(prog, ro, monkeypatch):
    """The host's names of a directory that had not changed for a while
    before it was listed (SETTLED_NS: here any) serve the next sandbox too,
    as long as it has not changed since."""
    monkeypatch.setattr(listings, "SETTLED_NS", -1)
    got = sandboxed([prog, "s:/ro/none"], ro=[f"{ro}:/ro"])
    assert lines(got) == [f"s /ro/none {ENOENT}"]
    st = os.stat(ro)
    assert (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns) in listings._memo
    (ro / "late").write_text("1")
    again = sandboxed([prog, "s:/ro/none", "s:/ro/late"], ro=[f"{ro}:/ro"])
    assert lines(again) == [f"s /ro/none {ENOENT}", "s /ro/late size 1"]


def test_a_rule_that_may_decide_beneath_keeps_every_lookup_asked(prog, ro):
    (ro / "secret_1").write_text("s")
    policy = Policy.permissive().path("/ro/secret*", "errno(EACCES)")
    ops = ["s:/ro/none", "s:/ro/secret_2", "o:/ro/secret_3", "s:/ro/other"]
    got = sandboxed([prog, *ops], ro=[f"{ro}:/ro"], policy=policy)
    assert lines(got) == [f"s /ro/none {ENOENT}", f"s /ro/secret_2 {EACCES}", f"o /ro/secret_3 {EACCES}",
                          f"s /ro/other {ENOENT}"]
    assert sum(line.startswith("denied") for line in got.log) == 2
    # a rule elsewhere changes nothing here
    elsewhere = Policy.permissive().path("/tmp/secret*", "errno(EACCES)")
    once = sandboxed([prog, "s:/ro/none"], ro=[f"{ro}:/ro"], policy=elsewhere)
    more = sandboxed([prog, "s:/ro/none", "s:/ro/other"], ro=[f"{ro}:/ro"], policy=elsewhere)
    assert more.stats["broker"] == once.stats["broker"]


def test_a_whole_listing_is_kept_for_the_next_sandbox_while_its_directory_stays(prog, ro, monkeypatch):
    """An opened directory's entries, read once, serve the next sandbox's
    open of it too (calls/fdtable.py), until the directory changes; one on
    a file system that does not stamp its changes is read every time."""
    from strictbox.calls import fdtable
    monkeypatch.setattr(listings, "SETTLED_NS", -1)
    (ro / "a").write_text("a")
    first = sandboxed([prog, "d:/ro"], ro=[f"{ro}:/ro"])
    st = os.stat(ro)
    assert (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns) in fdtable._LISTED
    assert lines(sandboxed([prog, "d:/ro"], ro=[f"{ro}:/ro"])) == lines(first) == as_native(prog, ro, ["d:/ro"])
    (ro / "b").write_text("b")
    assert lines(sandboxed([prog, "d:/ro"], ro=[f"{ro}:/ro"])) == as_native(prog, ro, ["d:/ro"]) != lines(first)
    monkeypatch.setattr(listings, "STAMPING", set())
    before = len(fdtable._LISTED._kept)
    assert lines(sandboxed([prog, "d:/usr/bin"]))[0].startswith("d /usr/bin fd ")
    assert len(fdtable._LISTED._kept) == before


def test_rules_are_taken_in_order_as_the_policy_takes_them(prog, ro):
    """The first path rule that matches decides: an allow that takes every
    path beneath a directory leaves a catch-all after it no say there (the
    shape of a learned policy), nor does a rule for writes only; a deny
    before it, or an allow of only some names, keeps lookups asked."""
    def policy(*rules):
        p = Policy.permissive()
        for match in ("/", "/usr/*", "/lib*", "/etc/*", os.path.dirname(prog) + "/*"):
            p.path(match, "allow")  # (the program and its libraries)
        for match, action, *access in rules:
            p.path(match, action, *access)
        return p.path("*", "errno(EACCES)")
    ops = ["s:/ro/none", "s:/ro/other", "o:/ro/third"]
    learned = policy(("/ro/*", "allow"), ("/ro/*", "errno(EROFS)", "write"))
    once = sandboxed([prog, "s:/ro/none"], ro=[f"{ro}:/ro"], policy=learned)
    got = sandboxed([prog, *ops], ro=[f"{ro}:/ro"], policy=learned)
    assert lines(got) == [f"s /ro/none {ENOENT}", f"s /ro/other {ENOENT}", f"o /ro/third {ENOENT}"]
    assert got.stats["broker"] == once.stats["broker"]  # (the listing answered the rest)
    first = policy(("/ro/o*", "errno(EACCES)"), ("/ro/*", "allow"))
    got = sandboxed([prog, *ops], ro=[f"{ro}:/ro"], policy=first)
    assert lines(got) == [f"s /ro/none {ENOENT}", f"s /ro/other {EACCES}", f"o /ro/third {ENOENT}"]
    partly = policy(("/ro/n*", "allow"))
    got = sandboxed([prog, *ops], ro=[f"{ro}:/ro"], policy=partly)
    assert lines(got) == [f"s /ro/none {ENOENT}", f"s /ro/other {EACCES}", f"o /ro/third {EACCES}"]


def test_a_listing_answers_only_the_calls_the_policy_allows_plainly(prog, ro):
    """Stats logged: each still reaches the broker (and the log); opens
    allowed plainly are answered from the listing a stat's miss brought."""
    policy = Policy.permissive().log("newfstatat")
    once = sandboxed([prog, "s:/ro/none"], ro=[f"{ro}:/ro"], policy=policy)
    got = sandboxed([prog, "s:/ro/none", "o:/ro/a", "s:/ro/b", "o:/ro/c"], ro=[f"{ro}:/ro"], policy=policy)
    assert lines(got) == [f"s /ro/none {ENOENT}", f"o /ro/a {ENOENT}", f"s /ro/b {ENOENT}", f"o /ro/c {ENOENT}"]
    assert sum("newfstatat" in line and "/ro/" in line for line in got.log) == 2
    assert got.stats["broker"] == once.stats["broker"] + 1  # /ro/b


def test_the_made_up_etc_is_listed_but_never_proc(prog, ro):
    once = sandboxed([prog, "a:/etc/none"])
    got = sandboxed([prog, "a:/etc/none", "s:/etc/localtime", "o:/etc/nsswitch.conf", "s:/etc/passwd"])
    assert lines(got) == [f"a /etc/none {ENOENT}", f"s /etc/localtime {ENOENT}",
                          f"o /etc/nsswitch.conf {ENOENT}", "s /etc/passwd size " + lines(got)[3].split()[-1]]
    assert got.stats["broker"] == once.stats["broker"] + 1  # /etc/passwd
    # /proc changes with the program's fds: asked every time
    proc = sandboxed([prog, "s:/proc/self/fd/3", "s:/proc/self/fd/4", "k:/ro/here", "s:/proc/self/fd/3"],
                     ro=[f"{ro}:/ro"])
    assert lines(proc) == [f"s /proc/self/fd/3 {ENOENT}", f"s /proc/self/fd/4 {ENOENT}", "k /ro/here fd 3",
                           "s /proc/self/fd/3 size 5"]


def test_a_warm_start_lists_again_what_runs_before_it_had_listed(prog, ro):
    """A name no run looked up before is answered from the listing a warm
    start gives the run again."""
    mount = [f"{ro}:/ro"]
    listed, unlisted = strictbox.WarmStart(), strictbox.WarmStart()
    sandboxed([prog, "s:/ro/none"], ro=mount, warm=listed)
    sandboxed([prog], ro=mount, warm=unlisted)
    with_listing = sandboxed([prog, "s:/ro/never"], ro=mount, warm=listed)
    without = sandboxed([prog, "s:/ro/never"], ro=mount, warm=unlisted)
    assert lines(with_listing) == lines(without) == [f"s /ro/never {ENOENT}"]
    assert with_listing.stats["broker"] == without.stats["broker"] - 1


def test_large_directories_and_a_full_table_still_answer_rightly(prog, ro, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    for i in range(listings.MOST_NAMES + 1):
        (big / f"f{i}").touch()
    many = tmp_path / "many"
    many.mkdir()
    for i in range(40):  # more directories than the runtime has listings for
        (many / f"d{i}").mkdir()
        (many / f"d{i}" / "f").touch()
    ops = ["s:/big/none", "s:/big/f7", "s:/big/other"]
    ops += [f"s:/many/d{i}/none" for i in range(40)] + [f"s:/many/d{i}/f" for i in range(40)]
    ops += [f"o:/many/d{i}/other" for i in range(40)]
    got = sandboxed([prog, *ops], ro=[f"{big}:/big", f"{many}:/many"])
    want = native([prog, *(o.replace("/big", str(big)).replace("/many", str(many)) for o in ops)])
    assert lines(got) == want.stdout.decode().replace(str(big), "/big").replace(str(many), "/many").splitlines()


def test_every_name_is_listed_short_or_long(prog, tmp_path):
    """A listing holds every name, however the kernel's records fall (a
    short last name once went missing)."""
    for names in (["a"], ["x", "y", "zz"], [f"n{i}" for i in range(700)] + ["q"]):
        d = tmp_path / "-".join(names[:2])
        d.mkdir()
        for name in names:
            (d / name).write_text("1")
        ops = ["s:/d/none"] + [f"{op}:/d/{name}" for name in names for op in "soa"]
        got = sandboxed([prog, *ops], ro=[f"{d}:/d"])
        assert lines(got) == [f"s /d/none {ENOENT}"] + [
            f"{op} /d/{name} {'size 1' if op == 's' else 'ok'}" for name in names for op in "soa"]


def test_a_full_directory_with_a_mount_inside_is_asked(prog, ro, tmp_path):
    """Its names and the mount's do not fit a listing together: none is made."""
    for i in range(listings.MOST_NAMES - 1):  # (with "here": as many names as fit)
        (ro / f"f{i}").touch()
    other = tmp_path / "other"
    other.mkdir()
    mounts = [f"{ro}:/ro", f"{other}:/ro/sub"]
    once = sandboxed([prog, "s:/ro/none"], ro=mounts)
    got = sandboxed([prog, "s:/ro/none", "s:/ro/sub", "s:/ro/f7", "s:/ro/other"], ro=mounts)
    assert lines(got)[::2] == [f"s /ro/none {ENOENT}", "s /ro/f7 size 0"]
    assert lines(got)[1].startswith("s /ro/sub size ") and lines(got)[3] == f"s /ro/other {ENOENT}"
    assert got.stats["broker"] == once.stats["broker"] + 3


def test_a_file_system_that_does_not_stamp_changes_is_never_kept_across_runs(prog, monkeypatch):
    """procfs never moves a directory's ctime: the host's /proc is listed
    anew each run."""
    monkeypatch.setattr(listings, "SETTLED_NS", -1)
    got = sandboxed([prog, "s:/hp/strictbox-none", "s:/hp/self"], ro=["/proc:/hp"])
    assert lines(got)[0] == f"s /hp/strictbox-none {ENOENT}"
    st = os.stat("/proc")
    assert (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns) not in listings._memo


def test_rules_on_lookups_the_runtime_gates_need_no_note():
    """A rule on access is applied to every access call it could decide
    (the listing stops answering), unlike one on a call served in the
    sandbox whatever the policy says."""
    assert Policy.permissive().deny("access").deny("openat", "flags & O_CREAT").notes() == []
    assert Policy.permissive().deny("lseek").notes()
