/* Reads CLOCK_MONOTONIC 100000 times (in deterministic time only the reads
 * move it), then execs itself with the last reading: the new image's first
 * must not be earlier.  Prints "went back" or "went on". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        puts(mono() < atol(argv[1]) ? "went back" : "went on");
        return 0;
    }
    long last = 0;
    for (int i = 0; i < 100000; i++)
        last = mono();
    char arg[32];
    snprintf(arg, sizeof arg, "%ld", last);
    execl("/proc/self/exe", argv[0], arg, (char *)NULL);
    return 1;
}
