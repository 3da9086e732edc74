"""Whatever path a sandbox names, resolution stays inside the view."""

import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

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
