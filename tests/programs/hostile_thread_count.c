/* Lies about its thread count to the broker: it computes long enough for
 * the broker to look up a warm start's paths beside it, then says it has
 * two threads (sb_state.live_threads, which the broker reads) while making
 * one request, takes the count back and looks its paths up (stat, then
 * open and close), one line each.  The broker must drop what it looked up
 * for it, closing the files it held, and answer each lookup itself. */
#define SB_CFFI
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "strictbox_abi.h"

int main(int argc, char **argv)
{
    volatile struct sb_state *st = (volatile struct sb_state *)SB_ARENA_BASE;
    if (argc > 1 && argv[1][0] == '2') {
        for (volatile long i = 0; i < 100000000L; i++) /* no system call: the broker is idle */
            ;
        st->live_threads = 2;
        getgroups(0, NULL); /* a request while "two threads" run */
        st->live_threads = 1;
    }
    for (int i = 2; i < argc; i++) {
        struct stat s;
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        printf("%s stat %d open %d\n", argv[i], stat(argv[i], &s) == 0 ? (int)s.st_size : -1, fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
