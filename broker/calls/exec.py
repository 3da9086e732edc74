"""execve inside the sandbox.

The broker copies the path, argv and envp out of the arena once, checks the
new program (it must be a regular, executable file in the view, a valid ELF
or a #! script whose interpreter is), and only then replaces the image.  The
runtime, waiting for the reply, starts the new entry point.  Only a single
thread may exec (the others are not ended for it, as Linux would)."""

from __future__ import annotations

import errno
import os
import struct

from .. import loader
from .._native import lib
from . import fdtable
from .paths import read_path, resolve_at
from .registry import as_fd, handles

MAX_ARGS = 1 << 15
MAX_ARG_STRLEN = 128 << 10  # as Linux: one argument or variable
MAX_ARG_TOTAL = 2 << 20


def _strings(sb, addr: int, budget: list[int]) -> list[bytes]:
    """A NULL-terminated array of C strings (a NULL array is empty, like Linux)."""
    out: list[bytes] = []
    while addr:
        if len(out) >= MAX_ARGS:
            raise OSError(errno.E2BIG, "too many arguments")
        (p,) = struct.unpack("<Q", sb.arena.read(addr + 8 * len(out), 8))
        if not p:
            break
        try:
            s = sb.arena.read_cstr(p, MAX_ARG_STRLEN)
        except OSError:
            raise OSError(errno.E2BIG, "argument too long") from None
        budget[0] -= len(s) + 1
        if budget[0] < 0:
            raise OSError(errno.E2BIG, "argument list too long")
        out.append(s)
    return out


def _execute(sb, vpath: str, argv: list[bytes], envp: list[bytes]) -> int:
    try:  # (a script's interpreter must be executable too)
        prog, vpath, argv = loader.open_program(sb._open_exec, vpath, argv,
                                                script_check=lambda v: _check_exec_bit(sb, v))
    except loader.ExecError as e:
        sb.log.append(f"execve: {e}")
        return -e.errno
    try:
        sb.exec_program(prog, argv, envp, vpath)
    except Exception as e:  # the old image is gone: nothing to return to
        sb.kill(f"execve of {vpath} failed after the old image was released: {e}")
    finally:
        prog.close()
    return 0


def _check_exec_bit(sb, vpath: str) -> None:
    node = sb.view.resolve(vpath, sb.cwd)
    fd = sb.view.open(node, lib.O_PATH)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not st.st_mode & 0o111:
        raise OSError(errno.EACCES, "not executable")


@handles("execve")
def sys_execve(sb, path, argv, envp, *_):
    return sys_execveat(sb, lib.AT_FDCWD, path, argv, envp, 0)



@handles("execveat")
def sys_execveat(sb, dirfd, path, argv, envp, flags, *_):
    if flags & ~(lib.AT_EMPTY_PATH | lib.AT_SYMLINK_NOFOLLOW):
        return -errno.EINVAL
    # Linux ends the other threads first; here they would run on in the new
    # image's memory.  (The count is the sandbox's word: it can only lie to
    # itself, and a count no pool holds is a scribbled state, not threads.)
    others = sb.arena.state_u32(fdtable.LIVE_THREADS) - 1
    if 0 < others < sb.limits.threads:
        sb.deny("execve", f"{others} other thread(s) still run: end them first", errno.EAGAIN)
        return -errno.EAGAIN
    sb.unpin()  # (waits, once, for the stub's mappings of the image to go)
    p = read_path(sb, path)
    budget = [MAX_ARG_TOTAL]
    args, env = _strings(sb, argv, budget), _strings(sb, envp, budget)
    node = resolve_at(sb, as_fd(dirfd), p, follow=not flags & lib.AT_SYMLINK_NOFOLLOW,
                      empty_ok=bool(flags & lib.AT_EMPTY_PATH))
    _check_exec_bit(sb, node.vpath)
    return _execute(sb, node.vpath, args, env)
