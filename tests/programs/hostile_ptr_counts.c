/* Broker calls with counts and lengths that are huge, negative or wrap,
 * on valid buffers: the broker answers like Linux and never sizes its own
 * memory by them (the test watches the broker's peak RSS). */
#include "hostile.h"
#include <poll.h>
#include <sys/uio.h>

/* 2 MiB: the broker moves at most 1 MiB per call, so where it takes a
 * huge count as "up to the arena's end" (Linux: EFAULT once buf + count
 * passes the end of the address space) it stays inside this buffer. */
static char buf[2 << 20];
static struct iovec iov[1024];

int main(void)
{
    long fd = CALL(SYS_open, "/proc/self/exe", O_RDONLY);
    long dfd = CALL(SYS_open, "/", O_RDONLY | O_DIRECTORY);
    show_ok("open", fd);
    long b = (long)buf;
    /* (read with count SIZE_MAX is EFAULT on Linux -- buf + count passes the
     * end of the address space -- while the broker reads up to the arena's
     * end: into this program's own memory, so it is left out here.) */
    show("pread_offset_negative", CALL(SYS_pread64, fd, b, 16, -1L));
    show("lseek_huge", CALL(SYS_lseek, fd, 1L << 62, SEEK_SET) > 0);
    show("lseek_negative", CALL(SYS_lseek, fd, -5L, SEEK_SET));
    show("lseek_whence", CALL(SYS_lseek, fd, 0, 99));
    show("getdents64_count_max", CALL(SYS_getdents64, dfd, b, -1L) > 0);
    show("getdents64_count_0", CALL(SYS_getdents64, dfd, b, 0));
    show("getcwd_size_0", CALL(SYS_getcwd, b, 0));
    show("getcwd_size_huge", CALL(SYS_getcwd, b, 1L << 40));
    show("readlink_size_0", CALL(SYS_readlink, "/proc/self/exe", b, 0));
    show("readlink_size_negative", CALL(SYS_readlink, "/proc/self/exe", b, -1L));
    show("poll_nfds_huge", CALL(SYS_poll, b, 1L << 40, 0));
    show("poll_nfds_2G", CALL(SYS_poll, b, 0x80000000L, 0));
    show("select_nfds_huge", CALL(SYS_select, 1 << 30, b, 0, 0, 0));
    show("select_nfds_negative", CALL(SYS_select, -1, b, 0, 0, 0));
    show("readv_iovcnt_huge", CALL(SYS_readv, fd, iov, 1L << 40));
    show("readv_iovcnt_1025", CALL(SYS_readv, fd, iov, 1025));
    for (int i = 0; i < 1024; i++) {
        iov[i].iov_base = buf;
        iov[i].iov_len = 1UL << 52;
    }
    show("readv_total_overflow", CALL(SYS_readv, fd, iov, 1024));
    for (int i = 0; i < 1024; i++)
        iov[i].iov_len = 64;
    show("readv_1024", CALL(SYS_readv, fd, iov, 1024) > 0);
    show("getxattr_size_huge", CALL(SYS_getxattr, "/", "user.x", b, 1L << 40));
    show("listxattr_size_huge", CALL(SYS_listxattr, "/", b, 1L << 40) >= 0);
    show("getgroups_negative", CALL(SYS_getgroups, -1, b));
    show("sched_getaffinity_len_small", CALL(SYS_sched_getaffinity, 0, 1, b));
    show("sched_getaffinity_len_huge", CALL(SYS_sched_getaffinity, 0, 1L << 40, b) > 0);
    show("pipe2_flags", CALL(SYS_pipe2, b, -1L));
    show("openat_flags_all", CALL(SYS_openat, AT_CWD, "/", -1L, 0));
    show("mkdir_mode_all", CALL(SYS_mkdir, "/tmp/m", -1L));
    show("ftruncate_negative", CALL(SYS_ftruncate, fd, -1L));
    show("fadvise_len_negative", CALL(SYS_fadvise64, fd, 0, -1L, 0));
    show("nanosleep_nsec_big", ({ struct timespec ts = {0, 2000000000L}; CALL(SYS_nanosleep, &ts, 0); }));
    show("nanosleep_sec_negative", ({ struct timespec ts = {-1, 0}; CALL(SYS_nanosleep, &ts, 0); }));
    show("pread_still_works", CALL(SYS_pread64, fd, b, 4, 1));
    return 0;
}
