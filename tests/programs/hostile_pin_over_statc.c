/* `1 ZEROS PATH...`: stat and open each path (a warm start learns them).
 * `2 ZEROS PATH...`: hide the thread count (live_threads = 0: the broker
 * keeps its warm answers unpublished), ask with a raw request for a file
 * of zeros mapped over the stat cache, let the broker finish its lookups,
 * then show one thread and make one request (lookups.publish writes the
 * stat cache then), and write "after". */
#include "hostile.h"
#include <sys/mman.h>
#include <sys/stat.h>

static long raw_request(long op, const uint64_t *a, int n)
{
    unsigned char msg[128], rep[64];
    uint64_t seq = thread0()->seq + 1;
    channel_write(msg, mp_request(msg, seq, op, a, n));
    long r = channel_read(rep, sizeof rep);
    thread0()->seq = seq;
    return r;
}

int main(int argc, char **argv)
{
    if (argv[1][0] == '1') {
        for (int i = 3; i < argc; i++) {
            struct stat s;
            int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
            stat(argv[i], &s);
            if (fd >= 0)
                close(fd);
        }
        say("learnt");
        return 0;
    }
    ST->live_threads = 0;
    int fd = open(argv[2], O_RDONLY);
    say("pinning");
    uint64_t a[6] = {0x41000, 0x20000, PROT_READ, MAP_PRIVATE, (uint64_t)fd, 0};
    raw_request(SYS_mmap, a, 6);
    for (volatile long i = 0; i < 200000000L; i++)
        ;
    ST->live_threads = 1;
    uint64_t none[6] = {0};
    raw_request(SYS_getppid, none, 6);
    allow_direct();
    raw3(SYS_write, 1, "after\n", 6);
    trap_again();
    return 0;
}
