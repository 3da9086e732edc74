/* A pthread stress test with a checked result: NTHREADS threads (32) each do
 * OPS operations (10,000) in four phases separated by a barrier:
 *
 *   mutex    striped normal and recursive mutexes guarding counters
 *   rwlock   writers keep a == b, readers check it under the read lock
 *   queue    producers and consumers on a bounded ring (mutex + 2 condvars)
 *   barrier  rounds in which the serial thread checks every slot
 *
 *   threads_stress [OPS [NTHREADS]]
 *
 * Prints the final counters and their expected values, one phase a line, and
 * "all ok"; exits 0 only if every check holds (1 otherwise).  Nothing in the
 * output depends on timing, addresses or thread ids, so a native run and a
 * sandboxed one print the same bytes. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 256
#define STRIPES 4
#define RING 64

static long OPS = 10000;
static int NT = 32;

static pthread_barrier_t phase;

/* mutex phase */
static pthread_mutex_t stripe_lock[STRIPES];
static long stripe_count[STRIPES];
static pthread_mutex_t rec_lock;
static long rec_count;

/* rwlock phase */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile long rw_a, rw_b;
static long rw_violations, rw_reads; /* updated atomically */

/* queue phase */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;
static long q_ring[RING];
static int q_head, q_len;
static long q_produced, q_consumed, q_max_len, q_sum; /* under q_lock */
static unsigned long q_xor;

/* barrier phase */
static long slot[MAXT];
static long bar_serial, bar_bad; /* updated atomically */

static void put(long v)
{
    pthread_mutex_lock(&q_lock);
    while (q_len == RING)
        pthread_cond_wait(&q_not_full, &q_lock);
    q_ring[(q_head + q_len) % RING] = v;
    q_len++;
    q_produced++;
    if (q_len > q_max_len)
        q_max_len = q_len;
    pthread_cond_signal(&q_not_empty);
    pthread_mutex_unlock(&q_lock);
}

static long take(void)
{
    pthread_mutex_lock(&q_lock);
    while (q_len == 0)
        pthread_cond_wait(&q_not_empty, &q_lock);
    long v = q_ring[q_head];
    q_head = (q_head + 1) % RING;
    q_len--;
    q_consumed++;
    q_sum += v;
    q_xor ^= (unsigned long)v * 0x9e3779b97f4a7c15UL;
    pthread_cond_signal(&q_not_full);
    pthread_mutex_unlock(&q_lock);
    return v;
}

static void *worker(void *arg)
{
    int t = (int)(long)arg;

    /* 1. mutexes */
    for (long i = 0; i < OPS; i++) {
        int s = (int)((i + t) % STRIPES);
        if (i % 10 == 0) {
            pthread_mutex_lock(&rec_lock);
            pthread_mutex_lock(&rec_lock); /* recursive: locked twice */
            rec_count++;
            pthread_mutex_unlock(&rec_lock);
            pthread_mutex_unlock(&rec_lock);
        }
        if (i % 7 == 3 && pthread_mutex_trylock(&stripe_lock[s]) == 0) {
            stripe_count[s]++;
            pthread_mutex_unlock(&stripe_lock[s]);
            continue;
        }
        pthread_mutex_lock(&stripe_lock[s]);
        stripe_count[s]++;
        pthread_mutex_unlock(&stripe_lock[s]);
    }
    pthread_barrier_wait(&phase);

    /* 2. rwlock: thread t writes on the ops where i % 8 == t % 8 */
    for (long i = 0; i < OPS; i++) {
        if (i % 8 == t % 8) {
            pthread_rwlock_wrlock(&rw);
            rw_a++;
            for (volatile int k = 0; k < 20; k++) /* widen the window a reader could see */
                ;
            rw_b++;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            long a = rw_a, b = rw_b;
            pthread_rwlock_unlock(&rw);
            if (a != b)
                __atomic_fetch_add(&rw_violations, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&rw_reads, 1, __ATOMIC_RELAXED);
        }
    }
    pthread_barrier_wait(&phase);

    /* 3. bounded queue: even threads produce OPS items, odd threads take OPS */
    if (t % 2 == 0) {
        for (long i = 0; i < OPS; i++)
            put((long)t * OPS + i + 1);
    } else {
        for (long i = 0; i < OPS; i++)
            take();
    }
    pthread_barrier_wait(&phase);

    /* 4. barrier rounds: OPS / 100 of them, two waits each */
    long rounds = OPS / 100;
    for (long r = 1; r <= rounds; r++) {
        slot[t] = r * (t + 1);
        int ret = pthread_barrier_wait(&phase);
        if (ret == PTHREAD_BARRIER_SERIAL_THREAD) {
            __atomic_fetch_add(&bar_serial, 1, __ATOMIC_RELAXED);
            long sum = 0;
            for (int k = 0; k < NT; k++)
                sum += slot[k];
            if (sum != r * (long)NT * (NT + 1) / 2)
                __atomic_fetch_add(&bar_bad, 1, __ATOMIC_RELAXED);
        } else if (ret != 0) {
            __atomic_fetch_add(&bar_bad, 1, __ATOMIC_RELAXED);
        }
        pthread_barrier_wait(&phase); /* nobody rewrites a slot before it was summed */
    }
    return (void *)(long)(t + 1000);
}

static int check(int ok, const char *what)
{
    printf("%s %s\n", what, ok ? "ok" : "FAILED");
    return ok;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        OPS = atol(argv[1]);
    if (argc > 2)
        NT = atoi(argv[2]);
    if (OPS < 100 || OPS % 100 || NT < 2 || NT % 2 || NT > MAXT) {
        fprintf(stderr, "usage: threads_stress [OPS (a multiple of 100)] [NTHREADS (even, <= %d)]\n",
                MAXT);
        return 2;
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&rec_lock, &ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    for (int s = 0; s < STRIPES; s++)
        pthread_mutex_init(&stripe_lock[s], s % 2 ? &ma : NULL);
    pthread_barrier_init(&phase, NULL, (unsigned)NT);

    pthread_t th[MAXT];
    for (int t = 0; t < NT; t++) {
        int e = pthread_create(&th[t], NULL, worker, (void *)(long)t);
        if (e) {
            printf("pthread_create %d failed: %s\n", t, strerror(e));
            return 1;
        }
    }
    int joined_ok = 1;
    for (int t = 0; t < NT; t++) {
        void *ret;
        if (pthread_join(th[t], &ret) || ret != (void *)(long)(t + 1000))
            joined_ok = 0;
    }

    int ok = 1;
    printf("threads %d ops %ld\n", NT, OPS);
    ok &= check(joined_ok, "join all returned their values");

    long per_stripe = (long)NT * OPS / STRIPES, total = 0;
    int stripes_ok = (long)NT * OPS % STRIPES == 0;
    for (int s = 0; s < STRIPES; s++) {
        total += stripe_count[s];
        stripes_ok &= stripe_count[s] == per_stripe;
    }
    printf("mutex stripes %ld %ld %ld %ld total %ld recursive %ld\n", stripe_count[0],
           stripe_count[1], stripe_count[2], stripe_count[3], total, rec_count);
    ok &= check(stripes_ok && total == NT * OPS && rec_count == NT * (OPS / 10),
                "mutex counters");

    long writes = (long)NT * (OPS / 8) + 0;
    for (int t = 0; t < NT; t++) /* ops i < OPS with i % 8 == t % 8, beyond the full eights */
        writes += (OPS % 8) > (t % 8);
    printf("rwlock writes %ld %ld reads %ld violations %ld\n", rw_a, rw_b, rw_reads, rw_violations);
    ok &= check(rw_a == writes && rw_b == writes && rw_reads == NT * OPS - writes &&
                rw_violations == 0, "rwlock");

    long items = (long)(NT / 2) * OPS, want_sum = 0;
    unsigned long want_xor = 0;
    for (int t = 0; t < NT; t += 2)
        for (long i = 0; i < OPS; i++) {
            long v = (long)t * OPS + i + 1;
            want_sum += v;
            want_xor ^= (unsigned long)v * 0x9e3779b97f4a7c15UL;
        }
    printf("queue produced %ld consumed %ld left %d sum %ld xor %016lx bounded %d\n", q_produced,
           q_consumed, q_len, q_sum, q_xor, q_max_len <= RING);
    ok &= check(q_produced == items && q_consumed == items && q_len == 0 && q_sum == want_sum &&
                q_xor == want_xor && q_max_len <= RING, "queue");

    printf("barrier rounds %ld serial %ld bad %ld\n", OPS / 100, bar_serial, bar_bad);
    ok &= check(bar_serial == OPS / 100 && bar_bad == 0, "barrier");

    pthread_barrier_destroy(&phase);
    printf("%s\n", ok ? "all ok" : "SOME CHECKS FAILED");
    return ok ? 0 : 1;
}
