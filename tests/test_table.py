"""The syscall table is the single source of truth for both sides."""

from pathlib import Path

from strictbox import calls, kernel, syscall_table
from strictbox.syscall_table import BROKER, DENIED, SANDBOX, TABLE

ROOT = Path(__file__).parent.parent


def test_every_row_names_a_kernel_syscall():
    missing = [c.name for c in TABLE if c.name not in kernel.SYSCALL_NR]
    assert missing == []


def test_broker_rows_have_handlers_and_denied_rows_none():
    for c in TABLE:
        if c.where == BROKER:
            assert c.name in calls.HANDLERS, c.name
        if c.where == DENIED:
            assert c.name not in calls.HANDLERS, c.name
            kernel.errno_value(c.errno)


def test_runtime_defines_a_handler_for_every_sandbox_row():
    sources = "".join(p.read_text() for p in (ROOT / "untrusted_runtime").glob("*.c"))
    for c in TABLE:
        if c.where == SANDBOX:
            assert f"long sys_{c.name}(struct sb_call *c)" in sources, c.name


def test_routes_header_lists_exactly_the_sandbox_rows():
    calls, paths = syscall_table.routes_header().split("#define SB_PATH_ARGS")
    local = {c.name for c in TABLE if c.where == SANDBOX}
    listed = {line.strip().split("(")[1].rstrip(") \\") for line in calls.splitlines()
              if line.strip().startswith("X(")}
    assert listed == local
    # and which argument of each is a path (what the trace copies)
    with_path = {line.strip()[2:].rstrip(") \\") for line in paths.splitlines()
                 if line.strip().startswith("X(")}
    assert with_path == {f"{c.name}, {[a.split(':')[0] for a in c.args].index('path')}"
                         for c in TABLE if c.where == SANDBOX and any(a.startswith("path:") for a in c.args)}
    assert "newfstatat, 1" in with_path
