/* mmap requests for a large read-only file (one the broker would pin),
 * written to the broker channel past the runtime, for ranges the runtime
 * never asks: outside the arena, across its end.  Each gets EFAULT, and
 * the broker keeps no fd for any.  `hostile_mmap_raw PATH` */
#include "hostile.h"
#include <sys/mman.h>

static long request(const uint64_t *a)
{
    unsigned char msg[128], rep[64];
    uint64_t seq = thread0()->seq + 1;
    channel_write(msg, mp_request(msg, seq, SYS_mmap, a, 6));
    long n = channel_read(rep, sizeof rep);
    thread0()->seq = seq;
    /* [seq, result] with a negative fixint result: 0x92, seq, 0xe0..0xff */
    return n >= 3 && rep[n - 1] >= 0xe0 ? (long)(signed char)rep[n - 1] : 0;
}

int main(int argc, char **argv)
{
    int fd = open(argv[1], O_RDONLY);
    uint64_t wild[6] = {WILD, 1 << 20, PROT_READ, MAP_PRIVATE, (uint64_t)fd, 0};
    uint64_t across[6] = {arena_end() - 4096, 1 << 20, PROT_READ, MAP_PRIVATE, (uint64_t)fd, 0};
    long r[2] = {0};
    for (int i = 0; i < 300; i++) {
        r[0] += request(wild) == -EFAULT;
        r[1] += request(across) == -EFAULT;
    }
    show("outside_efault", r[0]);
    show("across_the_end_efault", r[1]);
    return 0;
}
