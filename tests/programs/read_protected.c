/* Reads into memory the program may not write: a read-only page, one it
 * gave back, one with no access, and a buffer that runs from a writable
 * page into a read-only one.  Each line: what read returned, the errno,
 * and what the pipe still holds after it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int p[2];

static void refill(void)
{
    char junk[64];
    while (read(p[0], junk, sizeof junk) > 0)
        ;
    write(p[1], "abcdefgh", 8);
}

static void try(const char *what, void *buf, size_t n)
{
    refill();
    errno = 0;
    long r = read(p[0], buf, n);
    int e = errno;
    char rest[16] = {0};
    long left = read(p[0], rest, sizeof rest - 1);
    printf("%s: %ld %s, then %ld %s\n", what, r, r < 0 ? strerror(e) : "", left, left > 0 ? rest : "");
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    pipe2(p, O_NONBLOCK);
    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m + page, page, PROT_READ);
    mprotect(m + 2 * page, page, PROT_NONE);
    munmap(m + 3 * page, page);
    try("writable", m, 4);
    try("read-only", m + page, 4);
    try("no access", m + 2 * page, 4);
    try("unmapped", m + 3 * page, 4);
    try("into read-only", m + page - 3, 6);
    mprotect(m + page, page, PROT_READ | PROT_WRITE);
    try("writable again", m + page, 4);
    return 0;
}
