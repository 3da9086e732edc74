/* Sleeps 0.3 s and prints how long CLOCK_MONOTONIC says it slept. */
#include <stdio.h>
#include <time.h>
int main(void)
{
    struct timespec a, b, s = {0, 300000000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    nanosleep(&s, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("slept %.3f s\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
