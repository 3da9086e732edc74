/* Offsets and answers of a prefetched (read-only, small) file must be what
 * Linux gives: read, readv, pread, lseek, fstat, isatty, dup sharing the
 * offset, and the offset surviving exec.  argv: prefetch FILE [small-reads | live | close | child FD] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long r, const char *buf)
{
    printf("%s: %ld [%.*s]\n", what, r, r > 0 ? (int)r : 0, buf);
}

int main(int argc, char **argv)
{
    char buf[64];
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 4) { /* after exec: the offset is where the parent left it */
        int fd = atoi(argv[3]);
        long r = read(fd, buf, 5);
        show("after exec", r, buf);
        return 0;
    }
    int fd = open(argv[1], O_RDONLY);
    if (argc == 3 && !strcmp(argv[2], "live")) { /* a writable file changes under its reader */
        int w = open(argv[1], O_WRONLY | O_APPEND);
        write(w, "two\n", 4);
        struct stat st;
        fstat(fd, &st);
        long n = read(fd, buf, sizeof buf);
        printf("size %ld read %ld [%.*s]\n", (long)st.st_size, n, (int)n, buf);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[2], "close")) { /* closes are queued, never lost */
        close(fd);
        long r = read(fd, buf, 1);
        printf("read after close: %ld %s\n", r, strerror(errno));
        r = close(fd);
        printf("close again: %ld %s\n", r, strerror(errno));
        int a = open(argv[1], O_RDONLY), b = open(argv[1], O_RDONLY);
        close(a);
        printf("lowest number reused: %d\n", open(argv[1], O_RDONLY) == a);
        printf("b still open: %ld\n", (long)read(b, buf, 3));
        return 0;
    }
    if (argc == 3) { /* small-reads */
        long total = 0, n;
        while ((n = read(fd, buf, 4)) > 0)
            total += n;
        printf("read %ld bytes\n", total);
        return 0;
    }
    struct stat st;
    fstat(fd, &st);
    printf("size %ld isatty %d (%s)\n", (long)st.st_size, isatty(fd), strerror(errno));
    show("read 4", read(fd, buf, 4), buf);
    printf("SEEK_CUR %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    show("pread 3 at 10", pread(fd, buf, 3, 10), buf);
    printf("SEEK_CUR after pread %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    char a[3], b[5];
    struct iovec v[2] = {{a, sizeof a}, {b, sizeof b}};
    long r = readv(fd, v, 2);
    printf("readv %ld [%.3s|%.5s]\n", r, a, b);
    printf("SEEK_END-2 %ld\n", (long)lseek(fd, -2, SEEK_END));
    show("read at end", read(fd, buf, sizeof buf), buf);
    show("read past end", read(fd, buf, sizeof buf), buf);
    printf("SEEK_SET -1: %ld %s\n", (long)lseek(fd, -1, SEEK_SET), strerror(errno));
    printf("SEEK_SET 100: %ld\n", (long)lseek(fd, 100, SEEK_SET));
    show("read beyond", read(fd, buf, 4), buf);
    printf("pread -1: %ld %s\n", (long)pread(fd, buf, 1, -1), strerror(errno));
    lseek(fd, 6, SEEK_SET);
    int twin = dup(fd);
    show("read via dup", read(twin, buf, 3), buf);
    show("read via original", read(fd, buf, 3), buf);
    printf("SEEK_CUR both %ld %ld\n", (long)lseek(fd, 0, SEEK_CUR), (long)lseek(twin, 0, SEEK_CUR));
    printf("SEEK_DATA %ld\n", (long)lseek(fd, 0, SEEK_DATA));
    int again = open(argv[1], O_RDONLY);
    lseek(again, 20, SEEK_SET);
    char fdnum[16];
    snprintf(fdnum, sizeof fdnum, "%d", again);
    char *child[] = {argv[0], argv[1], "child", fdnum, NULL};
    execv(argv[0], child);
    return 1;
}
