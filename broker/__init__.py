"""strictbox: run untrusted programs under seccomp strict mode, with every
other system call served by a trusted Python broker."""

from .api import RunResult, StrictboxError, run
from .lookups import WarmStart

__all__ = ["run", "RunResult", "StrictboxError", "WarmStart"]
