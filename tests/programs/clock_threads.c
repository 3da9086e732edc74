/* THREADS threads each read the time READS times through a trapped call
 * (each read nudges the clock); prints how far CLOCK_MONOTONIC moved
 * meanwhile, in ns, which must not be more than the time that passed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long reads;

static void *work(void *arg)
{
    struct timeval tv;
    for (long i = 0; i < reads; i++)
        syscall(SYS_gettimeofday, &tv, NULL);
    return arg;
}

static long mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    reads = atol(argv[2]);
    pthread_t th[16];
    long t0 = mono();
    for (int i = 0; i < n && i < 16; i++)
        pthread_create(&th[i], NULL, work, NULL);
    for (int i = 0; i < n && i < 16; i++)
        pthread_join(th[i], NULL);
    printf("%ld\n", mono() - t0);
    return 0;
}
