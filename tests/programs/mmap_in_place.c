/* ld.so maps a library whole, then each segment MAP_FIXED over that mapping
 * at the same file offset; the runtime then keeps the bytes already there
 * instead of asking the broker to copy them again.  Every case here must
 * still see exactly the file's bytes, as on Linux, including the ones where
 * the bytes in place are not the file's any more.  "count N" only maps N
 * segments in place (the test compares broker round trips). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
static unsigned char want[2][8 * PG];

static int make(const char *path, int which)
{
    for (int i = 0; i < 8 * PG; i++)
        want[which][i] = (unsigned char)(i * 7 + i / PG + which * 101);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, want[which], sizeof want[which]) != (ssize_t)sizeof want[which])
        exit(2);
    close(fd);
    return open(path, O_RDONLY);
}

static void expect(const char *name, const unsigned char *p, int which, long off, long len)
{
    printf("%s %s\n", name, memcmp(p, want[which] + off, len) ? "wrong" : "ok");
}

static unsigned char *whole(int fd, int prot)
{
    unsigned char *p = mmap(NULL, 8 * PG, prot, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        exit(3);
    return p;
}

static void fixed(unsigned char *at, long len, int prot, int fd, long off)
{
    if (mmap(at, len, prot, MAP_PRIVATE | MAP_FIXED, fd, off) != at)
        exit(4);
}

int main(int argc, char **argv)
{
    int a = make("/tmp/mip_a", 0);
    if (argc > 2 && !strcmp(argv[1], "count")) {
        unsigned char *p = whole(a, PROT_READ);
        for (int i = 0; i < atoi(argv[2]); i++)
            fixed(p + PG, 2 * PG, PROT_READ | PROT_EXEC, a, PG);
        expect("count", p + PG, 0, PG, 2 * PG);
        return 0;
    }
    unsigned char *p = whole(a, PROT_READ);
    fixed(p + PG, 2 * PG, PROT_READ | PROT_EXEC, a, PG);
    expect("same_offset", p + PG, 0, PG, 2 * PG);
    fixed(p + 3 * PG, PG, PROT_READ, a, 0);
    expect("other_offset", p + 3 * PG, 0, 0, PG);
    munmap(p, 8 * PG);

    p = whole(a, PROT_READ);
    fixed(p + 4 * PG, 2 * PG, PROT_READ | PROT_WRITE, a, 4 * PG);
    p[4 * PG] ^= 0xff; /* a data segment the program writes */
    fixed(p + 4 * PG, 2 * PG, PROT_READ | PROT_WRITE, a, 4 * PG);
    expect("after_write_to_data", p + 4 * PG, 0, 4 * PG, 2 * PG);
    munmap(p, 8 * PG);

    p = whole(a, PROT_READ);
    mprotect(p, 8 * PG, PROT_READ | PROT_WRITE);
    memset(p + PG, 0x55, PG);
    fixed(p + PG, PG, PROT_READ, a, PG);
    expect("after_mprotect_write", p + PG, 0, PG, PG);
    munmap(p, 8 * PG);

    p = whole(a, PROT_READ | PROT_WRITE);
    memset(p + 2 * PG, 0x66, PG);
    fixed(p + 2 * PG, PG, PROT_READ, a, 2 * PG);
    expect("writable_whole", p + 2 * PG, 0, 2 * PG, PG);
    munmap(p, 8 * PG);

    p = whole(a, PROT_READ);
    close(a);
    int b = make("/tmp/mip_b", 1); /* the same fd number, another file */
    fixed(p + PG, 2 * PG, PROT_READ, b, PG);
    expect("fd_reused", p + PG, 1, PG, 2 * PG);
    munmap(p, 8 * PG);

    p = whole(b, PROT_READ);
    close(b); /* a close costs no round trip: the mapping must fail all the same */
    printf("closed_fd %s\n", mmap(p + PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, b, PG) == MAP_FAILED ? "ok" : "wrong");
    b = open("/tmp/mip_b", O_RDONLY);
    munmap(p, 8 * PG);

    p = whole(b, PROT_READ);
    madvise(p + PG, PG, MADV_DONTNEED);
    unsigned char *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fixed(p + PG, PG, PROT_READ, b, PG);
    expect("after_madvise", p + PG, 1, PG, PG);
    munmap(q, PG);
    munmap(p, 8 * PG);
    unlink("/tmp/mip_a");
    unlink("/tmp/mip_b");
    return 0;
}
