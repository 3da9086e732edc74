/* Memory bombs: one huge mapping, then every mapping it can get, touched,
 * until the arena (the memory limit) is full; then a mapping placed over
 * memory outside the arena; finally a write past the arena's end, which is
 * a fault that ends the program.  The host's memory is never at stake: the
 * arena is all there is. */
#include "hostile.h"
#include <sys/mman.h>

int main(void)
{
    void *huge = mmap(NULL, 1UL << 40, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("mmap_1T", huge == MAP_FAILED ? -errno : 0);
    long chunks = 0;
    for (;;) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        for (long i = 0; i < 1 << 20; i += 4096)
            p[i] = 1;
        chunks++;
    }
    printf("chunks %s\n", chunks > 8 && chunks < 64 ? "up to the limit" : "unexpected");
    fflush(stdout);
    void *fixed = mmap((void *)0x7e0000000000UL, 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    show("mmap_fixed_over_clock_page", fixed == MAP_FAILED ? -errno : 0);
    void *low = mmap((void *)0x1000, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    show("mmap_fixed_below_arena", low == MAP_FAILED ? -errno : 0);
    show("brk_huge", (long)sbrk(1L << 40) == -1 ? -ENOMEM : 0);
    say("writing past the arena");
    *(volatile char *)(arena_end() + 4096) = 1;
    say("not reached");
    return 0;
}
