/* Forges the fd changes the runtime queues for the broker (struct
 * sb_fdevent), then makes a broker call, which applies them first:
 *   forge     a warm open of a stat cache entry the broker holds nothing for
 *   in_use    a warm open of a held file (found in the stat cache) at fd 1
 *   twice     a held file opened for real, then "opened" again at fd 9
 *   closes    closes of fds the sandbox does not have (-5, 1000, 70000)
 *   zero_stat_cache PYC PY  opens PYC (the broker learns the bytecode tag),
 *             then 200 times: zeroes the stat cache and stats PY, which has
 *             the broker hold PYC again if it trusted the arena; prints how
 *             many held entries it saw at most ("held_seen N")
 * Each but `closes` must end the sandbox with a protocol violation;
 * `closes` goes on ("after ok"). */
#include "hostile.h"
#include <sys/stat.h>

static long held_entry(void)
{
    for (long i = 0; i < SB_STAT_CACHE; i++)
        if (ST->statc[i].used == SB_STAT_FOUND && ST->statc[i].held)
            return i;
    return -1;
}

static void queue(int fd, long entry, unsigned flags)
{
    unsigned n = ST->nfdevents;
    ST->fdevents[n].fd = fd;
    ST->fdevents[n].entry = (int)entry;
    ST->fdevents[n].flags = flags;
    ST->nfdevents = n + 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "forge")) {
        queue(9, held_entry() == 0 ? 1 : 0, O_CLOEXEC);
    } else if (!strcmp(mode, "in_use")) {
        long e = held_entry();
        show("held", e >= 0);
        queue(1, e, O_CLOEXEC);
    } else if (!strcmp(mode, "twice")) {
        long e = held_entry();
        show("held", e >= 0);
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        show("open", fd >= 0);
        queue(9, e, O_CLOEXEC);
    } else if (!strcmp(mode, "zero_stat_cache")) {
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        close(fd);
        long most = 0;
        for (int round = 0; round < 200; round++) {
            long n = 0;
            for (long i = 0; i < SB_STAT_CACHE; i++)
                n += ST->statc[i].held != 0;
            most = n > most ? n : most;
            memset((void *)ST->statc, 0, sizeof ST->statc);
            struct stat st;
            stat(argv[3], &st);
        }
        show("held_seen", most);
    } else if (!strcmp(mode, "closes")) {
        queue(-5, -1, 0);
        queue(1000, -1, 0);
        queue(70000, -1, 0);
    }
    show("after", CALL(SYS_getcwd, (char[64]){0}, 64) > 0 ? 0 : -1);
    return 0;
}
