/* A read-only file larger than a prefetch slot: its first 64 KiB are in the
 * sandbox; a small read past them moves that window on, the rest is read
 * through the broker at the runtime's offset.
 * Every read, pread, readv, lseek and dup here must give what Linux gives.
 * argv: head_prefetch FILE (made by the test: byte i is pattern(i)). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define SIZE 200000L
static unsigned char buf[SIZE + 100], *want;

static void check(const char *name, long r, long expect_r, long at)
{
    int same = r == expect_r && (r <= 0 || !memcmp(buf, want + at, r));
    printf("%s r=%ld %s\n", name, r, same ? "ok" : "wrong");
    memset(buf, 0, sizeof buf);
}

int main(int argc, char **argv)
{
    int fd = open(argv[1], O_RDONLY);
    want = malloc(SIZE);
    for (long i = 0; i < SIZE; i++)
        want[i] = (unsigned char)(i * 31 + i / 251);
    check("read_header", read(fd, buf, 832), 832, 0);
    check("pread_notes", pread(fd, buf, 784, 64), 784, 64);
    printf("cur %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 65530, SEEK_SET);
    check("read_across", read(fd, buf, 10), 10, 65530);
    printf("cur %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    check("read_past_slot", read(fd, buf, 100), 100, 65540);
    printf("cur %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    check("read_whole", read(fd, buf, SIZE + 1), SIZE, 0);
    check("read_at_end", read(fd, buf, 10), 0, 0);
    printf("end-5 %ld\n", (long)lseek(fd, -5, SEEK_END));
    check("read_tail", read(fd, buf, 10), 5, SIZE - 5);
    check("pread_across", pread(fd, buf, 100, 65500), 100, 65500);
    check("pread_beyond", pread(fd, buf, 10, 300000), 0, 0);
    lseek(fd, 100, SEEK_SET);
    struct iovec v[2] = {{buf, 40000}, {buf + 40000, 40000}};
    check("readv_across", readv(fd, v, 2), 80000, 100);
    printf("cur %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 1000, SEEK_SET);
    int d = dup(fd);
    check("read_dup", read(d, buf, 10), 10, 1000);
    printf("cur %ld %ld\n", (long)lseek(fd, 0, SEEK_CUR), (long)lseek(d, 0, SEEK_CUR));
    unsigned char *m = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("mmap %s\n", m != MAP_FAILED && !memcmp(m, want, SIZE) ? "ok" : "wrong");
    int again = open(argv[1], O_RDONLY);
    lseek(again, 70000, SEEK_SET);
    check("read_after_seek_past_slot", read(again, buf, 5000), 5000, 70000);
    check("read_back_in_slot", pread(again, buf, 5000, 100), 5000, 100);
    /* 1000-byte reads, which straddle each window's end, then preads that
     * go on from the window and one far behind it */
    int seq = open(argv[1], O_RDONLY);
    long total = 0, n, same = 1;
    while ((n = read(seq, buf, 1000)) > 0) {
        same &= !memcmp(buf, want + total, n);
        total += n;
    }
    printf("read_sequential %ld %s\n", total, same ? "ok" : "wrong");
    memset(buf, 0, sizeof buf);
    check("pread_after_end", pread(seq, buf, 10, SIZE - 3), 3, SIZE - 3);
    lseek(seq, 130000, SEEK_SET);
    check("read_window_moved", read(seq, buf, 3000), 3000, 130000);
    check("pread_on_from_window", pread(seq, buf, 2000, 133000), 2000, 133000);
    check("pread_straddling", pread(seq, buf, 3000, 130000 + 65536 - 1000), 3000, 130000 + 65536 - 1000);
    check("pread_far_behind", pread(seq, buf, 50, 7), 50, 7);
    check("read_resumes", read(seq, buf, 10), 10, 133000);
    return 0;
}
