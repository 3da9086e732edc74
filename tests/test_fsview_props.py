"""Whatever path a sandbox names, resolution stays inside the view."""

import os

import pytest
from hypothesis import example, HealthCheck, given, settings, strategies as st

from strictbox.fsview import View

COMPONENTS = st.sampled_from(["..", ".", "", "inside", "sub", "loop", "up", "abs", "etc",
                              "secret.txt", "ok.txt", "x"])


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    root = tmp_path_factory.mktemp("props")
    inside = root / "inside"
    (inside / "sub").mkdir(parents=True)
    (inside / "ok.txt").write_text("ok")
    (root / "secret.txt").write_text("secret")
    os.symlink("../../secret.txt", inside / "sub" / "up")
    os.symlink(str(root), inside / "abs")
    os.symlink("loop", inside / "loop")
    v = View.build([(str(inside), "/inside", False)])
    yield v, str(root / "secret.txt")
    v.close()


@given(st.lists(COMPONENTS, max_size=12), st.booleans())
@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_resolution_never_leaves_the_mounts(view, parts, absolute):
    v, secret = view
    path = ("/" if absolute else "") + "/".join(parts)
    try:
        node = v.resolve(path or ".", "/inside/sub")
    except OSError:
        return
    assert node.vparts[:1] in ((), ("inside",))
    if node.mount is not None:
        try:
            fd = v.open(node, os.O_RDONLY)
        except OSError:  # the last component need not exist (O_CREAT resolves too)
            return
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        assert real.startswith(node.mount.host) and real != secret


# -- the one-call shortcuts (View._resolve_direct, _direct_dir) agree with the walk

WALK_COMPONENTS = st.sampled_from(["d", "e", "f.txt", "missing", "rel", "abs", "loop", "dotdot",
                                   "ro", "rw", "..", ".", "inner", "filelink", "flink"])


@pytest.fixture(scope="module")
def twin_views(tmp_path_factory):
    root = tmp_path_factory.mktemp("walk")
    for top in ("ro", "rw", "inner"):
        d = root / top
        (d / "d" / "e").mkdir(parents=True)
        (d / "f.txt").write_text("f")
        (d / "d" / "f.txt").write_text("f")
        os.symlink("d", d / "rel")
        os.symlink("/ro/d", d / "abs")
        os.symlink("loop", d / "d" / "loop")
        os.symlink("..", d / "d" / "dotdot")
        os.symlink("f.txt", d / "filelink")
        os.symlink("f.txt", d / "d" / "flink")
    specs = [(str(root / "ro"), "/ro", False), (str(root / "rw"), "/rw", True),
             (str(root / "inner"), "/ro/d/inner", False)]
    views = View.build(specs), View.build(specs)
    views[1]._resolve_direct = lambda parts, follow: None  # the walk alone
    views[1]._direct_dir = lambda parts: False
    yield views
    for v in views:
        v.close()


def _outcome(view, path, cwd, follow):
    try:
        n = view.resolve(path, cwd, follow)
    except OSError as e:
        return ("error", e.errno)
    return (n.vparts, n.mount.host if n.mount else None, n.rel, n.virtual)


@given(st.lists(WALK_COMPONENTS, min_size=1, max_size=8), st.booleans(), st.booleans(),
       st.sampled_from(["/", "/ro", "/ro/d", "/rw/d"]))
@settings(max_examples=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(["rw", "d", "dotdot", "f.txt"], True, True, "/")  # a link just before the last: not skipped
@example(["ro", "abs", "flink"], True, False, "/")  # the rest after a link, its last one a link not followed
@example(["rw", "rel", "flink"], True, True, "/")
def test_direct_resolution_agrees_with_the_walk(twin_views, parts, absolute, follow, cwd):
    fast, walk = twin_views
    path = ("/" if absolute else "") + "/".join(parts)
    assert _outcome(fast, path, cwd, follow) == _outcome(walk, path, cwd, follow)
