"""Process facts: fcntl flags, resource limits, system info, clocks."""

from __future__ import annotations

import errno
import struct
import time

from .._native import ffi, lib
from ..arena import BASE
from .registry import as_fd, handles


@handles("clock_getres")
def sys_clock_getres(sb, clock, res, *_):
    if clock > 11 or clock == 10:
        return -errno.EINVAL
    if res:
        coarse = clock in (5, 6)
        sb.arena.write(res, struct.pack("<qq", 0, 4_000_000 if coarse else 1))
    return 0


RLIM_INFINITY = (1 << 64) - 1
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_AS = 0, 1, 2, 3, 7, 9
RLIMITS = lib.SB_RLIMITS
# Where the runtime reads them (struct sb_boot.rlimits, process.c's read_rlimit).
RLIMIT_COPY = ffi.offsetof("struct sb_state", "boot") + ffi.offsetof("struct sb_boot", "rlimits")
FD_LIMIT = ffi.offsetof("struct sb_state", "boot") + ffi.offsetof("struct sb_boot", "fd_limit")


def rlimits(sb) -> list[tuple[int, int]]:
    """The process's limits, each (soft, hard): ours, as the program lowered them."""
    cpu = RLIM_INFINITY if sb.limits.cpu is None else int(-(-sb.limits.cpu // 1))
    mem = sb.limits.memory
    ours = {RLIMIT_CPU: (cpu, cpu), RLIMIT_DATA: (mem, mem), RLIMIT_AS: (mem, mem),
            RLIMIT_STACK: (8 << 20, 8 << 20),
            RLIMIT_NOFILE: (sb.limits.open_files, sb.limits.open_files)}
    return [sb.rlimits.get(r) or ours.get(r, (RLIM_INFINITY, RLIM_INFINITY)) for r in range(RLIMITS)]


@handles("prlimit64")
def sys_prlimit64(sb, pid, resource, new, old, *_):
    """Limits are the process's: any of its threads names it (pid_t and
    unsigned int arguments: the upper halves of the registers count for
    nothing, as on Linux).  The new limits take effect before the old
    ones are written back (a bad `old` still fails with EFAULT)."""
    pid, resource = as_fd(pid), resource & 0xFFFFFFFF
    if pid not in (0, sb.identity.pid) and sb.slot_of_tid(pid) is None:
        return -errno.ESRCH
    if resource >= RLIMITS:
        return -errno.EINVAL
    cur = rlimits(sb)[resource]
    if new:
        soft, hard = struct.unpack("<QQ", sb.arena.read(new, 16))
        if soft > hard:
            return -errno.EINVAL
        if hard > cur[1]:
            return -errno.EPERM  # limits only go down: they are ours to enforce
        sb.rlimits[resource] = (soft, hard)
        if sb.local_rlimits:  # (the runtime's copy, process.c's read_rlimit)
            sb.arena.write(BASE + RLIMIT_COPY + 16 * resource, struct.pack("<QQ", soft, hard))
        if resource == RLIMIT_NOFILE:  # (the runtime opens held files below it too)
            sb.arena.write(BASE + FD_LIMIT, struct.pack("<I", sb.fd_limit))
        if resource == RLIMIT_CPU:  # (the kernel holds the process to it)
            sb.apply_cpu_limit()
    if old:
        sb.arena.write(old, struct.pack("<QQ", *cur))
    return 0


@handles("getrlimit")
def sys_getrlimit(sb, resource, old, *_):
    resource &= 0xFFFFFFFF
    if resource >= RLIMITS:
        return -errno.EINVAL
    sb.arena.write(old, struct.pack("<QQ", *rlimits(sb)[resource]))  # (NULL: EFAULT, as Linux)
    return 0


@handles("getgroups")
def sys_getgroups(sb, size, groups, *_):
    """One supplementary group, the sandbox's gid (id and ls ask)."""
    have = [sb.identity.gid]
    size = as_fd(size)
    if size < 0 or 0 < size < len(have):
        return -errno.EINVAL
    if size:
        sb.arena.write(groups, struct.pack(f"<{len(have)}I", *have))
    return len(have)


@handles("sysinfo")
def sys_sysinfo(sb, info, *_):
    """The sandbox's own view, as the runtime gives it when the policy lets
    every sysinfo by (process.c): its memory limit as total RAM, one
    process, the time since it started on its own clock."""
    uptime = max(0, (sb.clock.monotonic_ns() - sb.clock_started_ns) // 10**9)
    mem = sb.limits.memory
    sb.arena.write(info, struct.pack("<q3Q6QHHxxxxQQI4x", uptime, 0, 0, 0, mem, mem, 0, 0, 0, 0,
                                     1, 0, 0, 0, 1))
    return 0


def time_now(sb) -> tuple[int, ...]:
    cpu_clock = ((~sb.pid) << 3) | 2  # the kernel's CPUCLOCK_SCHED for another process
    try:
        cpu = time.clock_gettime_ns(cpu_clock)
    except OSError:
        cpu = 0
    return (0, time.clock_gettime_ns(time.CLOCK_REALTIME), time.monotonic_ns(), cpu)
