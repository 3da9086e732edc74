"""The broker's system call handlers, one module per family.

Importing the package registers every handler; a BROKER row of the syscall
table without a handler (or a handler for a row that is not BROKER) is an
import-time error."""

# importing registers the handlers
from . import (exec, fds, files, fs_write, memory, metadata, misc, process, threads,  # noqa: F401
               timers, waiting)
from . import denials  # noqa: F401
from .fdtable import OpenFile
from .registry import HANDLERS, Wait, serve
from ..syscall_table import BROKER, BY_NAME, DENIED, TABLE

__all__ = ["HANDLERS", "OpenFile", "Wait", "serve", "timers", "waiting"]

_missing = [c.name for c in TABLE if c.where == BROKER and c.name not in HANDLERS]
assert not _missing, f"BROKER rows without a handler: {_missing}"
_stray = [n for n in HANDLERS if n not in BY_NAME or BY_NAME[n].where == DENIED]
assert not _stray, f"handlers for calls the table does not route to the broker: {_stray}"
