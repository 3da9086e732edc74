/* Directory listings: the end of a directory on a read-only mount is
 * answered by the runtime, so every way of reading it must still give what
 * Linux gives: all entries once, 0 at the end (again and again), everything
 * again after a rewind, on a dup, after lseek on a dup, and with a buffer
 * too small for more than one entry. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[65536];

static long gd(int fd, size_t n) { return syscall(SYS_getdents64, fd, buf, n); }

/* Entries until the end, with buffers of n bytes; then three more calls. */
static void list(const char *name, int fd, size_t n)
{
    long total = 0, r, calls = 0;
    while ((r = gd(fd, n)) > 0) {
        for (long off = 0; off < r; off += *(unsigned short *)(buf + off + 16))
            total++;
        calls++;
    }
    long after = gd(fd, n) + gd(fd, n) + gd(fd, n);
    printf("%s entries=%ld last=%ld after=%ld\n", name, total, r, after);
}

int main(int argc, char **argv)
{
    const char *dir = argv[1];
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return perror("open"), 1;
    list("first", fd, sizeof buf);
    lseek(fd, 0, SEEK_SET);
    list("rewound", fd, sizeof buf);
    int d = dup(fd);
    list("dup_at_end", d, sizeof buf);
    lseek(d, 0, SEEK_SET); /* moves fd too: they share the position */
    list("after_dup_seek", fd, sizeof buf);
    lseek(fd, 0, SEEK_SET);
    list("small_buffer", fd, 300);
    close(fd);
    close(d);
    int e = open(dir, O_RDONLY | O_DIRECTORY);
    list("reopened", e, sizeof buf);
    if (argc > 2) { /* count: N more listings (the test compares round trips) */
        for (int i = 0; i < atoi(argv[2]); i++) {
            lseek(e, 0, SEEK_SET);
            while (gd(e, sizeof buf) > 0)
                ;
        }
    }
    return 0;
}
