"""The policy model: groups, decisions, the builder, TOML both ways, profiles,
and `strictbox policy check` naming the line of every error."""

import errno
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from strictbox import cli
from strictbox.kernel import SYSCALL_NR
from strictbox.policy import (GROUPS, PROFILES, Policy, PolicyError, dumps, expr, loads,
                              profile, profile_text)
from strictbox.policy.tomlio import key_lines
from strictbox.syscall_table import TABLE


def test_every_group_member_is_in_the_kernel_table():
    missing = {g: [c for c in members if c not in SYSCALL_NR] for g, members in GROUPS.items()}
    assert {g: m for g, m in missing.items() if m} == {}
    assert all(GROUPS[g] for g in ("basic-io", "file-read", "file-write", "memory", "time",
                                   "process", "signal", "thread", "network"))


def test_groups_command_lists_members(capsys):
    assert cli.main(["policy", "groups"]) == 0
    out = capsys.readouterr().out
    for g, members in GROUPS.items():
        assert f"@{g}:" in out
        assert " ".join(members) in out
    assert cli.main(["policy", "groups", "@nope"]) == 1


# -- deciding -------------------------------------------------------------------

def test_decisions_follow_the_documented_order():
    p = (Policy(default="errno(EPERM)").allow("@basic-io").allow("@file-read")
         .allow("read", "fd == 0").allow("openat")
         .deny("openat", "flags & O_ACCMODE != O_RDONLY", errno="EROFS")
         .kill("openat", "flags & O_CREAT"))
    # a call's own rules replace its groups': read is limited though @basic-io allows it
    assert p.decide("read", {"fd": 0}).action == "allow"
    d = p.decide("read", {"fd": 3})
    assert (d.action, d.errno) == ("errno", errno.EPERM)
    assert 'read = "fd == 0"' in d.rule and "default" in d.rule
    # a filter that holds beats an unconditional rule; the strictest of those that hold wins
    assert p.decide("openat", {"flags": 0}).action == "allow"
    assert p.decide("openat", {"flags": 1}).errno == errno.EROFS
    assert p.decide("openat", {"flags": 0o101}).action == "kill"
    # groups, then the default
    assert p.decide("write", {"fd": 7}).action == "allow"
    assert p.decide("socket", {}).errno == errno.EPERM


def test_path_rules_first_match_wins_and_access_counts():
    p = (Policy().path("/data/public/*", "allow").path("/data/*", "errno(EACCES)")
         .path("/etc/*", "errno(EROFS)", access="write"))
    assert p.decide("openat", {"path": "/data/public/x", "flags": 0}).action == "allow"
    d = p.decide("openat", {"path": "/data/secret", "flags": 0})
    assert (d.errno, d.arg) == (errno.EACCES, "path") and "/data/*" in d.rule
    assert p.decide("openat", {"path": "/etc/passwd", "flags": 0}).action == "allow"
    assert p.decide("openat", {"path": "/etc/passwd", "flags": 1}).errno == errno.EROFS
    assert p.decide("unlink", {"path": "/etc/passwd"}).errno == errno.EROFS
    assert p.decide("rename", {"oldpath": "/tmp/a", "newpath": "/data/b"}).errno == errno.EACCES


def test_builder_refuses_bad_rules_at_once():
    with pytest.raises(PolicyError, match="unknown system call 'reed'"):
        Policy().allow("reed")
    with pytest.raises(PolicyError, match="unknown name 'fdd'"):
        Policy().allow("read", "fdd == 0")
    with pytest.raises(PolicyError, match="group"):
        Policy().allow("@basic-io", "fd == 0")
    with pytest.raises(PolicyError, match="already"):
        Policy().allow("read").kill("read")
    with pytest.raises(PolicyError, match="unknown errno"):
        Policy().deny("read", errno="EWHAT")
    with pytest.raises(PolicyError):
        Policy().mount("relative", "/srv")
    with pytest.raises(PolicyError):
        Policy().set_limits(memory=-1)
    with pytest.raises(PolicyError):
        Policy().set_time("fast")


# -- TOML ------------------------------------------------------------------------

def test_builder_round_trips_through_toml():
    p = (Policy(default="errno(EPERM)", name="t", description='a "quoted"\nline')
         .allow(["@basic-io", "@memory"]).allow("write", "fd == 1 || fd == 2")
         .allow("write", "fd == 0x10").log("openat", 'path == "/tmp/*"').kill("ptrace")
         .deny("socket", errno="EACCES").deny("openat", "flags & O_CREAT", errno="EROFS")
         .mount("/data", "/srv/in").mount("/out", "/srv/out", "rw").mount("/scratch", mode="tmp")
         .path("/data/secret/*", "kill", access="read")
         .set_limits(memory="256M", cpu=1.5, wall=10, threads=1, open_files=64, output=4096,
                     file_size="1G", disk="2G")
         .set_identity(uid=0, gid=0, hostname="box").set_time("deterministic"))
    p.system_mounts = False
    text = dumps(p)
    back = loads(text)
    assert back == p
    assert dumps(back) == text
    assert back.limits.memory == 256 << 20 and back.limits.file_size == 1 << 30
    assert back.limits.disk == 2 << 30 and 'disk = "2G"' in text


def test_equality_sees_differences():
    a = Policy().allow("read", "fd == 0")
    assert a != Policy().allow("read", "fd == 1")
    assert a != Policy().allow("read", "fd == 0").set_time("coarse")
    assert Policy().allow("read").allow("write") == Policy().allow("write").allow("read")


CALLS = ("read", "write", "openat", "close", "lseek", "mmap", "socket", "ptrace", "personality")
ACTIONS = ("allow", "log", "kill", "errno(EPERM)", "errno(EACCES)", "errno(ENOENT)")


def _int_args(call):
    from strictbox.policy.model import arg_types
    return sorted(n for n, t in arg_types(call).items() if t == expr.INT)


@st.composite
def policies(draw):
    p = Policy(default=draw(st.sampled_from(ACTIONS)))
    for _ in range(draw(st.integers(0, 8))):
        target = draw(st.sampled_from(CALLS + tuple("@" + g for g in GROUPS)))
        when = None
        if not target.startswith("@") and draw(st.booleans()):
            leaves = st.one_of(st.builds(expr.Num, st.integers(0, 1 << 40)),
                               st.builds(expr.Name, st.sampled_from(_int_args(target) + ["O_CREAT"])))
            when = draw(st.recursive(leaves, lambda k: st.builds(
                expr.Binary, st.sampled_from(tuple(expr.PREC)), k, k), max_leaves=6))
        try:
            p.rule(target, draw(st.sampled_from(ACTIONS)), when)
        except PolicyError:
            pass  # e.g. the same call allowed and killed: the builder says no
    for _ in range(draw(st.integers(0, 2))):
        p.path(draw(st.sampled_from(["/tmp/*", "/etc/passwd", "*"])), draw(st.sampled_from(ACTIONS)),
               draw(st.sampled_from(["any", "read", "write"])))
    if draw(st.booleans()):
        p.mount("/data", "/srv", draw(st.sampled_from(["ro", "rw"])))
    if draw(st.booleans()):
        p.set_limits(memory=draw(st.integers(1, 1 << 40)), cpu=draw(st.floats(0.1, 1e6)))
    p.set_time(draw(st.sampled_from(["real", "coarse", "deterministic"])))
    return p


@given(policies(), st.sampled_from(CALLS), st.dictionaries(
    st.sampled_from(["fd", "flags", "count", "arg0", "domain"]), st.integers(-2 ** 63, 2 ** 64), min_size=5),
    st.sampled_from(["/tmp/x", "/etc/passwd", "/usr/bin/env"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_policies_round_trip_and_decide_alike(p, call, args, path):
    back = loads(dumps(p))
    assert back == p
    env = dict(args, path=path)
    assert back.decide(call, env) == p.decide(call, env)


def test_key_lines_find_keys_tables_and_array_items():
    text = textwrap.dedent('''\
        # comment
        default = "allow"   # trailing
        [allow]
        "@basic-io" = true
        write = [
          "fd == 1",   # one
          'fd == 2',
        ]
        desc = """multi
        line"""
        [errno.EACCES]
        openat = "flags & O_CREAT"
        [[mount]]
        path = "/a"
        [[mount]]
        path = "/b"
        ''')
    lines = key_lines(text)
    assert lines[("default",)] == 2
    assert lines[("allow", "@basic-io")] == 4
    assert lines[("allow", "write", 0)] == 6 and lines[("allow", "write", 1)] == 7
    assert lines[("errno", "EACCES", "openat")] == 12
    assert lines[("mount", 0, "path")] == 14 and lines[("mount", 1, "path")] == 16


BAD = '''\
name = "bad"
default = "errno(EPRM)"
tme = "real"

[allow]
"@basic-io" = true
"@file-reed" = true
read = "fd == "
write = ["fd == 1",
         "fdd == 2"]
"@memory" = "addr == 0"
frobnicate = true

[kill]
close = true

[errno.EACCES]
close = true

[limits]
memory = "lots"

[[mount]]
path = "data"
host = "/srv"
'''


def test_policy_check_reports_every_error_with_its_line_and_a_hint(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    assert cli.main(["policy", "check", str(f)]) == 1
    err = capsys.readouterr().err
    want = {2: "unknown errno 'EPRM'", 3: "unknown key 'tme'", 7: "unknown group '@file-reed'",
            8: "read: expected", 10: "unknown name 'fdd'", 11: "needs one call, not a group",
            12: "unknown system call 'frobnicate'", 18: "close is both", 21: "not a size",
            24: "not absolute"}
    for line, needle in want.items():
        hit = [l for l in err.splitlines() if l.startswith(f"{f}:{line}: ")]
        assert hit and needle in hit[0], (line, needle, err)
    assert err.count("hint:") >= 8
    assert "did you mean EPERM" in err and "did you mean time" in err
    assert f"{f}: {len(want)} errors" in err


def test_toml_syntax_errors_name_the_line(tmp_path, capsys):
    f = tmp_path / "syntax.toml"
    f.write_text('default = "allow"\n[allow]\n@basic-io = true\n')
    assert cli.main(["policy", "check", str(f)]) == 1
    err = capsys.readouterr().err
    assert f"{f}:3:" in err and "not valid TOML" in err and '"@basic-io"' in err


def test_policy_check_accepts_a_good_file(tmp_path, capsys):
    f = tmp_path / "good.toml"
    f.write_text(profile_text("minimal"))
    assert cli.main(["policy", "check", str(f)]) == 0
    assert "ok" in capsys.readouterr().out


def test_policy_check_warns_about_shadowed_group_allows(tmp_path, capsys):
    f = tmp_path / "w.toml"
    f.write_text('default = "errno(EPERM)"\n[allow]\n"@file-read" = true\n'
                 '[errno.EROFS]\nopenat = "flags & O_CREAT"\n')
    assert cli.main(["policy", "check", str(f)]) == 0
    assert f"{f}:5: warning: openat is named only by conditional denials" in capsys.readouterr().err


def test_policy_check_names_a_bad_disk_limit(tmp_path, capsys):
    f = tmp_path / "d.toml"
    f.write_text('[limits]\ndisk = "lots"\n')
    assert cli.main(["policy", "check", str(f)]) != 0
    err = capsys.readouterr().err
    assert f"{f}:2: not a size: 'lots'" in err, err
    f.write_text('[limits]\ndisk = -5\n')
    assert cli.main(["policy", "check", str(f)]) != 0
    assert "limit disk must be a positive integer" in capsys.readouterr().err
    f.write_text('[limits]\ndisk = "64M"\n')
    assert cli.main(["policy", "check", str(f)]) == 0
    assert loads(f.read_text()).limits.disk == 64 << 20


def test_unknown_keys_are_errors_everywhere():
    for text in ['[limits]\nmemry = 1\n', '[[mount]]\npath = "/a"\nhost = "/b"\nmod = "ro"\n',
                 '[identity]\nuser = 1\n', '[[path]]\nmatch = "/a"\naction = "kill"\nacess = "read"\n',
                 'colour = "blue"\n']:
        with pytest.raises(PolicyError, match="unknown key"):
            loads(text)


# -- profiles ----------------------------------------------------------------------

@pytest.mark.parametrize("name", PROFILES)
def test_profiles_load_and_print(name, capsys):
    p = profile(name)
    assert p.name == name and p.problems() == []
    assert loads(dumps(p)) == p
    assert cli.main(["policy", "show", name]) == 0
    assert capsys.readouterr().out == profile_text(name)


def test_compute_profile_is_stdio_and_memory_only():
    p = profile("compute")
    assert p.time == "coarse" and not p.system_mounts and not p.mounts
    assert p.decide("read", {"fd": 0}).allowed and not p.decide("read", {"fd": 3}).allowed
    assert p.decide("write", {"fd": 2}).allowed and not p.decide("write", {"fd": 4}).allowed
    assert p.decide("openat", {"flags": 0, "path": "/etc/passwd"}).errno == errno.EACCES
    assert p.decide("socket", {}).errno == errno.EACCES
    assert p.decide("mmap", {}).allowed


def test_minimal_profile_opens_for_reading_only():
    p = profile("minimal")
    assert p.decide("openat", {"flags": 0o2000000}).allowed
    assert p.decide("openat", {"flags": 0o1}).errno == errno.EROFS
    assert p.decide("openat", {"flags": 0o100}).errno == errno.EROFS
    assert not p.decide("execve", {}).allowed


def test_every_call_the_table_names_is_known_to_the_kernel():
    # the decision function names calls; the table is where their arguments come from
    assert all(c.name in SYSCALL_NR for c in TABLE)


def test_a_default_or_rules_set_later_count_at_once():
    """Decisions are cached by call: setting default or rules afterwards
    drops them, for decide and for what the runtime may answer itself."""
    from strictbox import lookups
    from strictbox.policy.model import Action
    p = Policy(default="allow").allow("openat", "flags & O_ACCMODE == O_WRONLY")
    assert lookups.given(p, "openat") and p.allows("read")
    p.default = Action.parse("errno(EACCES)")
    assert not lookups.given(p, "openat") and not p.allows("read")
    assert p.decide("openat", {"dirfd": -100, "path": "/x", "flags": 0, "mode": 0}).action == "errno"
    p.rules = []
    p.default = Action.parse("allow")
    assert lookups.given(p, "openat")


def test_policies_with_no_call_rules_share_their_decisions_and_nothing_else():
    """Each run without a policy file makes a policy with no call rules: what
    its default decides is worked out once for all of them; a rule added to
    one changes that one only."""
    a, b = Policy.permissive(), Policy.permissive()
    assert a.allows("openat") and b._levels("openat") is a._levels("openat")
    a.deny("openat", errno="EACCES")
    assert not a.allows("openat") and b.allows("openat") and Policy.permissive().allows("openat")
    strict = Policy(default="errno(EPERM)")
    assert not strict.allows("openat") and Policy.permissive().allows("openat")
