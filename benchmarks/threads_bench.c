/* threads_bench: the cost of pthread synchronisation, self-timed.
 *
 *   threads_bench mutex ITERATIONS      uncontended pthread_mutex_lock + unlock
 *   threads_bench pingpong ROUNDS       two threads hand a turn back and forth
 *                                       through one mutex and two condvars
 *   threads_bench spawn THREADS         start THREADS threads that all live at
 *                                       once (a barrier), then join them
 *
 * Prints "WHAT ITERATIONS TOTAL_NS NS_PER_ITERATION" (ns per lock/unlock
 * pair, per round: A hands to B and B hands back, two wake-ups, or per
 * thread started and joined).  The
 * loop is timed with two clock_gettime reads only.  An uncontended mutex
 * never enters the kernel, so inside strictbox it should cost what it
 * costs natively; the ping-pong is futex waits and wakes, which strictbox
 * serves in the sandbox.  Each thread spawn starts in a fresh sandbox
 * grows its thread pool by one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "self_timed.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t to_b = PTHREAD_COND_INITIALIZER, to_a = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: A's, 1: B's; under m */
static long rounds;
static pthread_barrier_t all_up;

static void *wait_for_all(void *arg)
{
    pthread_barrier_wait(&all_up);
    return arg;
}

static void *player_b(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    for (long i = 0; i < rounds; i++) {
        while (turn != 1)
            pthread_cond_wait(&to_b, &m);
        turn = 0;
        pthread_cond_signal(&to_a);
    }
    pthread_mutex_unlock(&m);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s mutex|pingpong|spawn ITERATIONS\n", argv[0]);
        return 2;
    }
    const char *what = argv[1];
    long n = atol(argv[2]);
    if (n < 1) {
        fprintf(stderr, "ITERATIONS must be positive\n");
        return 2;
    }
    long long t0, t1;
    if (!strcmp(what, "mutex")) {
        pthread_mutex_t lock;
        pthread_mutex_init(&lock, NULL);
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            pthread_mutex_lock(&lock);
            __asm__ volatile("" ::: "memory"); /* keep the pair in the loop */
            pthread_mutex_unlock(&lock);
        }
        t1 = now_ns();
    } else if (!strcmp(what, "pingpong")) {
        rounds = n;
        pthread_t b;
        if (pthread_create(&b, NULL, player_b, NULL)) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
        t0 = now_ns();
        pthread_mutex_lock(&m);
        for (long i = 0; i < n; i++) {
            turn = 1;
            pthread_cond_signal(&to_b);
            while (turn != 0)
                pthread_cond_wait(&to_a, &m);
        }
        pthread_mutex_unlock(&m);
        t1 = now_ns();
        pthread_join(b, NULL);
    } else if (!strcmp(what, "spawn")) {
        pthread_t *ts = calloc((size_t)n, sizeof *ts);
        pthread_barrier_init(&all_up, NULL, (unsigned)n + 1);
        t0 = now_ns();
        for (long i = 0; i < n; i++)
            if (pthread_create(&ts[i], NULL, wait_for_all, NULL)) {
                fprintf(stderr, "pthread_create failed\n");
                return 1;
            }
        pthread_barrier_wait(&all_up);
        for (long i = 0; i < n; i++)
            pthread_join(ts[i], NULL);
        t1 = now_ns();
        free(ts);
    } else {
        fprintf(stderr, "unknown benchmark %s\n", what);
        return 2;
    }
    report(what, n, t0, t1);
    return 0;
}
