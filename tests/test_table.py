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
    header = syscall_table.routes_header()
    local = {c.name for c in TABLE if c.where == SANDBOX}
    listed = {line.strip().split("(")[1].rstrip(") \\") for line in header.splitlines()
              if line.strip().startswith("X(")}
    assert listed == local
