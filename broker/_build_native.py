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
FALLOC_FL_PUNCH_HOLE FALLOC_FL_KEEP_SIZE
AT_NULL AT_PHDR AT_PHENT AT_PHNUM AT_PAGESZ AT_BASE AT_FLAGS AT_ENTRY AT_UID AT_EUID
AT_GID AT_EGID AT_PLATFORM AT_HWCAP AT_CLKTCK AT_SECURE AT_RANDOM AT_HWCAP2 AT_EXECFN
AT_MINSIGSTKSZ
F_DUPFD F_DUPFD_CLOEXEC F_GETFD F_SETFD F_GETFL F_SETFL FD_CLOEXEC O_DIRECT
F_GETLK F_SETLK F_SETLKW F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW
SYSCALL_DISPATCH_FILTER_BLOCK SB_SIG_IGN
TIMER_ABSTIME CLOCK_REALTIME CLOCK_MONOTONIC CLOCK_BOOTTIME CLOCK_TAI FIONREAD
""".split()


def syscall_names():
    """Every __NR_ name the installed kernel headers define."""
    out = subprocess.run(
        ["cc", "-dM", "-E", "-include", "asm/unistd_64.h", "-"],
        input="", capture_output=True, text=True, check=True,
    ).stdout
    return sorted(set(re.findall(r"#define __NR_(\w+) ", out)))


def abi_cdef():
    """The ABI header as cffi reads it: drop the preprocessor plumbing."""
    keep = []
    for line in open(ABI_H):
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
    struct stat { ...; };
    struct statx { ...; };
    long sb_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
    long sb_getdents64(int fd, void *buf, size_t n);
    int fstatat(int dirfd, const char *path, struct stat *buf, int flags);
    int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf);
    int fallocate(int fd, int mode, long offset, long len);
    int sb_clock_start(struct sb_clock *page);
    void sb_clock_stop(void);
    """
)
ffibuilder.set_source(
    "strictbox._native",
    """
    #include <errno.h>
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

    /* The clock page's writer: a plain C thread, so it never waits for the
     * GIL.  A generation number lets a stopped thread notice and exit. */
    #include <pthread.h>
    static volatile long sb_clock_gen;

    struct sb_clock_arg { struct sb_clock *page; long gen; };

    static void *sb_clock_loop(void *p)
    {
        struct sb_clock_arg a = *(struct sb_clock_arg *)p;
        free(p);
        struct timespec tick = {0, SB_CLOCK_TICK_NS}, r, m, b;
        while (__atomic_load_n(&sb_clock_gen, __ATOMIC_ACQUIRE) == a.gen) {
            clock_gettime(CLOCK_REALTIME, &r);
            clock_gettime(CLOCK_MONOTONIC, &m);
            clock_gettime(CLOCK_BOOTTIME, &b);
            uint32_t seq = a.page->seq;
            __atomic_store_n(&a.page->seq, seq + 1, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_RELEASE);
            a.page->realtime_ns = r.tv_sec * 1000000000L + r.tv_nsec;
            a.page->monotonic_ns = m.tv_sec * 1000000000L + m.tv_nsec;
            a.page->boottime_ns = b.tv_sec * 1000000000L + b.tv_nsec;
            __atomic_thread_fence(__ATOMIC_RELEASE);
            __atomic_store_n(&a.page->seq, seq + 2, __ATOMIC_RELAXED);
            nanosleep(&tick, NULL);
        }
        return NULL;
    }

    static int sb_clock_start(struct sb_clock *page)
    {
        struct sb_clock_arg *a = malloc(sizeof *a);
        if (!a)
            return -ENOMEM;
        page->tick_ns = SB_CLOCK_TICK_NS;
        a->page = page;
        a->gen = __atomic_add_fetch(&sb_clock_gen, 1, __ATOMIC_ACQ_REL);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&t, &attr, sb_clock_loop, a);
        pthread_attr_destroy(&attr);
        if (e)
            free(a);
        return -e;
    }

    static void sb_clock_stop(void)
    {
        __atomic_add_fetch(&sb_clock_gen, 1, __ATOMIC_ACQ_REL);
    }

    static long sb_getdents64(int fd, void *buf, size_t n)
    {
        long r = syscall(SYS_getdents64, fd, buf, n);
        return r < 0 ? -errno : r;
    }
    """,
    include_dirs=[os.path.dirname(ABI_H)],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
