/* The clock page: time advances during pure computation (no system call
 * in between), monotonic never stands still or goes back, and realtime
 * agrees with the host.  Prints the realtime seconds for the test. */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static long ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

int main(void)
{
    long prev = ns(CLOCK_MONOTONIC), backwards = 0, still = 0;
    for (int i = 0; i < 100000; i++) {
        long now = ns(CLOCK_MONOTONIC);
        backwards += now < prev;
        still += now == prev;
        prev = now;
    }
    long back_us = 0;
    struct timeval tv0, tv1, first;
    gettimeofday(&tv0, NULL);
    first = tv0;
    for (int i = 0; i < 1000; i++, tv0 = tv1) {
        gettimeofday(&tv1, NULL);
        back_us += tv1.tv_sec < tv0.tv_sec || (tv1.tv_sec == tv0.tv_sec && tv1.tv_usec < tv0.tv_usec);
    }
    long moved_us = (tv0.tv_sec - first.tv_sec) * 1000000L + tv0.tv_usec - first.tv_usec;
    long start = ns(CLOCK_MONOTONIC);
    volatile unsigned long x = 0;
    while (ns(CLOCK_MONOTONIC) - start < 20000000L) /* 20 ms of spinning */
        for (int i = 0; i < 100000; i++)
            x += i;
    long a = ns(CLOCK_MONOTONIC);
    for (unsigned long i = 0; i < 50000000UL; i++) /* computation with no clock read */
        x += i;
    long b = ns(CLOCK_MONOTONIC);
    printf("backwards %ld still %ld advanced %d\n", backwards, still, b - a > 1000000L);
    printf("gettimeofday back %ld moved %d\n", back_us, moved_us > 0);
    printf("cpu %d\n", ns(CLOCK_PROCESS_CPUTIME_ID) > 20000000L);
    printf("realtime %ld\n", ns(CLOCK_REALTIME) / 1000000000L);
    return 0;
}
