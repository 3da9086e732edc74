"""cffi build of strictbox._native: the kernel's syscall numbers and constants
(read from the headers, verified by the compiler), the arena ABI structs from
untrusted_runtime/include/strictbox_abi.h, and the few calls Python lacks."""

import os
import re
import subprocess

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ABI_H = os.path.join(HERE, "..", "untrusted_runtime", "include", "strictbox_abi.h")

# Flag constants policies and handlers may name; values come from the headers.
CONSTANTS = """
O_RDONLY O_WRONLY O_RDWR O_ACCMODE O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND O_NONBLOCK
O_DIRECTORY O_NOFOLLOW O_CLOEXEC O_PATH O_TMPFILE O_LARGEFILE O_NOATIME O_DSYNC O_SYNC
AT_FDCWD AT_EMPTY_PATH AT_SYMLINK_NOFOLLOW AT_REMOVEDIR AT_EACCESS AT_NO_AUTOMOUNT
RESOLVE_BENEATH RESOLVE_NO_MAGICLINKS RESOLVE_NO_SYMLINKS RESOLVE_NO_XDEV RESOLVE_IN_ROOT
F_OK R_OK W_OK X_OK SEEK_SET SEEK_CUR SEEK_END SEEK_DATA SEEK_HOLE
PROT_READ PROT_WRITE PROT_EXEC PROT_NONE MAP_SHARED MAP_PRIVATE MAP_FIXED MAP_ANONYMOUS
FALLOC_FL_PUNCH_HOLE FALLOC_FL_KEEP_SIZE FALLOC_FL_ZERO_RANGE FALLOC_FL_COLLAPSE_RANGE
FALLOC_FL_INSERT_RANGE FALLOC_FL_UNSHARE_RANGE AT_SYMLINK_FOLLOW
RENAME_NOREPLACE RENAME_EXCHANGE RENAME_WHITEOUT S_ISUID S_ISGID S_ISVTX
AT_NULL AT_PHDR AT_PHENT AT_PHNUM AT_PAGESZ AT_BASE AT_FLAGS AT_ENTRY AT_UID AT_EUID
AT_GID AT_EGID AT_PLATFORM AT_HWCAP AT_CLKTCK AT_SECURE AT_RANDOM AT_HWCAP2 AT_EXECFN
AT_MINSIGSTKSZ AT_SYSINFO_EHDR
F_DUPFD F_DUPFD_CLOEXEC F_GETFD F_SETFD F_GETFL F_SETFL FD_CLOEXEC O_DIRECT
F_GETLK F_SETLK F_SETLKW F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW
SYSCALL_DISPATCH_FILTER_BLOCK SB_SIG_IGN PIDFD_THREAD
TIMER_ABSTIME CLOCK_REALTIME CLOCK_MONOTONIC CLOCK_BOOTTIME CLOCK_TAI FIONREAD
DT_CHR DT_DIR DT_LNK DT_REG STATX_BASIC_STATS SECCOMP_MODE_STRICT MEM_MAJOR TTYAUX_MAJOR
PROC_SUPER_MAGIC TMPFS_MAGIC EXT4_SUPER_MAGIC XFS_SUPER_MAGIC BTRFS_SUPER_MAGIC
OVERLAYFS_SUPER_MAGIC ST_RDONLY ST_NOSUID ST_NODEV XATTR_NAME_MAX XATTR_SIZE_MAX
""".split()

# More names policy filters may use (broker/policy/expr.py takes every constant here).
CONSTANTS += """
CLONE_VM CLONE_FS CLONE_FILES CLONE_SIGHAND CLONE_PIDFD CLONE_PTRACE CLONE_VFORK CLONE_PARENT
CLONE_THREAD CLONE_NEWNS CLONE_SYSVSEM CLONE_SETTLS CLONE_PARENT_SETTID CLONE_CHILD_CLEARTID
CLONE_DETACHED CLONE_UNTRACED CLONE_CHILD_SETTID CLONE_NEWCGROUP CLONE_NEWUTS CLONE_NEWIPC
CLONE_NEWUSER CLONE_NEWPID CLONE_NEWNET CLONE_IO
MAP_GROWSDOWN MAP_DENYWRITE MAP_EXECUTABLE MAP_LOCKED MAP_NORESERVE MAP_POPULATE MAP_NONBLOCK
MAP_STACK MAP_HUGETLB MAP_FIXED_NOREPLACE MAP_ANON MAP_SHARED_VALIDATE MREMAP_MAYMOVE MREMAP_FIXED
MADV_NORMAL MADV_RANDOM MADV_SEQUENTIAL MADV_WILLNEED MADV_DONTNEED MADV_FREE MADV_HUGEPAGE
MADV_NOHUGEPAGE MADV_DONTDUMP
AF_UNIX AF_LOCAL AF_INET AF_INET6 AF_NETLINK AF_PACKET AF_VSOCK SOCK_STREAM SOCK_DGRAM SOCK_RAW
SOCK_SEQPACKET SOCK_NONBLOCK SOCK_CLOEXEC
FUTEX_WAIT FUTEX_WAKE FUTEX_PRIVATE_FLAG FUTEX_CLOCK_REALTIME FUTEX_WAIT_BITSET FUTEX_WAKE_BITSET
FUTEX_REQUEUE FUTEX_CMP_REQUEUE
SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV SIGUSR2 SIGPIPE
SIGALRM SIGTERM SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGSYS SIGWINCH SIGXCPU SIGXFSZ SIGPROF SIGVTALRM
SIG_BLOCK SIG_UNBLOCK SIG_SETMASK ARCH_SET_FS ARCH_GET_FS ARCH_SET_GS ARCH_GET_GS
GRND_NONBLOCK GRND_RANDOM CLOCK_PROCESS_CPUTIME_ID CLOCK_THREAD_CPUTIME_ID CLOCK_MONOTONIC_RAW
CLOCK_REALTIME_COARSE CLOCK_MONOTONIC_COARSE TCGETS TCSETS TIOCGWINSZ TIOCSWINSZ FIONBIO TIOCGPGRP
FIOCLEX RLIMIT_CPU RLIMIT_FSIZE RLIMIT_DATA RLIMIT_STACK RLIMIT_CORE RLIMIT_NOFILE RLIMIT_AS
RLIMIT_NPROC RLIMIT_MEMLOCK PR_SET_NAME PR_GET_NAME PR_SET_NO_NEW_PRIVS PR_SET_PDEATHSIG
PR_SET_DUMPABLE PR_SET_SECCOMP O_ASYNC
""".split()


def syscall_names():
    """Every __NR_ name the installed kernel headers define."""
    out = subprocess.run(
        ["cc", "-dM", "-E", "-include", "asm/unistd_64.h", "-"],
        input="", capture_output=True, text=True, check=True,
    ).stdout
    return sorted(set(re.findall(r"#define __NR_(\w+) ", out)))


def abi_cdef():
    """The ABI header as cffi reads it: drop the preprocessor plumbing, and
    the bodies of its inline functions (declared below)."""
    keep, body = [], False
    for line in open(ABI_H):
        body = body or line.startswith("static inline")
        if body:
            body = line.rstrip() != "}"
            continue
        if line.startswith("#") and not line.startswith("#define SB_"):
            continue
        if line.startswith("typedef"):
            continue
        keep.append(line)
    return "".join(keep).replace("#define STRICTBOX_ABI_H", "")


ffibuilder = FFI()
names = syscall_names()
ffibuilder.cdef(
    "".join(f"#define __NR_{n} ...\n" for n in names)
    + "".join(f"#define {c} ...\n" for c in CONSTANTS)
    + abi_cdef()
    + """
    typedef int... dev_t; typedef int... ino_t; typedef int... mode_t; typedef int... nlink_t;
    typedef int... uid_t; typedef int... gid_t; typedef int... off_t; typedef int... time_t;
    typedef int... blksize_t; typedef int... blkcnt_t;
    struct timespec { time_t tv_sec; long tv_nsec; ...; };
    /* The fields the broker fills in for files it makes up (broker/virtual.py). */
    struct stat { dev_t st_dev; ino_t st_ino; mode_t st_mode; nlink_t st_nlink; uid_t st_uid;
                  gid_t st_gid; dev_t st_rdev; off_t st_size; blksize_t st_blksize;
                  blkcnt_t st_blocks; struct timespec st_atim, st_mtim, st_ctim; ...; };
    struct statx_timestamp { int64_t tv_sec; uint32_t tv_nsec; ...; };
    struct statx { uint32_t stx_mask; uint32_t stx_blksize; uint32_t stx_nlink;
                   uint32_t stx_uid; uint32_t stx_gid; uint16_t stx_mode; uint64_t stx_ino;
                   uint64_t stx_size; uint64_t stx_blocks;
                   struct statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
                   uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor; ...; };
    long sb_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
    long sb_stat_beneath(int dirfd, const char *path, uint64_t resolve, struct stat *buf);
    long sb_getdents64(int fd, void *buf, size_t n);
    int fstatat(int dirfd, const char *path, struct stat *buf, int flags);
    int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf);
    int fallocate(int fd, int mode, long offset, long len);
    /* statfs as the kernel lays it out (glibc's x86_64 struct is the kernel's): calls/misc.py */
    struct statfs { long f_type; long f_bsize; long f_namelen; long f_frsize; long f_flags; ...; };
    int fstatfs(int fd, struct statfs *buf);
    int sb_clock_start(struct sb_clock *page);
    void sb_clock_stop(void);
    void sb_clock_forked(void);
    void sb_clock_halt(void);
    void sb_clock_place(int cpu);
    void sb_clock_anywhere(const int *cpus, int n);
    long sb_tgkill(int tgid, int tid, int sig);
    long sb_sigqueue_timer(int pid, int tid, int sig, int timerid, int overrun, uint64_t value);
    long sb_sigqueue_poke(int pid, int tid, int sig, uint64_t value);
    int sb_pidfd_exit_status(int pidfd);
    #define SB_CHANNEL_FDS ...
    int sb_make_channel(int *fds, int arena_fd, uint64_t block, int tid);
    int sb_spawn_socket(int *fds);
    long sb_send_fds(int sock, const char *data, int len, const int *fds, int n);
    long sb_recv_fds(int sock, unsigned char *buf, int len, int *fds, int *nfds);
    #define SB_RECV_FDS ...
    long sb_renameat2(int sfd, const char *spath, int dfd, const char *dpath, unsigned flags);
    long sb_utimensat(int fd, const char *path, const char *times, int flags);
    int sched_getcpu(void);
    uint64_t sb_stat_hash(const char *p, unsigned long n, uint64_t flags);
    long sb_list_names(int fd, uint32_t *out, long n, long max);
    """
)
ffibuilder.set_source(
    "strictbox._native",
    """
    #include <errno.h>
    #include <stddef.h>
    #include <stdio.h>
    #include <string.h>
    #include <stdlib.h>
    #include <fcntl.h>
    #include <sys/mman.h>
    #include <sys/stat.h>
    #include <sys/syscall.h>
    #include <sys/ioctl.h>
    #include <time.h>
    #include <signal.h>
    #include <linux/prctl.h>
    #include <unistd.h>
    #include <elf.h>
    #include <asm/unistd.h>
    #include <linux/openat2.h>
    #include <linux/falloc.h>
    #include <sched.h>
    #include <sys/socket.h>
    #include <sys/resource.h>
    #include <sys/random.h>
    #include <linux/futex.h>
    #include <asm/prctl.h>
    #include <dirent.h>
    #include <linux/seccomp.h>
    #include <linux/major.h>
    #include <sys/vfs.h>
    #include <sys/statvfs.h>
    #include <linux/magic.h>
    #include <linux/limits.h>
    #define SB_CFFI 1
    #define SB_SIG_IGN ((long)SIG_IGN) /* a pointer in <signal.h>; the ABI stores it as an integer */
    #include "strictbox_abi.h"

    static long sb_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                           uint64_t resolve)
    {
        struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
        long r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        return r < 0 ? -errno : r;
    }

    /* fstat of path beneath dirfd, opened (O_PATH) with `resolve`: one call
     * from Python where the stat of a path on a read-only mount takes three. */
    static long sb_stat_beneath(int dirfd, const char *path, uint64_t resolve, struct stat *buf)
    {
        long fd = sb_openat2(dirfd, path, O_PATH | O_CLOEXEC, 0, resolve);
        if (fd < 0)
            return fd;
        long r = fstat((int)fd, buf) ? -errno : 0;
        close((int)fd);
        return r;
    }

    /* The clock page's writer: a plain C thread, so it never waits for the
     * GIL.  Once no sandbox holds the page it ticks on for SB_CLOCK_LINGER_NS
     * (the next run takes it over: starting a thread costs a start ~60 us
     * here), then exits.  A generation number lets a thread that is no longer
     * the page's notice and exit; the lock orders a linger's end against a
     * start that would take the thread over. */
    #include <pthread.h>
    #define SB_CLOCK_LINGER_NS 200000000L
    static volatile long sb_clock_gen;
    static volatile int sb_clock_cpu = -1; /* where it should run: a CPU, or -1: anywhere */
    static cpu_set_t sb_clock_any; /* "anywhere": the process's CPUs (sb_clock_anywhere) */
    static int sb_clock_any_set;
    static pthread_mutex_t sb_clock_lock = PTHREAD_MUTEX_INITIALIZER;
    static struct sb_clock *sb_clock_ticking; /* the page a live thread ticks (under the lock) */
    static volatile long sb_clock_idle_since; /* CLOCK_MONOTONIC ns when it was let go; 0: held */
    static volatile int sb_clock_threads; /* threads that may still write a page */
    static int sb_clock_users; /* sandboxes holding the page (under the lock) */
    static int sb_clock_halted; /* the process is exiting: no thread starts any more */

    struct sb_clock_arg { struct sb_clock *page; long gen; };

    static void sb_clock_write(struct sb_clock *page)
    {
        struct timespec r, m, b;
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &m);
        clock_gettime(CLOCK_BOOTTIME, &b);
        uint32_t seq = page->seq;
        __atomic_store_n(&page->seq, seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        page->realtime_ns = r.tv_sec * 1000000000L + r.tv_nsec;
        page->monotonic_ns = m.tv_sec * 1000000000L + m.tv_nsec;
        page->boottime_ns = b.tv_sec * 1000000000L + b.tv_nsec;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&page->seq, seq + 2, __ATOMIC_RELAXED);
    }

    static void *sb_clock_loop(void *p)
    {
        struct sb_clock_arg a = *(struct sb_clock_arg *)p;
        free(p);
        cpu_set_t anywhere, one;
        int placed = -1;
        if (sb_clock_any_set) /* (not the starting thread's: it may be a paired broker's) */
            anywhere = sb_clock_any;
        else
            sched_getaffinity(0, sizeof anywhere, &anywhere);
        struct timespec tick = {0, SB_CLOCK_TICK_NS};
        while (__atomic_load_n(&sb_clock_gen, __ATOMIC_ACQUIRE) == a.gen) {
            sb_clock_write(a.page);
            long idle = __atomic_load_n(&sb_clock_idle_since, __ATOMIC_ACQUIRE);
            if (idle && a.page->monotonic_ns - idle > SB_CLOCK_LINGER_NS) {
                pthread_mutex_lock(&sb_clock_lock);
                int done = sb_clock_idle_since && __atomic_load_n(&sb_clock_gen, __ATOMIC_ACQUIRE) == a.gen;
                if (done)
                    sb_clock_ticking = NULL;
                pthread_mutex_unlock(&sb_clock_lock);
                if (done)
                    break;
            }
            int want = __atomic_load_n(&sb_clock_cpu, __ATOMIC_RELAXED);
            if (want != placed) { /* (a paired broker keeps it off its sandbox's CPU) */
                CPU_ZERO(&one);
                if (want >= 0 && want < CPU_SETSIZE)
                    CPU_SET(want, &one);
                sched_setaffinity(0, sizeof one, want >= 0 ? &one : &anywhere);
                placed = want;
            }
            nanosleep(&tick, NULL);
        }
        __atomic_sub_fetch(&sb_clock_threads, 1, __ATOMIC_RELEASE);
        return NULL;
    }

    /* A new thread ticking page (under the lock): 0 or an errno. */
    static int sb_clock_spawn(struct sb_clock *page)
    {
        struct sb_clock_arg *a = malloc(sizeof *a);
        if (!a)
            return ENOMEM;
        sb_clock_write(page); /* (the time is on the page before the first sandbox looks) */
        page->tick_ns = SB_CLOCK_TICK_NS;
        a->page = page;
        a->gen = __atomic_add_fetch(&sb_clock_gen, 1, __ATOMIC_ACQ_REL); /* (another page's goes) */
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        __atomic_add_fetch(&sb_clock_threads, 1, __ATOMIC_ACQ_REL);
        int e = pthread_create(&t, &attr, sb_clock_loop, a);
        pthread_attr_destroy(&attr);
        if (e) {
            __atomic_sub_fetch(&sb_clock_threads, 1, __ATOMIC_RELEASE);
            free(a);
        } else {
            sb_clock_ticking = page;
        }
        return e;
    }

    /* A sandbox holds the page: a thread lingering on it goes on, else a
     * new one starts. */
    static int sb_clock_start(struct sb_clock *page)
    {
        pthread_mutex_lock(&sb_clock_lock);
        int e = sb_clock_halted ? ESHUTDOWN : sb_clock_ticking != page ? sb_clock_spawn(page) : 0;
        if (!e) {
            sb_clock_users++;
            __atomic_store_n(&sb_clock_idle_since, 0, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&sb_clock_lock);
        return -e;
    }

    /* The CPU the clock thread should tick on from its next tick (-1: any
     * it started with): a thread that wakes every tick on a paired
     * sandbox's CPU would take it from the program 5000 times a second. */
    static void sb_clock_place(int cpu)
    {
        __atomic_store_n(&sb_clock_cpu, cpu, __ATOMIC_RELAXED);
    }

    static void sb_clock_anywhere(const int *cpus, int n)
    {
        CPU_ZERO(&sb_clock_any);
        for (int i = 0; i < n; i++)
            if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE)
                CPU_SET(cpus[i], &sb_clock_any);
        sb_clock_any_set = 1;
    }

    /* A sandbox lets the page go: when none holds it, the thread lingers,
     * then goes.  (The count lives here, under the lock, as brokers on
     * several threads hold and let go.) */
    static void sb_clock_stop(void)
    {
        struct timespec m;
        clock_gettime(CLOCK_MONOTONIC, &m);
        pthread_mutex_lock(&sb_clock_lock);
        if (sb_clock_users > 0 && --sb_clock_users == 0)
            __atomic_store_n(&sb_clock_idle_since, m.tv_sec * 1000000000L + m.tv_nsec + 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&sb_clock_lock);
    }

    /* The process is exiting: the thread stops now, and is gone before the
     * page is unmapped (within a tick; no more than a second is waited),
     * and none starts again. */
    static void sb_clock_halt(void)
    {
        pthread_mutex_lock(&sb_clock_lock);
        sb_clock_halted = 1;
        sb_clock_ticking = NULL;
        __atomic_add_fetch(&sb_clock_gen, 1, __ATOMIC_ACQ_REL);
        pthread_mutex_unlock(&sb_clock_lock);
        struct timespec pause = {0, 50000};
        for (int i = 0; i < 20000 && __atomic_load_n(&sb_clock_threads, __ATOMIC_ACQUIRE) > 0; i++)
            nanosleep(&pause, NULL);
    }

    /* In a forked child: no clock thread runs there (only the forking
     * thread came along), whatever the parent's state said. */
    static void sb_clock_forked(void)
    {
        pthread_mutex_init(&sb_clock_lock, NULL);
        sb_clock_ticking = NULL;
        sb_clock_idle_since = 0;
        sb_clock_threads = 0;
        sb_clock_users = 0;
        sb_clock_halted = 0;
        __atomic_add_fetch(&sb_clock_gen, 1, __ATOMIC_ACQ_REL);
    }

    /* Newer than these headers may be (include/uapi/linux/pidfd.h, Linux
     * 6.9 and 6.15): a pidfd for one thread, and the status it ended with. */
    #ifndef PIDFD_THREAD
    #define PIDFD_THREAD O_EXCL
    #endif
    #ifndef PIDFD_GET_INFO
    struct pidfd_info {
        __u64 mask, cgroupid;
        __u32 pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
        __s32 exit_code;
    };
    #define PIDFD_INFO_EXIT (1UL << 3)
    #define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
    #endif

    /* The wait status of the (dead) task behind pidfd, or -1 if the kernel
     * cannot say (before Linux 6.15). */
    static int sb_pidfd_exit_status(int pidfd)
    {
        struct pidfd_info info = {.mask = PIDFD_INFO_EXIT};
        if (ioctl(pidfd, PIDFD_GET_INFO, &info) || !(info.mask & PIDFD_INFO_EXIT))
            return -1;
        return info.exit_code;
    }

    static long sb_tgkill(int tgid, int tid, int sig)
    {
        long r = syscall(SYS_tgkill, tgid, tid, sig);
        return r < 0 ? -errno : r;
    }

    /* A timer's signal as the kernel sends it: SI_TIMER, the timer's id,
     * overrun and sigev_value; to the process, or to one thread (tid > 0). */
    static long sb_sigqueue_timer(int pid, int tid, int sig, int timerid, int overrun, uint64_t value)
    {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = sig;
        info.si_code = SI_TIMER;
        info.si_timerid = timerid;
        info.si_overrun = overrun;
        info.si_value.sival_ptr = (void *)(uintptr_t)value;
        long r = tid > 0 ? syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &info)
                         : syscall(SYS_rt_sigqueueinfo, pid, sig, &info);
        return r < 0 ? -errno : r;
    }

    /* The broker's nudge to one thread (SB_OP_POKE): SI_QUEUE with a value
     * the runtime knows. */
    static long sb_sigqueue_poke(int pid, int tid, int sig, uint64_t value)
    {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = sig;
        info.si_code = SI_QUEUE;
        info.si_pid = getpid();
        info.si_uid = getuid();
        info.si_value.sival_ptr = (void *)(uintptr_t)value;
        long r = syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &info);
        return r < 0 ? -errno : r;
    }

    /* A thread slot's channel and wake pipe, SB_CHANNEL_FDS fds: our end of
     * the channel, the sandbox's end, the pipe's read and write ends for the
     * sandbox, and our own open of the read end (its flags are not the
     * sandbox's); ours and the write end are non-blocking, all close-on-exec.
     * The slot's block in the arena (at offset block) gets its head: the
     * sandbox's fds (the spawner rewrites them with the numbers they get
     * there), its thread id tid (0: clone names it), no signal stack yet.
     * 0, or -errno with nothing left open. */
    #define SB_CHANNEL_FDS 5
    static int sb_make_channel(int *f, int arena_fd, uint64_t block, int tid)
    {
        int sv[2], p[2];
        char path[40];
        for (int k = 0; k < SB_CHANNEL_FDS; k++)
            f[k] = -1;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
            goto fail;
        f[0] = sv[0], f[1] = sv[1];
        if (pipe2(p, O_CLOEXEC))
            goto fail;
        f[2] = p[0], f[3] = p[1];
        snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
        f[4] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct sb_thread head;
        memset(&head, 0, sizeof head);
        head.magic = SB_MAGIC;
        head.chan_fd = f[1], head.wake_rfd = f[2], head.wake_wfd = f[3];
        head.tid = tid;
        head.alt_flags = 2; /* SS_DISABLE */
        size_t len = offsetof(struct sb_thread, req);
        if (f[4] < 0 || fcntl(f[0], F_SETFL, O_NONBLOCK) || fcntl(f[3], F_SETFL, O_NONBLOCK) ||
            pwrite(arena_fd, &head, len, block) != (ssize_t)len)
            goto fail;
        return 0;
    fail:;
        int e = errno ? errno : EIO;
        for (int k = 0; k < SB_CHANNEL_FDS; k++)
            if (f[k] >= 0)
                close(f[k]);
        return -e;
    }

    /* The spawn socket (trusted_stub/spawner.c): ours non-blocking, both
     * close-on-exec.  0, or -errno. */
    static int sb_spawn_socket(int *fds)
    {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds))
            return -errno;
        if (fcntl(fds[0], F_SETFL, O_NONBLOCK)) {
            int e = errno;
            close(fds[0]), close(fds[1]);
            return -e;
        }
        return 0;
    }

    /* len bytes with n fds (SCM_RIGHTS, n <= 4). */
    static long sb_send_fds(int sock, const char *data, int len, const int *fds, int n)
    {
        union { char buf[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } u;
        struct iovec iov = {(void *)data, (size_t)len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = CMSG_SPACE(n * sizeof(int))};
        if (n < 0 || n > 4)
            return -EINVAL;
        memset(u.buf, 0, sizeof u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
    }

    /* One message (non-blocking) with up to 4 fds (SB_RECV_FDS), which
     * arrive close-on-exec; more are closed.  Its length (0: the other end
     * closed), or -errno. */
    #define SB_RECV_FDS 4
    _Static_assert(SCM_RIGHTS == 1, "trusted_stub/spawner.c writes SCM_RIGHTS as 1");
    static long sb_recv_fds(int sock, unsigned char *buf, int len, int *fds, int *nfds)
    {
        union { char buf[CMSG_SPACE(16 * sizeof(int))]; struct cmsghdr align; } u;
        struct iovec iov = {buf, (size_t)len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = sizeof u.buf};
        long n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
            return -errno;
        *nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                if (*nfds < SB_RECV_FDS)
                    fds[(*nfds)++] = fd;
                else
                    close(fd);
            }
        }
        return n;
    }

    /* Python has no renameat2, and its utime cannot set one time and leave
     * the other (UTIME_OMIT); glibc's utimensat refuses the NULL path that
     * futimens needs.  The system calls themselves: 0 or -errno. */
    static long sb_renameat2(int sfd, const char *spath, int dfd, const char *dpath, unsigned flags)
    {
        return syscall(SYS_renameat2, sfd, spath, dfd, dpath, flags) < 0 ? -errno : 0;
    }

    static long sb_utimensat(int fd, const char *path, const char *times, int flags)
    {
        return syscall(SYS_utimensat, fd, path, times, flags) < 0 ? -errno : 0;
    }

    static long sb_getdents64(int fd, void *buf, size_t n)
    {
        long r = syscall(SYS_getdents64, fd, buf, n);
        return r < 0 ? -errno : r;
    }

    static int sb_by_value(const void *a, const void *b)
    {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return (x > y) - (x < y);
    }

    /* A listing for the runtime (struct sb_listing): the names that
     * directory fd holds from its position on, as their 32-bit
     * sb_stat_hash, added to the n already in out (fd < 0: none added),
     * then all sorted, each once.  How many, -E2BIG past max, or the read's
     * negative errno. */
    static long sb_list_names(int fd, uint32_t *out, long n, long max)
    {
        struct record { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; };
        static __thread char buf[32768];
        long got = 0;
        if (n > max)
            return -E2BIG;
        while (fd >= 0 && (got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
            for (long at = 0; at < got;) {
                struct record *d = (struct record *)(buf + at);
                long room = got - at;
                if (room < (long)offsetof(struct record, name) || d->reclen <= offsetof(struct record, name) ||
                    d->reclen > room)
                    return -EIO; /* (not the kernel's records) */
                size_t len = strnlen(d->name, d->reclen - offsetof(struct record, name));
                at += d->reclen;
                if ((len == 1 && d->name[0] == '.') || (len == 2 && !strcmp(d->name, "..")))
                    continue;
                if (n >= max)
                    return -E2BIG;
                out[n++] = (uint32_t)sb_stat_hash(d->name, len, 0);
            }
        }
        if (got < 0)
            return -errno;
        qsort(out, n, sizeof *out, sb_by_value);
        long kept = 0;
        for (long i = 0; i < n; i++)
            if (kept == 0 || out[kept - 1] != out[i])
                out[kept++] = out[i];
        return kept;
    }
    """,
    include_dirs=[os.path.dirname(ABI_H)],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
