/* Learns CPython's bytecode tag (opens a __pycache__ file), asks with a raw
 * request for a file of zeros mapped over the prefetch slots (where the
 * broker copies files' first bytes), then stats a .py whose bytecode
 * exists N times with raw requests: each makes the broker hold the .pyc
 * for it (lookups.read_ahead).  `ZEROS PYC PY N`, then "done". */
#include "hostile.h"
#include <sys/mman.h>
#include <sys/stat.h>

static long raw_request(long op, const uint64_t *a)
{
    unsigned char msg[160], rep[64];
    uint64_t seq = thread0()->seq + 1;
    channel_write(msg, mp_request(msg, seq, op, a, 6));
    long r = channel_read(rep, sizeof rep);
    thread0()->seq = seq;
    return r;
}

int main(int argc, char **argv)
{
    int pyc = open(argv[2], O_RDONLY | O_CLOEXEC);
    int fd = open(argv[1], O_RDONLY);
    printf("pyc %d zeros %d\n", pyc >= 0, fd >= 0);
    fflush(stdout);
    uint64_t a[6] = {SB_PREFETCH_BASE, 16 * SB_PREFETCH_SLOT, PROT_READ, MAP_PRIVATE, (uint64_t)fd, 0};
    raw_request(SYS_mmap, a);
    static struct stat s;
    int n = atoi(argv[4]);
    for (int i = 0; i < n; i++) {
        uint64_t b[6] = {(uint64_t)(long)AT_FDCWD, (uint64_t)argv[3], (uint64_t)&s, 0, 0, 0};
        raw_request(SYS_newfstatat, b);
    }
    say("done");
    return 0;
}
