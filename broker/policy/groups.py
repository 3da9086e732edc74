"""Named groups of system calls, written `@name` in a policy.

Loosely after systemd's SystemCallFilter sets.  A call may sit in several
groups.  Every member must exist in the kernel's table (a test checks it);
whether strictbox serves it is the syscall table's business, not the group's.
"""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {}
DESCRIPTIONS: dict[str, str] = {}


def _g(name: str, description: str, members: str) -> None:
    GROUPS[name] = tuple(members.split())
    DESCRIPTIONS[name] = description


_g("default", "calls every program needs to end and to return from signals",
   "exit exit_group rt_sigreturn")
_g("basic-io", "reading, writing and closing file descriptors already open",
   "read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek close "
   "close_range dup dup2 dup3")
_g("file-read", "opening files (filter flags for read-only) and reading metadata and directories",
   "open openat openat2 stat lstat fstat newfstatat statx access faccessat faccessat2 "
   "readlink readlinkat getdents getdents64 getcwd chdir fchdir statfs fstatfs fcntl "
   "getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr fadvise64 readahead")
_g("file-write", "creating, changing and removing files (opening for writing is openat's flags)",
   "creat mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink "
   "symlinkat truncate ftruncate chmod fchmod fchmodat chown fchown lchown fchownat utime "
   "utimes utimensat futimesat fallocate fsync fdatasync sync_file_range mknod mknodat "
   "setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr")
_g("memory", "mapping and managing memory (served inside the sandbox)",
   "brk mmap munmap mremap mprotect madvise mlock mlock2 munlock mlockall munlockall mincore "
   "msync")
_g("time", "reading clocks and sleeping",
   "clock_gettime gettimeofday time clock_getres nanosleep clock_nanosleep")
_g("process", "this process's life: exec, exit, limits, scheduling, children",
   "execve execveat exit exit_group fork vfork clone clone3 wait4 waitid kill tgkill tkill "
   "getpid getppid gettid getpgid getpgrp getsid setsid setpgid prlimit64 getrlimit setrlimit "
   "getrusage times sched_yield sched_getaffinity getpriority setpriority")
_g("signal", "handlers, masks and waiting for signals",
   "rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending rt_sigtimedwait "
   "rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack signalfd signalfd4 pause alarm kill tgkill "
   "tkill getitimer setitimer timer_create timer_settime timer_gettime timer_getoverrun "
   "timer_delete")
_g("thread", "threads, their local storage and futexes",
   "clone clone3 futex set_robust_list get_robust_list set_tid_address gettid arch_prctl "
   "rseq sched_yield membarrier")
_g("identity", "user, group and host identity (virtual inside the sandbox)",
   "getuid geteuid getgid getegid getresuid getresgid getgroups setuid setgid setreuid "
   "setregid setresuid setresgid setgroups setfsuid setfsgid uname sethostname setdomainname")
_g("poll", "waiting for file descriptors and events",
   "poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait "
   "epoll_pwait2 eventfd eventfd2 timerfd_create timerfd_settime timerfd_gettime")
_g("pipe", "pipes inside one sandbox", "pipe pipe2")
_g("random", "random bytes", "getrandom")
_g("system-info", "facts about the (virtual) machine", "uname sysinfo getcpu")
_g("ioctl", "device control; stdio's terminal queries are served inside the sandbox", "ioctl")
_g("network", "sockets of every family",
   "socket socketpair connect bind listen accept accept4 sendto recvfrom sendmsg recvmsg "
   "sendmmsg recvmmsg shutdown getsockname getpeername setsockopt getsockopt")
_g("ipc", "System V and POSIX message queues, semaphores and shared memory",
   "msgget msgsnd msgrcv msgctl semget semop semtimedop semctl shmget shmat shmdt shmctl "
   "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr memfd_create")
_g("privileged", "calls that change the machine or other processes: never in a sandbox",
   "ptrace process_vm_readv process_vm_writev prctl seccomp bpf perf_event_open mount umount2 "
   "pivot_root chroot swapon swapoff reboot kexec_load kexec_file_load init_module "
   "finit_module delete_module acct settimeofday clock_settime clock_adjtime adjtimex "
   "iopl ioperm unshare setns personality quotactl keyctl add_key request_key "
   "open_by_handle_at name_to_handle_at userfaultfd fanotify_init lookup_dcookie "
   "fsopen fsmount fsconfig move_mount open_tree pidfd_open pidfd_getfd pidfd_send_signal")


def expand(target: str) -> tuple[str, ...]:
    """The calls a rule target names: itself, or a group's members."""
    if target.startswith("@"):
        return GROUPS[target[1:]]
    return (target,)


def groups_of(call: str) -> list[str]:
    return [g for g, members in GROUPS.items() if call in members]
