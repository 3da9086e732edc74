"""Registry and dispatcher of the broker's system call handlers.

Each handler takes the sandbox and the six raw register values, reads any
pointer argument out of the arena exactly once, decides on that private copy
and returns the result (a negative errno on failure), optionally with extra
integers for the runtime.  Handlers register against the syscall table, and
a BROKER row without a handler is an import-time error (see __init__)."""

from __future__ import annotations

import errno
from typing import Callable

from .. import kernel
from ..arena import Fault
from ..policy.enforce import gate
from ..syscall_table import BY_NAME, DENIED

class Wait(Exception):
    """The call cannot finish yet: serve it again once one of `fds` (host fd,
    selectors event mask) is ready or `deadline` (time.monotonic) passes.
    Only the waiting sandbox is held up; the loop serves everyone else."""

    def __init__(self, fds: list[tuple[int, int]], deadline: float | None = None):
        super().__init__(fds, deadline)
        self.fds, self.deadline = fds, deadline


Handler = Callable[..., "int | tuple[int, ...]"]
HANDLERS: dict[str, Handler] = {}


def handles(*names: str):
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn
    return register


def as_fd(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def as_signed(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def serve(sb, nr: int, args: tuple[int, ...]) -> tuple[int, ...]:
    """One forwarded system call: never raises for anything the sandbox sent."""
    tracer = getattr(sb, "tracer", None)
    if tracer is None:
        return _serve(sb, nr, args)
    tracer.begin(sb, nr, args)
    out = _serve(sb, nr, args)  # a Wait passes through: traced when it finishes
    tracer.end(sb, nr, args, out)
    return out


def _serve(sb, nr: int, args: tuple[int, ...]) -> tuple[int, ...]:
    name = kernel.SYSCALL_NAME.get(nr)
    if name is not None:  # the policy first: it may deny or kill even a call served below
        stop = gate(sb, name, args)
        if stop is not None:
            return stop
    call = BY_NAME.get(name) if name else None
    if call is None:
        sb.deny(name or f"syscall {nr}", "not in strictbox's syscall table", errno.ENOSYS)
        return (-errno.ENOSYS,)
    if call.where == DENIED:
        code = kernel.errno_value(call.errno)
        sb.deny(name, call.note, code)
        return (-code,)
    handler = HANDLERS.get(name)
    if handler is None:  # a SANDBOX row: only a misbehaving runtime sends it here
        sb.deny(name, "served inside the sandbox, not by the broker", errno.ENOSYS)
        return (-errno.ENOSYS,)
    try:
        result = handler(sb, *args)
    except Fault:
        result = -errno.EFAULT
    except OSError as e:
        result = -(e.errno or errno.EIO)
    except (OverflowError, ValueError) as e:  # an argument no host call accepts
        sb.log.append(f"{name}: rejected argument ({e})")
        result = -errno.EINVAL
    sb.stats["broker"] += 1
    return result if isinstance(result, tuple) else (result,)
