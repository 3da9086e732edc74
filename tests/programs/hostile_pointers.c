/* Forwards broker-served calls (trapped normally, no selector tricks) with
 * pointers and lengths that do not describe sandbox memory.  Every line is
 * "name result", result being the return value or -errno name; the last
 * lines check that the broker-held fd still works. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *name, long r)
{
    if (r == -1) {
        const char *e = errno == EFAULT ? "EFAULT" : errno == EINVAL ? "EINVAL"
                        : errno == ENAMETOOLONG ? "ENAMETOOLONG" : errno == EBADF ? "EBADF" : NULL;
        if (e)
            printf("%s -%s\n", name, e);
        else
            printf("%s -errno%d\n", name, errno);
    } else {
        printf("%s %ld\n", name, r);
    }
}

#define WILD ((void *)0x7fff00000000UL)
#define TOP ((void *)0xffffffffffff0000UL) /* + 0x20000 wraps past 2^64 */

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    show("open_1", syscall(SYS_open, (char *)0x1, O_RDONLY, 0));
    show("open_null", syscall(SYS_open, (char *)0, O_RDONLY, 0));
    show("open_wild", syscall(SYS_open, (char *)WILD, O_RDONLY, 0));
    show("open_top", syscall(SYS_open, (char *)TOP, O_RDONLY, 0));
    show("stat_path_wild", syscall(SYS_stat, (char *)WILD, malloc(256)));

    char *longname = malloc(8192);
    memset(longname, 'a', 8192); /* no NUL within PATH_MAX */
    show("open_unterminated", syscall(SYS_open, longname, O_RDONLY, 0));

    int fd = (int)syscall(SYS_open, argv[0], O_RDONLY, 0); /* our own program: broker-held */
    printf("open_self %s\n", fd >= 3 ? "ok" : "failed");
    show("read_1", syscall(SYS_read, fd, (void *)0x1, 16));
    show("read_wild", syscall(SYS_read, fd, WILD, 16));
    show("read_wrap", syscall(SYS_read, fd, TOP, 0x20000UL));
    show("pread_wrap", syscall(SYS_pread64, fd, TOP, 0x20000UL, 0));
    show("read_maxlen_wild", syscall(SYS_read, fd, WILD, (unsigned long)-1));
    show("fstat_1", syscall(SYS_fstat, fd, (void *)0x1));
    show("fstat_wild", syscall(SYS_fstat, fd, WILD));
    show("getcwd_1", syscall(SYS_getcwd, (char *)0x1, 100));
    show("readv_iov_wild", syscall(SYS_readv, fd, WILD, 1));
    struct iovec bad = {TOP, 0x20000};
    show("readv_iov_wrap", syscall(SYS_readv, fd, &bad, 1));
    show("readv_iovcnt_huge", syscall(SYS_readv, fd, &bad, (unsigned long)-1));

    /* Linux moves no data (and so not the file position) when the buffer is bad. */
    printf("pos_after_efault %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* Everything still works afterwards. */
    char buf[4];
    show("pread_ok", syscall(SYS_pread64, fd, buf, 4, 0));
    printf("magic %s\n", memcmp(buf, "\x7f" "ELF", 4) ? "wrong" : "ELF");
    show("close", syscall(SYS_close, fd));
    return 0;
}
