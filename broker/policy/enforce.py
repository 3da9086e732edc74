"""The broker's side of a policy: judge one forwarded call before its handler.

Only calls that reach the broker can be judged here.  Calls the runtime
serves inside the sandbox (memory, signals, identity, clocks, stdio reads
and writes) never leave it, so rules on them apply to the part that is
forwarded, if any (see `strictbox syscalls`).

Path arguments are copied out of the arena once: the copy the policy judged
is handed to the handler through `sb.checked_paths` (paths.read_path looks
there first), so the program cannot swap the path between the check and the
use.  A path is judged as the virtual path it resolves to in the view, `..`
and symlinks followed, so a link cannot dodge a rule; a path that does not
resolve is judged as written, made absolute.
"""

from __future__ import annotations

import errno
import posixpath

from ..syscall_table import BY_NAME
from .model import ALLOW, ERRNO, KILL, LOG, RAW_ARGS

U32, U64 = (1 << 32) - 1, (1 << 64) - 1
WIDE_FLAGS = {"clone"}  # calls whose flags argument is 64 bits wide (unsigned long)
PATH_CALLS = frozenset(c.name for c in BY_NAME.values() if any(a.startswith("path:") for a in c.args))


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def convert(call: str, kind: str, v: int) -> int:
    """A raw register as the kernel reads that kind of argument."""
    if kind == "fd":
        return _signed(v, 32)
    if kind == "int":
        return _signed(v, 64)
    if kind == "flags":
        return v & U64 if call in WIDE_FLAGS else v & U32
    return v & U64  # size, ptr


def _dirfd_for(name: str, specs: list[tuple[str, str]]) -> str | None:
    """The fd argument a path argument is relative to (oldpath -> olddirfd)."""
    fds = [n for k, n in specs if k == "fd" and n.endswith("dirfd")]
    want = name.replace("path", "dirfd") if "path" in name else None
    if want in fds:
        return want
    return fds[0] if len(fds) == 1 else None


def _where(sb, env: dict, dirfd_name: str | None) -> str | None:
    """The virtual directory a relative path starts from, or None if unknown."""
    from .._native import lib
    fd = env.get(dirfd_name, lib.AT_FDCWD) if dirfd_name else lib.AT_FDCWD
    if fd == lib.AT_FDCWD:
        return sb.cwd
    f = sb.fds.get(fd)
    return f.node.vpath if f is not None and f.node is not None else None


def _judged_path(sb, raw: str, base: str | None) -> str:
    if not raw:
        return base or ""
    if base is None and not raw.startswith("/"):
        return raw  # relative to a bad dirfd: the handler will fail it
    reached: list = []
    try:
        return sb.view.walk(raw, base or "/", partial=reached).vpath
    except OSError:
        pass
    if reached:  # where the walk got, then the names it had left: a link must not
        done, left = reached  # hide the file it leads to (/proc/self/fd/3/secret/x)
        return "/" + "/".join([*done, *left])
    return posixpath.normpath(posixpath.join(base or "/", raw)).replace("//", "/")


def arguments(sb, call: str, raw: tuple[int, ...], with_paths: bool) -> tuple[dict, dict | int]:
    """(name -> value for the policy, address -> path string read); the
    second is a negative errno instead if a path could not be read."""
    from ..arena import Fault
    from ..calls.paths import read_path
    row = BY_NAME.get(call)
    specs = [tuple(s.split(":", 1)) for s in (row.args if row else ())]
    regs = list(raw) + [0] * (6 - len(raw))
    env: dict = {name: regs[i] & U64 for i, name in enumerate(RAW_ARGS)}
    paths: dict[int, str] = {}
    for i, (kind, name) in enumerate(specs):
        if kind != "path":
            env[name] = convert(call, kind, regs[i])
    for i, (kind, name) in enumerate(specs):
        if kind != "path":
            continue
        addr = regs[i]
        if not with_paths:
            env[name] = "<not read>"
            continue
        base = _where(sb, env, _dirfd_for(name, specs))
        if addr == 0:  # a NULL path (utimensat's futimens form): the dirfd itself
            env[name] = base or ""
            continue
        try:
            text = paths[addr] if addr in paths else read_path(sb, addr)
        except Fault:
            return env, -errno.EFAULT
        except OSError as e:
            return env, -(e.errno or errno.EINVAL)
        paths[addr] = text
        env[name] = _judged_path(sb, text, base)
    return env, paths


def describe(call: str, env: dict) -> str:
    """The arguments as a person reads them: call(fd=3, path="/etc/passwd", ...)."""
    row = BY_NAME.get(call)
    parts = []
    if row is None:
        parts = [f"{n}={env[n]:#x}" for n in RAW_ARGS]
    else:
        for spec in row.args:
            kind, name = spec.split(":", 1)
            v = env.get(name)
            if isinstance(v, str):
                parts.append(f'{name}="{v}"')
            elif kind in ("flags", "ptr"):
                parts.append(f"{name}={v:#x}")
            else:
                parts.append(f"{name}={v}")
    return f"{call}({', '.join(parts)})"


def gate(sb, call: str, raw: tuple[int, ...]) -> tuple[int, ...] | None:
    """None: go on and serve the call.  Otherwise the reply to send instead."""
    sb.checked_paths = None
    decision = sb.policy.static_decision(call, call in PATH_CALLS)
    env = None
    if decision is None:
        env, paths = arguments(sb, call, raw, with_paths=True)
        if isinstance(paths, int):
            return (paths,)  # unreadable path: fail as the handler would, without it
        sb.checked_paths = paths
        decision = sb.policy.decide(call, env)
    sb.last_decision = decision  # for `strictbox trace`
    if decision.action == ALLOW:
        return None
    if env is None:  # only for the message: a path read now decides nothing
        env, paths = arguments(sb, call, raw, with_paths=True)
        if isinstance(paths, int):
            env, _ = arguments(sb, call, raw, with_paths=False)
    shown = describe(call, env)
    why = f"rule {decision.rule}"
    if decision.arg:
        why = f'{decision.arg}="{env[decision.arg]}" meets {decision.rule}'
    if decision.action == LOG:
        sb.log.append(f"logged {shown}: {why}")
        return None
    if decision.action == ERRNO:
        sb.deny(shown, why, decision.errno)
        return (-decision.errno,)
    assert decision.action == KILL
    sb.stats["denied"] += 1
    sb.log.append(f"killed on {shown}: {why}")
    sb.kill(f"policy: killed on {shown}: {why}")
    return (-errno.EPERM,)
