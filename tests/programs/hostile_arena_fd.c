/* The sandbox holds an fd of its arena (the spawner maps it back over the
 * pinned image), and strict mode lets it write() there.  Writing the arena
 * onto itself up to its end and then one byte more must not grow it past
 * the memory limit: the memfd is sealed (F_SEAL_GROW).  (The fd is the
 * sandbox's own open file description: the offset its writes move is not
 * the one the broker's copies use.)  The program runs on. */
#include "hostile.h"
#include <sys/mman.h>

int main(void)
{
    int fd = -1;
    for (int i = 4095; i >= 1000 && fd < 0; i--) { /* the one fd up there */
        allow_direct();
        long r = raw3(SYS_read, i, 0, 0);
        trap_again();
        if (r == 0)
            fd = i;
    }
    show("found", fd >= 0);
    unsigned long size = ST->boot.arena_size, done = 0;
    while (done < size) { /* each byte onto itself: nothing changes */
        unsigned long n = size - done < (1UL << 20) ? size - done : 1UL << 20;
        allow_direct();
        long r = raw3(SYS_write, fd, SB_ARENA_BASE + done, n);
        trap_again();
        if (r <= 0)
            break;
        done += (unsigned long)r;
    }
    show("rewrote_all", done == size);
    allow_direct();
    long r = raw3(SYS_write, fd, SB_ARENA_BASE, 4096);
    trap_again();
    show("grow", r);
    int file = open("/proc/self/exe", O_RDONLY);
    unsigned char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, file, 0);
    show("elf", p != MAP_FAILED && p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F');
    return 0;
}
