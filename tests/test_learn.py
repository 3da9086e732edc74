"""strictbox learn: run permissively, write a policy, and the policy holds."""

from __future__ import annotations

import shutil

import pytest

from strictbox.cli import main
from strictbox.learn import Learner, build, learn
from strictbox.policy import check_text, load

from conftest import BUSYBOX, requires_busybox, sandboxed

needs_python = pytest.mark.skipif(shutil.which("python3") is None, reason="no python3")


@requires_busybox
def test_busybox_round_trip_and_new_calls_denied(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("hello\n")
    pol = tmp_path / "cat.toml"
    rc = main(["learn", "-o", str(pol), "--rw", f"{data}:/data", "--", BUSYBOX, "cat", "/data/f"])
    assert rc == 0
    text = pol.read_text()
    policy, errors = check_text(text)
    assert not errors and policy is not None
    assert policy.default.kind == "errno" and policy.default.errno == "EPERM"
    assert "# Learned by `strictbox learn`" in text and "# openat 1x" in text
    assert 'openat = "flags & O_ACCMODE == O_RDONLY && !(flags & O_CREAT)"' in text
    assert 'write = "fd == 1"' in text
    assert 'match = "/data/*"' in text and 'match = "*"' in text
    # the learned policy carries the mount: no --rw needed to run it again
    r = sandboxed([BUSYBOX, "cat", "/data/f"], policy=str(pol))
    assert r.returncode == 0 and r.stdout == b"hello\n", (r.stderr, r.log)
    # a call it did not make while learning: denied, named with argument and rule
    r = sandboxed([BUSYBOX, "rm", "/data/f"], policy=str(pol))
    assert r.returncode != 0 and (data / "f").exists()
    denied = [ln for ln in r.log if ln.startswith("denied unlink")]
    assert denied and 'path="/data/f"' in denied[0] and 'rule default = "errno(EPERM)"' in denied[0]
    # a call it made, on a path it never touched: the path rule denies it
    r = sandboxed([BUSYBOX, "ls", "/etc"], policy=str(pol))
    assert r.returncode != 0
    assert any(ln.startswith("denied newfstatat(") and 'path="/etc" meets [[path]] match = "*"' in ln
               and "(EACCES)" in ln for ln in r.log), r.log
    # writing a file: openat with O_CREAT fails the learned filter
    r = sandboxed([BUSYBOX, "sh", "-c", "echo x > /data/g"], policy=str(pol))
    assert not (data / "g").exists()


@needs_python
def test_python_round_trip(tmp_path):
    (tmp_path / "d").mkdir()
    script = tmp_path / "d" / "s.py"
    script.write_text("import json, os\nprint(json.dumps(sorted(os.listdir('/data'))))\n")
    pol = tmp_path / "py.toml"
    result, policy = learn(["python3", "/data/s.py"], str(pol), ro=[f"{tmp_path}/d:/data"],
                           capture_output=True, timeout=60)
    assert result.returncode == 0
    expected = result.stdout
    assert load(pol) == policy
    r = sandboxed(["python3", "/data/s.py"], policy=str(pol))
    assert r.returncode == 0 and r.stdout == expected, (r.stderr, r.log)
    # something the script never did
    other = tmp_path / "d" / "t.py"
    other.write_text("import os\ntry:\n    os.mkdir('/tmp/new')\n    print('made')\n"
                     "except OSError as e:\n    print(e.errno)\n")
    r = sandboxed(["python3", "/data/t.py"], policy=str(pol))
    assert r.stdout == b"1\n", (r.stdout, r.stderr)  # EPERM
    assert any(ln.startswith('denied mkdir(path="/tmp/new"') and "default" in ln for ln in r.log), r.log


def test_learner_groups_filters_and_ring_lies():
    lr = Learner()
    ev = {"where": "sandbox", "errno": None, "args": {}}
    for call in ("brk", "mmap", "munmap", "mremap", "mprotect", "madvise"):
        lr({**ev, "call": call})
    lr({**ev, "call": "unlink", "args": {"path": "/etc/x"}})  # a lie: not a sandbox call
    lr({**ev, "call": "openat", "args": {"path": "/etc/x", "flags": 2}})  # a lie: it serves no write
    lr({"call": "write", "where": "broker", "errno": None, "args": {"fd": 5}})
    lr({"call": "read", "where": "broker", "errno": None, "args": {"fd": 0}})
    lr({"call": "openat", "where": "broker", "errno": "ENOENT", "args": {"flags": 0o100},
        "resolved": {"path": "/srv/a/b"}})
    policy, text = build(lr, ["prog"], [])
    assert "# Ignored: the sandbox reported serving calls it does not serve: unlink 1x" in text
    d = policy.decide
    assert d("read", {"fd": 0}).allowed and not d("read", {"fd": 3}).allowed
    assert d("write", {"fd": 9}).allowed  # seen on fd 5: no fd filter
    assert not d("unlink", {"path": "/srv/a/c"}).allowed  # never made
    assert d("openat", {"flags": 0o100, "path": "/srv/a/c"}).allowed  # made with O_CREAT: no filter
    assert not d("openat", {"flags": 0, "path": "/srv/z"}).allowed  # path rule
    if all(m in ("brk", "mmap", "munmap", "mremap", "mprotect", "madvise")
           for m in __import__("strictbox.policy", fromlist=["GROUPS"]).GROUPS["memory"]
           if m in __import__("strictbox.syscall_table", fromlist=["BY_NAME"]).BY_NAME):
        assert '"@memory" = true' in text


def test_a_ring_report_cannot_lift_the_read_only_open_filter():
    """The runtime serves only read-only opens (of missing paths): flags the
    ring reports for openat decide nothing."""
    lr = Learner()
    lr({"call": "openat", "where": "broker", "errno": None, "args": {"flags": 0},
        "resolved": {"path": "/srv/a/b"}})
    lr({"call": "openat", "where": "sandbox", "errno": None, "args": {"flags": 2}})
    policy, _ = build(lr, ["prog"], [])
    assert policy.decide("openat", {"flags": 0, "path": "/srv/a/c"}).allowed
    assert not policy.decide("openat", {"flags": 2, "path": "/srv/a/c"}).allowed
