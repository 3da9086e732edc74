/* Broker calls that write results into sandbox memory, given an output
 * pointer that is not sandbox memory (wild, or a range that wraps past 2^64)
 * and lengths that are too large: the broker must answer what Linux answers
 * (EFAULT, EINVAL...), write nothing anywhere, and stay small. */
#include "hostile.h"
#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <time.h>

static char ok[4096];

int main(void)
{
    long fd = CALL(SYS_open, "/proc/self/exe", O_RDONLY);
    long dfd = CALL(SYS_open, "/", O_RDONLY | O_DIRECTORY);
    show_ok("open", fd);
    show_ok("open_dir", dfd);
    const unsigned long ptrs[] = {WILD, TOP};
    const char *names[] = {"wild", "wrap"};
    for (int i = 0; i < 2; i++) {
        long p = (long)ptrs[i];
        char label[64];
#define T(call, expr)                                              \
    snprintf(label, sizeof label, "%s_%s", call, names[i]); \
    show(label, sc(expr));
        T("stat", syscall(SYS_stat, "/", p));
        T("fstat", syscall(SYS_fstat, fd, p));
        T("statx", syscall(SYS_statx, AT_CWD, "/", 0, 0xfff, p));
        T("read", syscall(SYS_read, fd, p, 0x20000));
        T("pread", syscall(SYS_pread64, fd, p, 0x20000, 0));
        T("getdents64", syscall(SYS_getdents64, dfd, p, 0x20000));
        T("getcwd", syscall(SYS_getcwd, p, 0x20000));
        T("statfs", syscall(SYS_statfs, "/", p));
        T("fstatfs", syscall(SYS_fstatfs, fd, p));
        T("pipe2", syscall(SYS_pipe2, p, 0));
        T("poll", syscall(SYS_poll, p, 1, 0));
        T("select", syscall(SYS_select, 1, p, 0, 0, 0));
        T("nanosleep", syscall(SYS_nanosleep, p, 0));
        T("clock_getres", syscall(SYS_clock_getres, CLOCK_MONOTONIC, p));
        T("getrlimit", syscall(SYS_getrlimit, RLIMIT_NOFILE, p));
        T("prlimit_new", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, p, 0));
        T("prlimit_old", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, p));
        T("sysinfo", syscall(SYS_sysinfo, p));
        T("getgroups", syscall(SYS_getgroups, 4, p));
        T("getresuid", syscall(SYS_getresuid, p, p, p));
        T("sched_getaffinity", syscall(SYS_sched_getaffinity, 0, 128, p));
        T("readlink_buf", syscall(SYS_readlink, "/proc/self/exe", p, 64));
        T("pwrite", syscall(SYS_pwrite64, fd, p, 16, 0));
        T("utimensat_times", syscall(SYS_utimensat, AT_CWD, "/", p, 0));
        T("readv_iov", syscall(SYS_readv, fd, p, 1));
        T("writev_iov", syscall(SYS_writev, fd, p, 1));
    }
    /* the broker's fds still work, and read what they should */
    show("pread_ok", CALL(SYS_pread64, fd, ok, 4, 1));
    printf("magic %.3s\n", ok);
    return 0;
}
