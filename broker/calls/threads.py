"""The broker's share of threads and signals between them.  Threads start,
end and wait on futexes inside the sandbox (untrusted_runtime/threads.c,
futex.c); the runtime forwards only what it cannot do in strict mode:
a clone that is not a thread or finds no idle slot in the pool (which then
grows, up to the thread limit), and a signal for a sibling thread, which
needs a real tgkill."""

from __future__ import annotations

import errno
import signal

from .._native import lib
from .registry import as_fd, handles

THREAD_FLAGS = lib.CLONE_VM | lib.CLONE_FS | lib.CLONE_FILES | lib.CLONE_SIGHAND | lib.CLONE_THREAD
OPTIONAL = (lib.CLONE_SYSVSEM | lib.CLONE_DETACHED | lib.CLONE_SETTLS | lib.CLONE_PARENT_SETTID
            | lib.CLONE_CHILD_SETTID | lib.CLONE_CHILD_CLEARTID)


@handles("clone")
def sys_clone(sb, flags, stack, *_):
    if not flags & lib.CLONE_THREAD:
        sb.deny("clone", "a new process: one process per sandbox", errno.ENOSYS)
        return -errno.ENOSYS
    if flags & THREAD_FLAGS != THREAD_FLAGS or flags & ~(THREAD_FLAGS | OPTIONAL) or not stack:
        sb.deny("clone", f"a thread with flags {flags:#x} and stack {stack:#x} is not served",
                errno.EINVAL)
        return -errno.EINVAL
    return sb.grow_pool()


def _to_thread(sb, tid: int, sig: int) -> int:
    tid, sig = as_fd(tid), as_fd(sig)
    if not 0 <= sig < 65:
        return -errno.EINVAL
    slot = sb.slot_of_tid(tid)
    if slot is None:
        return -errno.ESRCH
    if sig == 0 or sig == signal.SIGSTOP:  # no job control in a sandbox
        return 0
    if sig == signal.SIGKILL:  # it ends the whole process, as on Linux
        sb.kill("program killed by SIGKILL (sent by itself)", returncode=-signal.SIGKILL)
        return 0
    return sb.send_signal(sig, slot)


@handles("tgkill")
def sys_tgkill(sb, tgid, tid, sig, *_):
    if as_fd(tgid) != sb.identity.pid:
        return -errno.ESRCH
    return _to_thread(sb, tid, sig)


@handles("tkill")
def sys_tkill(sb, tid, sig, *_):
    return _to_thread(sb, tid, sig)
