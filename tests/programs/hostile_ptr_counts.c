/* Broker calls with counts and lengths that are huge, negative or wrap,
 * on valid buffers: the broker answers like Linux and never sizes its own
 * memory by them (the test watches the broker's peak RSS). */
#include "hostile.h"
#include <poll.h>
#include <sys/uio.h>

/* 2 MiB: the broker moves at most 1 MiB per call, and the file read here
 * (the program itself) is smaller, so a count that is large but stays in
 * user space reads the whole file into this buffer, natively too. */
static char buf[2 << 20];
static struct iovec iov[1024];
#define USER_END ((1UL << 47) - 4096) /* x86_64 TASK_SIZE_MAX: access_ok's limit */

int main(void)
{
    long fd = CALL(SYS_open, "/proc/self/exe", O_RDONLY);
    long dfd = CALL(SYS_open, "/", O_RDONLY | O_DIRECTORY);     /* made up by the broker */
    long hdfd = CALL(SYS_open, "/usr", O_RDONLY | O_DIRECTORY); /* a host directory */
    show_ok("open", fd);
    long b = (long)buf;
    /* A count taking buf past the end of user space (or wrapping) is EFAULT
     * before anything is read; one just inside it is a read of what there is. */
    show("read_count_max", CALL(SYS_read, fd, b, -1L));
    show("read_count_past_user_end", CALL(SYS_read, fd, b, USER_END - b + 1));
    show("pread_count_max", CALL(SYS_pread64, fd, b, -1L, 0));
    show("pread_count_past_user_end", CALL(SYS_pread64, fd, b, USER_END - b + 1, 0));
    show("pos_after_efault", CALL(SYS_lseek, fd, 0, SEEK_CUR));
    show("pread_count_to_user_end", CALL(SYS_pread64, fd, b, USER_END - b, 0) > 4096);
    show("read_null_0", CALL(SYS_read, fd, 0, 0));
    show("pread_offset_negative", CALL(SYS_pread64, fd, b, 16, -1L));
    show("lseek_huge", CALL(SYS_lseek, fd, 1L << 62, SEEK_SET) > 0);
    show("lseek_negative", CALL(SYS_lseek, fd, -5L, SEEK_SET));
    show("lseek_whence", CALL(SYS_lseek, fd, 0, 99));
    /* count is an int in the kernel: 0, 2^32 (0 in 32 bits) and past
     * INT_MAX are too small for an entry; at the end of the directory, 0 */
    show("getdents64_count_max", CALL(SYS_getdents64, dfd, b, -1L));
    show("getdents64_count_0", CALL(SYS_getdents64, dfd, b, 0));
    show("getdents64_count_4G", CALL(SYS_getdents64, dfd, b, 1L << 32));
    show("getdents64_count_2G", CALL(SYS_getdents64, dfd, b, 0x80000000L));
    show("getdents64_count_10", CALL(SYS_getdents64, hdfd, b, 10));
    show("getdents64_host_count_0", CALL(SYS_getdents64, hdfd, b, 0));
    show("getdents64_host_count_4G", CALL(SYS_getdents64, hdfd, b, 1L << 32));
    show("getdents64_host_read", CALL(SYS_getdents64, hdfd, b, 1 << 16) > 0);
    while (CALL(SYS_getdents64, dfd, b, 1 << 16) > 0)
        ;
    while (CALL(SYS_getdents64, hdfd, b, 1 << 16) > 0)
        ;
    show("getdents64_count_0_at_end", CALL(SYS_getdents64, dfd, b, 0));
    show("getdents64_host_count_0_at_end", CALL(SYS_getdents64, hdfd, b, 0));
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
    show("readv_iovcnt_4G", CALL(SYS_readv, fd, iov, 1L << 32)); /* 0 in 32 bits */
    iov[0].iov_base = buf;
    iov[0].iov_len = -1UL;
    show("readv_len_negative", CALL(SYS_readv, fd, iov, 1));
    /* one iovec: capped at MAX_RW_COUNT before the check; several: checked whole */
    iov[0].iov_len = 1UL << 62;
    show("readv_one_huge", CALL(SYS_readv, fd, iov, 1) > 4096);
    CALL(SYS_lseek, fd, 0, SEEK_SET);
    for (int i = 0; i < 1024; i++) {
        iov[i].iov_base = buf;
        iov[i].iov_len = 1UL << 52;
    }
    show("readv_total_overflow", CALL(SYS_readv, fd, iov, 1024));
    for (int i = 0; i < 1024; i++)
        iov[i].iov_len = 64;
    show("readv_1024", CALL(SYS_readv, fd, iov, 1024));
    show("getxattr_size_huge", CALL(SYS_getxattr, "/", "user.x", b, 1L << 40));
    show("listxattr_size_huge", CALL(SYS_listxattr, "/", b, 1L << 40) >= 0);
    show("getgroups_negative", CALL(SYS_getgroups, -1, b));
    show("sched_getaffinity_len_small", CALL(SYS_sched_getaffinity, 0, 1, b));
    show("sched_getaffinity_len_huge", CALL(SYS_sched_getaffinity, 0, 1L << 40, b)); /* 0 in 32 bits */
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
