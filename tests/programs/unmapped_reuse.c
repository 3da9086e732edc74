/* Memory unmapped and taken again reads as zeros, however it is taken
 * again: a new mapping (where the last one was, or fixed inside it), the
 * heap growing over it, a mapping growing over it in place or moving onto
 * it; also after more large unmaps than strictbox keeps unzeroed.
 * Each line is "<case> <1 if all zeros>".  With an argument, for the caller
 * to count round trips: "keep" maps 1 MiB and exits; "exit" unmaps it too;
 * "again" then maps 1 MiB again; "large" does as "again" with 16 MiB;
 * "heap" grows the heap by 1 MiB, gives it back and takes it again. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MB (1UL << 20)

static unsigned char *scribbled(void *at, size_t len, int flags)
{
    unsigned char *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        _exit(2);
    }
    memset(p, 0xAA, len);
    return p;
}

static int zeros(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        size_t len = strcmp(argv[1], "large") ? MB : 16 * MB;
        unsigned char *kept = scribbled(NULL, len, 0);
        if (!strcmp(argv[1], "keep"))
            return 0;
        munmap(kept, len);
        if (!strcmp(argv[1], "again") || !strcmp(argv[1], "large")) {
            unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            printf("%s %d\n", argv[1], p != MAP_FAILED && zeros(p, len));
        }
        if (!strcmp(argv[1], "heap")) {
            unsigned char *h = sbrk(MB);
            memset(h, 0xAA, MB);
            sbrk(-(intptr_t)MB);
            printf("heap %d\n", sbrk(MB) == h && zeros(h, MB));
        }
        return 0;
    }
    /* a new mapping where the old one was */
    unsigned char *p = scribbled(NULL, MB, 0);
    munmap(p, MB);
    unsigned char *q = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("remap %d\n", q != MAP_FAILED && zeros(q, MB));
    munmap(q, MB);

    /* a small fixed mapping inside it, then the rest */
    p = scribbled(NULL, MB, 0);
    munmap(p, MB);
    q = mmap(p + 256 * 1024, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed_inside %d\n", q != MAP_FAILED && zeros(q, 64 * 1024));
    unsigned char *r = mmap(p, 256 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed_before %d\n", r != MAP_FAILED && zeros(r, 256 * 1024));
    munmap(p, MB);

    /* the heap growing over it */
    uintptr_t brk_end = ((uintptr_t)sbrk(0) + 4095) & ~4095UL;
    p = scribbled((void *)brk_end, MB, MAP_FIXED);
    munmap(p, MB);
    if (sbrk(MB) == (void *)-1)
        return perror("sbrk"), 1;
    printf("heap %d\n", zeros(p, MB));
    memset(p, 0xAA, MB);
    sbrk(-(intptr_t)MB);

    /* the heap growing over what it gave back */
    if (sbrk(MB) != p)
        return perror("sbrk"), 1;
    printf("heap_again %d\n", zeros(p, MB));
    sbrk(-(intptr_t)MB);

    /* a mapping growing over it in place */
    p = scribbled(NULL, 2 * MB, 0);
    munmap(p + MB, MB);
    q = mremap(p, MB, 2 * MB, 0);
    printf("grow_in_place %d\n", q == p && zeros(p + MB, MB));
    munmap(p, 2 * MB);

    /* a mapping moving onto it */
    p = scribbled(NULL, 4 * MB, 0);
    munmap(p, 4 * MB);
    q = scribbled(NULL, 64 * 1024, 0);
    memset(q, 0, 64 * 1024);
    r = mremap(q, 64 * 1024, 4 * MB, MREMAP_MAYMOVE);
    printf("moved %d\n", r != MAP_FAILED && zeros(r, 4 * MB));
    munmap(r, 4 * MB);

    /* more unmapped at once than are kept: each one mapped again */
    unsigned char *many[24];
    for (int i = 0; i < 24; i++)
        many[i] = scribbled(NULL, MB, 0);
    for (int i = 0; i < 24; i++)
        munmap(many[i], MB);
    int all = 1;
    for (int i = 0; i < 24; i++) {
        unsigned char *m = mmap(many[i], MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        all &= m != MAP_FAILED && zeros(m, MB);
    }
    printf("many %d\n", all);
    return 0;
}
