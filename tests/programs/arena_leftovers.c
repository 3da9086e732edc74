/* What one sandbox leaves in its memory, and what the next finds there.
 * "scribble": fills memory it maps, its heap, a large stack frame, and a
 * range it unmaps again with 0xA5, then exits (or, with "hang", waits to
 * be killed).  "scan": reads its whole arena, mapped or not, and prints
 * how many 64-byte runs of 0xA5 it holds ("runs 0": nothing came over). */
#define SB_CFFI
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "strictbox_abi.h"

#define MB (1UL << 20)

static void scribble_stack(void)
{
    volatile unsigned char frame[256 * 1024];
    memset((void *)frame, 0xA5, sizeof frame);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "scan")) {
        const struct sb_state *st = (const struct sb_state *)SB_ARENA_BASE;
        const unsigned char *p = (const unsigned char *)SB_ARENA_BASE;
        unsigned long n = st->boot.arena_size, runs = 0, run = 0;
        for (unsigned long i = 0; i < n; i++) {
            run = p[i] == 0xA5 ? run + 1 : 0;
            if (run == 64)
                runs++;
        }
        printf("runs %lu\n", runs);
        return 0;
    }
    unsigned char *m = mmap(NULL, 8 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *u = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *h = sbrk(2 * MB);
    if (m == MAP_FAILED || u == MAP_FAILED || h == (void *)-1)
        return 2;
    memset(m, 0xA5, 8 * MB);
    memset(u, 0xA5, 2 * MB);
    munmap(u, 2 * MB); /* (its zeroing waits for a reuse that never comes) */
    memset(h, 0xA5, 2 * MB);
    scribble_stack();
    printf("scribbled\n");
    fflush(stdout);
    if (argc > 2 && !strcmp(argv[2], "hang"))
        for (;;)
            pause();
    return 0;
}
