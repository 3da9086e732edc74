"""Where every system call is served: the single source of truth.

Each entry names the call (numbers come from the kernel headers, never from
here), where it is served, its arguments, and a note.  The C runtime's
dispatch is generated from the SANDBOX rows (`routes_header`), the broker's
handlers are checked against the BROKER rows at import, and
`strictbox syscalls` prints the table.  A call missing from the table is
answered ENOSYS by the broker and logged.

Argument kinds: int, fd (low 32 bits, signed), size, flags, path (in, NUL
terminated), ptr (other pointer; its length rule is in the note).
"""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX = "sandbox"  # a runtime handler inside the sandbox (it may still forward)
BROKER = "broker"  # forwarded to the broker, which checks and performs it
DENIED = "denied"  # refused by the broker with the errno given, and logged


@dataclass(frozen=True)
class Call:
    name: str
    where: str
    args: tuple[str, ...]
    note: str = ""
    errno: str = "ENOSYS"  # for DENIED rows
    gated: bool = False  # a SANDBOX row whose local answers are only those the policy allows plainly


def _c(name: str, where: str, args: str, note: str = "", errno: str = "ENOSYS",
       gated: bool = False) -> Call:
    return Call(name, where, tuple(a for a in args.split() if a), note, errno, gated)


TABLE: tuple[Call, ...] = (
    # memory: the arena is the address space
    _c("brk", SANDBOX, "ptr:addr", "heap grows up from the image end"),
    _c("mmap", SANDBOX, "ptr:addr size:len flags:prot flags:flags fd:fd int:off",
       "anonymous in the arena; file-backed MAP_PRIVATE copied in by the broker"),
    _c("munmap", SANDBOX, "ptr:addr size:len",
       "large ranges are hole-punched by the broker, once reused"),
    _c("mremap", SANDBOX, "ptr:old size:old_len size:new_len flags:flags ptr:new"),
    _c("mprotect", SANDBOX, "ptr:addr size:len flags:prot", "bookkeeping: the arena stays RWX"),
    _c("madvise", SANDBOX, "ptr:addr size:len int:advice", "DONTNEED/FREE zero the range"),
    # threads and TLS
    _c("arch_prctl", SANDBOX, "int:code ptr:addr", "ARCH_SET_FS/GET_FS via wrfsbase/rdfsbase"),
    _c("set_tid_address", SANDBOX, "ptr:tidptr"),
    _c("set_robust_list", SANDBOX, "ptr:head size:len", "walked when the thread exits"),
    _c("clone", SANDBOX, "flags:flags ptr:stack ptr:ptid ptr:ctid ptr:tls",
       "threads from the stub's pool; anything else, or no free slot, goes to the broker"),
    _c("clone3", SANDBOX, "ptr:args size:size", "ENOSYS: glibc falls back to clone"),
    _c("rseq", SANDBOX, "ptr:rseq size:len flags:flags int:sig", "ENOSYS: glibc carries on"),
    # signals: bookkeeping, real handlers stay ours
    _c("rt_sigaction", SANDBOX, "int:sig ptr:act ptr:oact size:sigsetsize"),
    _c("rt_sigprocmask", SANDBOX, "int:how ptr:set ptr:oset size:sigsetsize",
       "virtual mask: SIGSYS and faults are never really blocked"),
    _c("sigaltstack", SANDBOX, "ptr:ss ptr:old_ss"),
    _c("rt_sigreturn", SANDBOX, "", "emulated: loads the frame we built on the program's stack"),
    _c("rt_sigsuspend", SANDBOX, "ptr:mask size:sigsetsize", "the broker holds it until a signal"),
    _c("pause", BROKER, "", "held until a signal interrupts it"),
    _c("rt_sigpending", SANDBOX, "ptr:set size:sigsetsize"),
    _c("rt_sigtimedwait", SANDBOX, "ptr:set ptr:info ptr:timeout size:sigsetsize",
       "takes a pending one, or the broker watches the wake pipe a sender writes to"),
    _c("kill", SANDBOX, "int:pid int:sig", "own process only; pending on this thread or the process"),
    _c("tgkill", SANDBOX, "int:tgid int:tid int:sig",
       "to itself locally; to a sibling the broker sends a real signal"),
    _c("tkill", SANDBOX, "int:tid int:sig", "as tgkill"),
    _c("alarm", BROKER, "int:seconds", "a broker timer sends SIGALRM"),
    _c("setitimer", BROKER, "int:which ptr:new ptr:old", "ITIMER_REAL only"),
    _c("getitimer", BROKER, "int:which ptr:curr", "ITIMER_REAL only"),
    _c("timer_create", BROKER, "int:clock ptr:sevp ptr:timerid",
       "SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE on REALTIME/MONOTONIC/BOOTTIME"),
    _c("timer_settime", BROKER, "int:timerid flags:flags ptr:new ptr:old"),
    _c("timer_gettime", BROKER, "int:timerid ptr:curr"),
    _c("timer_getoverrun", BROKER, "int:timerid"),
    _c("timer_delete", BROKER, "int:timerid"),
    # identity: virtual
    _c("getpid", SANDBOX, ""),
    _c("gettid", SANDBOX, ""),
    _c("getppid", SANDBOX, ""),
    _c("getuid", SANDBOX, ""),
    _c("geteuid", SANDBOX, ""),
    _c("getgid", SANDBOX, ""),
    _c("getegid", SANDBOX, ""),
    _c("uname", SANDBOX, "ptr:buf", "virtual host name"),
    _c("setuid", SANDBOX, "int:uid", "0 when unchanged, else EPERM"),
    _c("setgid", SANDBOX, "int:gid", "0 when unchanged, else EPERM"),
    _c("getgroups", BROKER, "int:size ptr:list", "the sandbox's own gid only"),
    _c("prlimit64", SANDBOX, "int:pid int:resource ptr:new ptr:old",
       "reads answered locally; a change goes to the broker (limits only go down)", gated=True),
    _c("getrlimit", SANDBOX, "int:resource ptr:rlim", "answered locally", gated=True),
    _c("sysinfo", SANDBOX, "ptr:info", "answered locally: the memory limit as RAM, uptime on the sandbox's clock",
       gated=True),
    # time and randomness
    _c("clock_gettime", SANDBOX, "int:clock ptr:tp", "broker time source"),
    _c("gettimeofday", SANDBOX, "ptr:tv ptr:tz", "broker time source"),
    _c("time", SANDBOX, "ptr:tloc", "broker time source"),
    _c("clock_getres", BROKER, "int:clock ptr:res"),
    _c("nanosleep", BROKER, "ptr:req ptr:rem", "the broker times the wait"),
    _c("clock_nanosleep", BROKER, "int:clock flags:flags ptr:req ptr:rem", "the broker times the wait"),
    # waiting for fds and futexes: the broker holds the call, never the loop
    _c("poll", BROKER, "ptr:fds int:nfds int:timeout"),
    _c("ppoll", SANDBOX, "ptr:fds int:nfds ptr:tsp ptr:sigmask size:sigsetsize",
       "the broker waits; the runtime holds the signal mask for its duration"),
    _c("select", BROKER, "int:nfds ptr:readfds ptr:writefds ptr:exceptfds ptr:timeout"),
    _c("pselect6", SANDBOX, "int:nfds ptr:readfds ptr:writefds ptr:exceptfds ptr:timeout ptr:sigmask",
       "the broker waits; the runtime holds the signal mask for its duration"),
    _c("futex", SANDBOX, "ptr:uaddr int:op int:val ptr:timeout ptr:uaddr2 int:val3",
       "waiters queue in the arena, wakes go by wake pipe; timeouts by the broker; no PI ops"),
    _c("getrandom", SANDBOX, "ptr:buf size:count flags:flags", "ChaCha20 seeded by the broker"),
    # process end
    _c("execve", SANDBOX, "path:path ptr:argv ptr:envp",
       "the broker checks and lays out the new image; the runtime starts it; one thread only"),
    _c("execveat", SANDBOX, "fd:dirfd path:path ptr:argv ptr:envp flags:flags",
       "the broker checks and lays out the new image; the runtime starts it"),
    _c("exit", SANDBOX, "int:status", "the thread returns to the pool; the last one ends the process"),
    _c("exit_group", SANDBOX, "int:status", "status to the broker, which ends the process"),
    # I/O: stdio directly, everything else through the broker
    _c("read", SANDBOX, "fd:fd ptr:buf size:count", "stdio directly; broker files forwarded"),
    _c("write", SANDBOX, "fd:fd ptr:buf size:count", "stdio directly; broker files forwarded"),
    _c("readv", SANDBOX, "fd:fd ptr:iov int:iovcnt", "stdio directly; broker files forwarded"),
    _c("writev", SANDBOX, "fd:fd ptr:iov int:iovcnt", "stdio directly; broker files forwarded"),
    _c("ioctl", SANDBOX, "fd:fd int:request ptr:arg", "TCGETS/TIOCGWINSZ on stdio from launch"),
    _c("fstat", SANDBOX, "fd:fd ptr:statbuf", "stdio from launch; broker files forwarded"),
    _c("newfstatat", SANDBOX, "fd:dirfd path:path ptr:statbuf flags:flags",
       "fstat of stdio via AT_EMPTY_PATH locally; paths forwarded, answers on read-only "
       "mounts kept, names a listing lacks missing (broker/lookups.py)"),
    _c("close", SANDBOX, "fd:fd", "forwarded: the broker keeps the fd table"),
    _c("pread64", SANDBOX, "fd:fd ptr:buf size:count int:offset", "prefetched files locally"),
    _c("lseek", SANDBOX, "fd:fd int:offset int:whence", "prefetched files locally"),
    _c("fcntl", SANDBOX, "fd:fd int:cmd int:arg", "forwarded; the runtime mirrors F_DUPFD of stdio"),
    _c("dup", SANDBOX, "fd:fd", "forwarded; the runtime mirrors dups of stdio"),
    _c("dup2", SANDBOX, "fd:oldfd fd:newfd", "forwarded; the runtime mirrors dups of stdio"),
    _c("dup3", SANDBOX, "fd:oldfd fd:newfd flags:flags", "forwarded; the runtime mirrors dups of stdio"),
    _c("pipe", BROKER, "ptr:fds", "both ends held by the broker"),
    _c("pipe2", BROKER, "ptr:fds flags:flags", "both ends held by the broker"),
    # files, through the view
    _c("open", BROKER, "path:path flags:flags int:mode", "writing only in rw mounts"),
    _c("openat", SANDBOX, "fd:dirfd path:path flags:flags int:mode",
       "forwarded (writing only in rw mounts; O_TMPFILE too); a read-only open of a "
       "path the stat cache or a listing knows missing fails locally", gated=True),
    _c("stat", BROKER, "path:path ptr:statbuf"),
    _c("lstat", BROKER, "path:path ptr:statbuf"),
    _c("statx", BROKER, "fd:dirfd path:path flags:flags int:mask ptr:statxbuf"),
    _c("access", SANDBOX, "path:path int:mode", "forwarded; a name a listing lacks fails locally",
       gated=True),
    _c("faccessat", SANDBOX, "fd:dirfd path:path int:mode",
       "forwarded; a name a listing lacks fails locally", gated=True),
    _c("faccessat2", SANDBOX, "fd:dirfd path:path int:mode flags:flags",
       "forwarded; a name a listing lacks fails locally", gated=True),
    _c("getdents64", SANDBOX, "fd:fd ptr:dirp size:count",
       "forwarded; the end of a read-only directory answered locally"),
    _c("readlink", SANDBOX, "path:path ptr:buf size:bufsiz",
       "forwarded; the links along the program's own path answered locally", gated=True),
    _c("readlinkat", SANDBOX, "fd:dirfd path:path ptr:buf size:bufsiz",
       "forwarded; the links along the program's own path answered locally", gated=True),
    _c("getcwd", BROKER, "ptr:buf size:size", "virtual cwd"),
    _c("chdir", BROKER, "path:path", "virtual cwd"),
    _c("fchdir", BROKER, "fd:fd", "virtual cwd"),
    # writing: only in rw mounts (EROFS elsewhere); a name's parent is resolved in the
    # view, then the host call gets that directory's fd and one final component
    _c("creat", BROKER, "path:path int:mode", "openat with O_CREAT|O_WRONLY|O_TRUNC"),
    _c("umask", BROKER, "int:mask", "applied to the modes of files and directories made"),
    _c("pwrite64", BROKER, "fd:fd ptr:buf size:count int:offset"),
    _c("truncate", BROKER, "path:path int:length"),
    _c("ftruncate", BROKER, "fd:fd int:length"),
    _c("fallocate", BROKER, "fd:fd flags:mode int:offset int:len"),
    _c("fsync", BROKER, "fd:fd"),
    _c("fdatasync", BROKER, "fd:fd"),
    _c("rename", BROKER, "path:oldpath path:newpath", "EXDEV between mounts"),
    _c("renameat", BROKER, "fd:olddirfd path:oldpath fd:newdirfd path:newpath",
       "EXDEV between mounts"),
    _c("renameat2", BROKER, "fd:olddirfd path:oldpath fd:newdirfd path:newpath flags:flags",
       "NOREPLACE, EXCHANGE; WHITEOUT is EPERM"),
    _c("unlink", BROKER, "path:path"),
    _c("unlinkat", BROKER, "fd:dirfd path:path flags:flags"),
    _c("mkdir", BROKER, "path:path int:mode"),
    _c("mkdirat", BROKER, "fd:dirfd path:path int:mode"),
    _c("rmdir", BROKER, "path:path"),
    _c("symlink", BROKER, "path:target path:linkpath", "the target is resolved in the view"),
    _c("symlinkat", BROKER, "path:target fd:newdirfd path:linkpath",
       "the target is resolved in the view"),
    _c("link", BROKER, "path:oldpath path:newpath", "both names in one rw mount"),
    _c("linkat", BROKER, "fd:olddirfd path:oldpath fd:newdirfd path:newpath flags:flags",
       "both names in one rw mount; AT_EMPTY_PATH names an O_TMPFILE"),
    _c("chmod", BROKER, "path:path int:mode", "permission and sticky bits only"),
    _c("fchmod", BROKER, "fd:fd int:mode", "permission and sticky bits only"),
    _c("fchmodat", BROKER, "fd:dirfd path:path int:mode", "permission and sticky bits only"),
    _c("utimensat", BROKER, "fd:dirfd path:path ptr:times flags:flags", "NULL path: futimens"),
    _c("futimesat", BROKER, "fd:dirfd path:path ptr:times"),
    _c("utimes", BROKER, "path:path ptr:times"),
    _c("utime", BROKER, "path:path ptr:times"),
    _c("chown", BROKER, "path:path int:uid int:gid", "EPERM (EROFS in ro mounts)"),
    _c("fchown", BROKER, "fd:fd int:uid int:gid", "EPERM (EROFS in ro mounts)"),
    _c("lchown", BROKER, "path:path int:uid int:gid", "EPERM (EROFS in ro mounts)"),
    _c("fchownat", BROKER, "fd:dirfd path:path int:uid int:gid flags:flags",
       "EPERM (EROFS in ro mounts)"),
    # small facts (calls/misc.py)
    _c("getpgrp", BROKER, "", "the sandbox's process leads its group"),
    _c("getpgid", BROKER, "int:pid", "own pid only, else ESRCH"),
    _c("getsid", BROKER, "int:pid", "own pid only, else ESRCH"),
    _c("wait4", BROKER, "int:pid ptr:status int:options ptr:rusage", "ECHILD: no children"),
    _c("waitid", BROKER, "int:idtype int:id ptr:info int:options ptr:rusage",
       "ECHILD: no children"),
    _c("setreuid", BROKER, "int:ruid int:euid", "0 when unchanged, else EPERM"),
    _c("setregid", BROKER, "int:rgid int:egid", "0 when unchanged, else EPERM"),
    _c("setresuid", BROKER, "int:ruid int:euid int:suid", "0 when unchanged, else EPERM"),
    _c("setresgid", BROKER, "int:rgid int:egid int:sgid", "0 when unchanged, else EPERM"),
    _c("getresuid", BROKER, "ptr:ruid ptr:euid ptr:suid", "the sandbox's uid three times"),
    _c("getresgid", BROKER, "ptr:rgid ptr:egid ptr:sgid", "the sandbox's gid three times"),
    _c("getpriority", BROKER, "int:which int:who", "the host process's nice value"),
    _c("setpriority", BROKER, "int:which int:who int:prio", "nice only goes up, for real"),
    _c("sched_getaffinity", BROKER, "int:pid size:len ptr:mask", "the host process's CPUs"),
    _c("sched_yield", BROKER, ""),
    _c("statfs", BROKER, "path:path ptr:buf", "the mount's file system; ST_RDONLY when ro"),
    _c("fstatfs", BROKER, "fd:fd ptr:buf", "the mount's file system; ST_RDONLY when ro"),
    _c("fadvise64", BROKER, "fd:fd int:offset size:len int:advice", "checked, then dropped"),
    _c("getxattr", BROKER, "path:path ptr:name ptr:value size:size", "ENODATA: none shown"),
    _c("lgetxattr", BROKER, "path:path ptr:name ptr:value size:size", "ENODATA: none shown"),
    _c("fgetxattr", BROKER, "fd:fd ptr:name ptr:value size:size", "ENODATA: none shown"),
    _c("listxattr", BROKER, "path:path ptr:list size:size", "an empty list"),
    _c("llistxattr", BROKER, "path:path ptr:list size:size", "an empty list"),
    _c("flistxattr", BROKER, "fd:fd ptr:list size:size", "an empty list"),
    _c("setxattr", BROKER, "path:path ptr:name ptr:value size:size flags:flags",
       "EOPNOTSUPP (EROFS in ro mounts)"),
    _c("lsetxattr", BROKER, "path:path ptr:name ptr:value size:size flags:flags",
       "EOPNOTSUPP (EROFS in ro mounts)"),
    _c("fsetxattr", BROKER, "fd:fd ptr:name ptr:value size:size flags:flags",
       "EOPNOTSUPP (EROFS in ro mounts)"),
    _c("removexattr", BROKER, "path:path ptr:name", "EOPNOTSUPP (EROFS in ro mounts)"),
    _c("lremovexattr", BROKER, "path:path ptr:name", "EOPNOTSUPP (EROFS in ro mounts)"),
    _c("fremovexattr", BROKER, "fd:fd ptr:name", "EOPNOTSUPP (EROFS in ro mounts)"),
    # refused with a reason

    _c("fork", DENIED, "", "one process per sandbox", "ENOSYS"),
    _c("vfork", DENIED, "", "one process per sandbox", "ENOSYS"),
    _c("socket", DENIED, "int:domain int:type int:protocol", "no network", "EACCES"),
    _c("ptrace", DENIED, "int:request int:pid ptr:addr ptr:data", "never", "EPERM"),
    _c("prctl", DENIED, "int:option int:arg2 int:arg3 int:arg4 int:arg5", "never", "EPERM"),
    _c("seccomp", DENIED, "int:op flags:flags ptr:args", "already in strict mode", "EPERM"),
)

BY_NAME: dict[str, Call] = {c.name: c for c in TABLE}
assert len(BY_NAME) == len(TABLE), "a call appears twice in the table"


def routes_header() -> str:
    """The C runtime's list of locally handled calls (untrusted_runtime/gen/routes.h)."""
    local = [c for c in TABLE if c.where == SANDBOX]
    body = " \\\n".join(f"    X({c.name})" for c in local)
    paths = [(c.name, [a.partition(":")[0] for a in c.args].index("path")) for c in local
             if any(a.startswith("path:") for a in c.args)]
    path_body = " \\\n".join(f"    X({n}, {i})" for n, i in paths)
    return (
        "/* Generated from broker/syscall_table.py by the build: do not edit. */\n"
        f"#define SB_LOCAL_CALLS(X) \\\n{body}\n"
        "/* The local calls with a path argument, and which (the trace copies it). */\n"
        f"#define SB_PATH_ARGS(X) \\\n{path_body}\n"
    )
