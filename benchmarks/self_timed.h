/* What the self-timed helpers share: the clock their loops are timed with
 * (two reads per loop: inside strictbox each is a call the runtime serves
 * from the clock page) and the line run.py's parse_self_timed reads,
 * "WHAT ITERATIONS TOTAL_NS NS_PER_ITERATION". */
#ifndef SELF_TIMED_H
#define SELF_TIMED_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts)) {
        perror("clock_gettime");
        exit(2);
    }
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void report(const char *what, long n, long long t0, long long t1)
{
    printf("%s %ld %lld %.1f\n", what, n, t1 - t0, (double)(t1 - t0) / (double)n);
}
#endif
