/* Threads, futexes and asynchronous signals, one subcommand at a time:
 *
 *   threads_basic create N        create/join N threads: values, tids, getpid
 *   threads_basic churn           create and join 300 threads 10 at a time, 100 detached
 *   threads_basic rawclone        raw clone(): SETTLS, PARENT_SETTID, CHILD_SETTID, CHILD_CLEARTID
 *   threads_basic tls             __thread variables, pthread keys and errno per thread
 *   threads_basic futex           raw futex ops, private and shared (see do_futex)
 *   threads_basic robust          a robust mutex whose owner dies: EOWNERDEAD
 *   threads_basic limit MAX       create blocked threads until pthread_create fails (at most MAX)
 *   threads_basic exit_group      a worker calls exit(42) while the others spin, sleep, block
 *   threads_basic exit_main       main returns 5 while the workers block
 *   threads_basic pthread_exit    main calls pthread_exit; the last worker ends the process
 *   threads_basic sig_self        kill/raise/tgkill to itself, siginfo, SIG_IGN
 *   threads_basic sig_thread      tgkill/tkill to a sibling; process signal to the unblocked thread
 *   threads_basic sig_mask        blocked signals stay pending; sigtimedwait; unblock delivers
 *   threads_basic alarm           alarm() cuts a pipe read short (EINTR); with SA_RESTART it is restarted
 *   threads_basic itimer          setitimer(ITIMER_REAL) periodic ticks wake pause()
 *   threads_basic timer           timer_create(SIGEV_SIGNAL) periodic ticks wake sigsuspend()
 *   threads_basic raise_default   raise(SIGTERM) with the default action: killed by SIGTERM
 *   threads_basic blocking        a read, a poll, a condvar wait and a sleep each block only their thread
 *
 * Every line printed is the same natively and sandboxed: no addresses,
 * thread ids or timings, only comparisons of them (0/1) and errno names.
 * Exit status 0 unless the subcommand says otherwise; "FAILED" lines and
 * status 1 when a step that must not fail did. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>

static int failures;

#define CHECK(cond, what)                                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAILED %s (line %d)\n", what, __LINE__);                  \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static const char *ename(long e)
{
    if (e == 0)
        return "0";
    const char *n = strerrorname_np((int)(e < 0 ? -e : e));
    return n ? n : "E?";
}

static long tid(void) { return syscall(SYS_gettid); }

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static long long now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec ts_at(long long ns)
{
    struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
    return ts;
}

/* Waits (up to 20 s) for *flag to become nonzero. */
static int await_flag(volatile int *flag)
{
    for (int i = 0; i < 20000; i++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
            return 1;
        msleep(1);
    }
    return 0;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int e = pthread_create(&t, NULL, fn, arg);
    if (e) {
        printf("FAILED pthread_create: %s\n", ename(e));
        exit(1);
    }
    return t;
}

/* ---- create, churn ---------------------------------------------------- */

static long tids[1024];
static pid_t pids[1024];
static pthread_t selves[1024];

static void *create_worker(void *arg)
{
    long i = (long)arg, sum = 0;
    for (long k = 1; k <= i; k++)
        sum += k * k;
    tids[i] = tid();
    pids[i] = getpid();
    selves[i] = pthread_self();
    return (void *)sum;
}

static int do_create(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 8;
    if (n < 1 || n > 1000)
        n = 8;
    pthread_t th[1000];
    for (long i = 0; i < n; i++)
        th[i] = spawn(create_worker, (void *)(i + 1));
    long total = 0;
    int values_ok = 1;
    for (long i = 0; i < n; i++) {
        void *ret;
        int e = pthread_join(th[i], &ret);
        long want = 0;
        for (long k = 1; k <= i + 1; k++)
            want += k * k;
        values_ok &= e == 0 && (long)ret == want;
        total += (long)ret;
    }
    tids[0] = tid();
    int distinct = 1, pid_same = 1, self_ok = 1;
    for (int i = 0; i <= n; i++)
        for (int j = 0; j < i; j++)
            distinct &= tids[i] != tids[j];
    for (int i = 1; i <= n; i++) {
        pid_same &= pids[i] == getpid();
        self_ok &= pthread_equal(selves[i], th[i - 1]);
    }
    printf("created %d joined %d values %d total %ld\n", n, n, values_ok, total);
    printf("tids distinct %d main tid is pid %d threads share pid %d pthread_self %d\n", distinct,
           tids[0] == getpid(), pid_same, self_ok);
    return 0;
}

static int churn_left;

static void *churn_detached(void *arg)
{
    (void)arg;
    __atomic_fetch_sub(&churn_left, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *churn_joined(void *arg) { return (void *)((long)arg * 3); }

static int do_churn(void)
{
    long sum = 0, want = 0;
    for (int batch = 0; batch < 30; batch++) {
        pthread_t th[10];
        for (long i = 0; i < 10; i++)
            th[i] = spawn(churn_joined, (void *)(batch * 10 + i));
        for (int i = 0; i < 10; i++) {
            void *r;
            pthread_join(th[i], &r);
            sum += (long)r;
            want += (batch * 10 + i) * 3;
        }
    }
    printf("joined 300 sum ok %d\n", sum == want);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int made = 0;
    for (int batch = 0; batch < 10; batch++) {
        __atomic_store_n(&churn_left, 10, __ATOMIC_RELEASE);
        for (int i = 0; i < 10; i++) {
            pthread_t t;
            int e;
            /* a detached thread's slot is free only once it has really exited */
            for (int tries = 0; (e = pthread_create(&t, &a, churn_detached, NULL)) == EAGAIN &&
                                tries < 1000; tries++)
                msleep(1);
            made += e == 0;
        }
        while (__atomic_load_n(&churn_left, __ATOMIC_ACQUIRE) > 0)
            msleep(1);
    }
    printf("detached %d all ran 1\n", made);
    return 0;
}

/* ---- raw clone -------------------------------------------------------- */

static volatile pid_t rc_ptid, rc_ctid;
static volatile long rc_seen_ctid, rc_seen_tid, rc_seen_fs;

static int rawclone_child(void *arg)
{
    (void)arg;
    long fs = 0;
    rc_seen_tid = syscall(SYS_gettid);
    rc_seen_ctid = rc_ctid;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    rc_seen_fs = fs;
    return 0; /* glibc's clone() then calls exit: only this thread ends */
}

static int do_rawclone(void)
{
    size_t sz = 256 << 10;
    char *stack = malloc(sz);
    long fs = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs); /* the child shares the main thread's TLS */
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    rc_ctid = -1;
    int r = clone(rawclone_child, stack + sz, flags, NULL, (pid_t *)&rc_ptid, (void *)fs,
                  (pid_t *)&rc_ctid);
    printf("clone returned tid %d\n", r > 0 && r != getpid());
    if (r <= 0) {
        printf("FAILED clone: %s\n", ename(errno));
        return 1;
    }
    /* CLONE_CHILD_CLEARTID: the kernel zeroes rc_ctid and wakes one (shared) waiter */
    int waits = 0;
    for (;;) {
        pid_t v = rc_ctid;
        if (v == 0)
            break;
        syscall(SYS_futex, &rc_ctid, FUTEX_WAIT, v, NULL, NULL, 0);
        waits++;
    }
    printf("parent_settid %d\n", rc_ptid == r);
    printf("child_settid %d\n", rc_seen_ctid == r && rc_seen_tid == r);
    printf("child_cleartid %d\n", rc_ctid == 0);
    printf("settls %d\n", rc_seen_fs == fs);
    free(stack);
    return 0;
}

/* ---- TLS ---------------------------------------------------------------- */

static __thread long tls_value = 7;
static __thread char tls_big[4096] = {'x'};
static pthread_key_t tls_key;
static int key_destructors;
static pthread_barrier_t tls_bar;
static long tls_seen_initial[16], tls_ok[16], tls_errno_ok[16];
static uintptr_t tls_addr[16];

static void key_destructor(void *p)
{
    __atomic_fetch_add(&key_destructors, 1, __ATOMIC_RELAXED);
    free(p);
}

static void *tls_worker(void *arg)
{
    long i = (long)arg;
    tls_seen_initial[i] = tls_value == 7 && tls_big[0] == 'x' && tls_big[1] == 0;
    tls_addr[i] = (uintptr_t)&tls_value;
    tls_value = 100 + i;
    tls_big[4095] = (char)i;
    long *mine = malloc(sizeof *mine);
    *mine = 1000 + i;
    pthread_setspecific(tls_key, mine);
    errno = (int)(i + 1);
    pthread_barrier_wait(&tls_bar); /* everyone has written their own copies */
    msleep(5);
    pthread_barrier_wait(&tls_bar);
    tls_ok[i] = tls_value == 100 + i && tls_big[4095] == (char)i &&
                *(long *)pthread_getspecific(tls_key) == 1000 + i;
    tls_errno_ok[i] = errno == (int)(i + 1);
    return NULL;
}

static int do_tls(void)
{
    enum { N = 8 };
    pthread_key_create(&tls_key, key_destructor);
    pthread_barrier_init(&tls_bar, NULL, N);
    tls_value = -1;
    pthread_t th[N];
    for (long i = 0; i < N; i++)
        th[i] = spawn(tls_worker, (void *)i);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    int initial = 1, kept = 1, errnos = 1, distinct = 1;
    for (int i = 0; i < N; i++) {
        initial &= tls_seen_initial[i];
        kept &= tls_ok[i];
        errnos &= tls_errno_ok[i];
        for (int j = 0; j < i; j++)
            distinct &= tls_addr[i] != tls_addr[j];
    }
    printf("threads %d initial image %d own values kept %d errno per thread %d distinct addresses %d\n",
           N, initial, kept, errnos, distinct);
    printf("main value untouched %d key destructors %d\n", tls_value == -1, key_destructors);
    return 0;
}

/* ---- futex ------------------------------------------------------------- */

static long fx(volatile int *uaddr, int op, int val, long val2, volatile int *uaddr2, int val3)
{
    long r = syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
    return r < 0 ? -errno : r;
}

static long fx_wait(volatile int *uaddr, int op, int val, const struct timespec *ts, unsigned bitset)
{
    return fx(uaddr, op, val, (long)ts, NULL, (int)bitset);
}

struct waiter {
    volatile int *addr;
    int op, val;
    unsigned bitset;
    long ret;
    int done;
    pthread_t th;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->ret = fx_wait(w->addr, w->op, w->val, NULL, w->bitset);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void start_waiter(struct waiter *w, volatile int *addr, int op, int val, unsigned bitset)
{
    w->addr = addr, w->op = op, w->val = val, w->bitset = bitset, w->ret = 99, w->done = 0;
    w->th = spawn(waiter_main, w);
}

static volatile int park;

/* How many threads wait on *addr, without waking any: requeue them all to
 * `park` and straight back (a requeue keeps each waiter's bitset). */
static long count_waiters(volatile int *addr, int pflag)
{
    long n = fx(addr, FUTEX_CMP_REQUEUE | pflag, 0, INT_MAX, &park, *addr);
    long m = fx(&park, FUTEX_CMP_REQUEUE | pflag, 0, INT_MAX, addr, park);
    return n < 0 ? n : m < 0 ? m : n;
}

static int settle(volatile int *addr, int pflag, long want)
{
    for (int i = 0; i < 20000; i++) {
        if (count_waiters(addr, pflag) == want)
            return 1;
        msleep(1);
    }
    printf("FAILED to see %ld waiters\n", want);
    failures++;
    return 0;
}

static void join_waiter(struct waiter *w) { pthread_join(w->th, NULL); }

static void futex_flavour(const char *fl, int pf)
{
    volatile int a = 0, b = 0;
    struct timespec rel = {0, 20 * 1000000L}, bad = {0, 2000000000L};
    long long t0, t1, dl;
    long r;

    /* value mismatch, bad arguments, nobody to wake */
    a = 1;
    printf("%s wait_mismatch %s\n", fl, ename(fx_wait(&a, FUTEX_WAIT | pf, 0, NULL, 0)));
    printf("%s wait_bitset_mismatch %s\n", fl,
           ename(fx_wait(&a, FUTEX_WAIT_BITSET | pf, 0, NULL, FUTEX_BITSET_MATCH_ANY)));
    printf("%s wait_bitset_zero %s\n", fl, ename(fx_wait(&a, FUTEX_WAIT_BITSET | pf, 1, NULL, 0)));
    printf("%s wake_bitset_zero %s\n", fl, ename(fx(&a, FUTEX_WAKE_BITSET | pf, 1, 0, NULL, 0)));
    printf("%s wait_bad_timeout %s\n", fl, ename(fx_wait(&a, FUTEX_WAIT | pf, 1, &bad, 0)));
    printf("%s wait_unaligned %s\n", fl,
           ename(fx_wait((volatile int *)((char *)&a + 1), FUTEX_WAIT | pf, 0, NULL, 0)));
    printf("%s wake_nobody %ld\n", fl, fx(&a, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0));
    printf("%s unknown_op %s\n", fl, ename(fx(&a, 99 | pf, 0, 0, NULL, 0)));
    a = 0;

    /* timeouts: relative, absolute on CLOCK_MONOTONIC and CLOCK_REALTIME, already past */
    t0 = now_ns(CLOCK_MONOTONIC);
    r = fx_wait(&a, FUTEX_WAIT | pf, 0, &rel, 0);
    t1 = now_ns(CLOCK_MONOTONIC);
    printf("%s wait_relative %s waited_enough %d\n", fl, ename(r), t1 - t0 >= 20000000LL);

    dl = now_ns(CLOCK_MONOTONIC) + 20000000LL;
    struct timespec abs_m = ts_at(dl);
    r = fx_wait(&a, FUTEX_WAIT_BITSET | pf, 0, &abs_m, FUTEX_BITSET_MATCH_ANY);
    printf("%s wait_bitset_abs_monotonic %s past_deadline %d\n", fl, ename(r),
           now_ns(CLOCK_MONOTONIC) >= dl);

    dl = now_ns(CLOCK_REALTIME) + 20000000LL;
    struct timespec abs_r = ts_at(dl);
    r = fx_wait(&a, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | pf, 0, &abs_r, FUTEX_BITSET_MATCH_ANY);
    printf("%s wait_bitset_abs_realtime %s past_deadline %d\n", fl, ename(r),
           now_ns(CLOCK_REALTIME) >= dl);

    struct timespec past = ts_at(now_ns(CLOCK_MONOTONIC) - 1000000000LL);
    r = fx_wait(&a, FUTEX_WAIT_BITSET | pf, 0, &past, FUTEX_BITSET_MATCH_ANY);
    printf("%s wait_bitset_abs_past %s\n", fl, ename(r));
    struct timespec zero = {0, 0};
    printf("%s wait_relative_zero %s\n", fl, ename(fx_wait(&a, FUTEX_WAIT | pf, 0, &zero, 0)));

    /* WAIT / WAKE: three waiters, wake two, then the rest */
    struct waiter w[3];
    for (int i = 0; i < 3; i++)
        start_waiter(&w[i], &a, FUTEX_WAIT | pf, 0, 0);
    settle(&a, pf, 3);
    r = fx(&a, FUTEX_WAKE | pf, 2, 0, NULL, 0);
    long r2 = count_waiters(&a, pf);
    long r3 = fx(&a, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0);
    for (int i = 0; i < 3; i++)
        join_waiter(&w[i]);
    printf("%s wake woke %ld left %ld then woke %ld returns %s %s %s\n", fl, r, r2, r3,
           ename(w[0].ret), ename(w[1].ret), ename(w[2].ret));

    /* WAIT_BITSET / WAKE_BITSET: a wake reaches only waiters whose bits it shares */
    start_waiter(&w[0], &a, FUTEX_WAIT_BITSET | pf, 0, 0x1);
    start_waiter(&w[1], &a, FUTEX_WAIT_BITSET | pf, 0, 0x2);
    start_waiter(&w[2], &a, FUTEX_WAIT | pf, 0, 0); /* FUTEX_WAIT: all bits */
    settle(&a, pf, 3);
    long k0 = fx(&a, FUTEX_WAKE_BITSET | pf, INT_MAX, 0, NULL, 0x4); /* only the FUTEX_WAIT one */
    join_waiter(&w[2]);
    int only_any = !__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE) &&
                   !__atomic_load_n(&w[1].done, __ATOMIC_ACQUIRE);
    long k1 = fx(&a, FUTEX_WAKE_BITSET | pf, INT_MAX, 0, NULL, 0x2);
    join_waiter(&w[1]);
    int only_2 = !__atomic_load_n(&w[0].done, __ATOMIC_ACQUIRE);
    long k2 = fx(&a, FUTEX_WAKE_BITSET | pf, INT_MAX, 0, NULL, 0x1);
    join_waiter(&w[0]);
    printf("%s wake_bitset 0x4 woke %ld (only the all-bits waiter %d), 0x2 woke %ld (only that "
           "waiter %d), 0x1 woke %ld, returns %s %s %s\n", fl, k0, only_any, k1, only_2, k2,
           ename(w[0].ret), ename(w[1].ret), ename(w[2].ret));

    /* REQUEUE: wake one, move one, leave one */
    for (int i = 0; i < 3; i++)
        start_waiter(&w[i], &a, FUTEX_WAIT | pf, 0, 0);
    settle(&a, pf, 3);
    r = fx(&a, FUTEX_REQUEUE | pf, 1, 1, &b, 0);
    long on_a = count_waiters(&a, pf), on_b = count_waiters(&b, pf);
    long wa = fx(&a, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0);
    long wb = fx(&b, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0);
    for (int i = 0; i < 3; i++)
        join_waiter(&w[i]);
    printf("%s requeue %ld then on a %ld on b %ld woke %ld %ld\n", fl, r, on_a, on_b, wa, wb);

    /* CMP_REQUEUE: refused when *uaddr != val3, else wake one and move the rest */
    for (int i = 0; i < 3; i++)
        start_waiter(&w[i], &a, FUTEX_WAIT | pf, 0, 0);
    settle(&a, pf, 3);
    long bad_cmp = fx(&a, FUTEX_CMP_REQUEUE | pf, 1, INT_MAX, &b, 1);
    r = fx(&a, FUTEX_CMP_REQUEUE | pf, 1, INT_MAX, &b, 0);
    on_a = count_waiters(&a, pf);
    on_b = count_waiters(&b, pf);
    wa = fx(&a, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0);
    wb = fx(&b, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0);
    for (int i = 0; i < 3; i++)
        join_waiter(&w[i]);
    printf("%s cmp_requeue mismatch %s then %ld on a %ld on b %ld woke %ld %ld\n", fl,
           ename(bad_cmp), r, on_a, on_b, wa, wb);

    /* WAKE_OP: wake on a, change b, and wake on b if b's old value passes the test */
    a = 0, b = 5;
    start_waiter(&w[0], &a, FUTEX_WAIT | pf, 0, 0);
    start_waiter(&w[1], &b, FUTEX_WAIT | pf, 5, 0);
    settle(&a, pf, 1);
    settle(&b, pf, 1);
    r = fx(&a, FUTEX_WAKE_OP | pf, 1, 1, &b, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5));
    join_waiter(&w[0]);
    join_waiter(&w[1]);
    printf("%s wake_op add 3 if ==5: woke %ld b %d\n", fl, r, b);
    start_waiter(&w[0], &a, FUTEX_WAIT | pf, 0, 0);
    start_waiter(&w[1], &b, FUTEX_WAIT | pf, 8, 0);
    settle(&a, pf, 1);
    settle(&b, pf, 1);
    r = fx(&a, FUTEX_WAKE_OP | pf, 1, 1, &b, FUTEX_OP(FUTEX_OP_SET, 1, FUTEX_OP_CMP_GT, 100));
    join_waiter(&w[0]);
    long still = count_waiters(&b, pf);
    b = 1;
    long wb2 = fx(&b, FUTEX_WAKE | pf, INT_MAX, 0, NULL, 0);
    join_waiter(&w[1]);
    printf("%s wake_op set 1 if >100: woke %ld b %d (b waiter left %ld, woken later %ld)\n", fl, r,
           b, still, wb2);
    /* every operation and comparison, nobody waiting; oparg and cmparg are 12-bit signed */
    static const struct { const char *name; int op, oparg, cmp, cmparg; } ops[] = {
        {"set_0x10", FUTEX_OP_SET, 0x10, FUTEX_OP_CMP_EQ, 1},
        {"add_5", FUTEX_OP_ADD, 5, FUTEX_OP_CMP_NE, 0},
        {"or_0x100", FUTEX_OP_OR, 0x100, FUTEX_OP_CMP_LT, 0},
        {"andn_0x10", FUTEX_OP_ANDN, 0x10, FUTEX_OP_CMP_LE, 0},
        {"xor_0xf", FUTEX_OP_XOR, 0xf, FUTEX_OP_CMP_GE, 0},
        {"add_-1", FUTEX_OP_ADD, 0xfff, FUTEX_OP_CMP_GT, -1},
        {"or_1<<20", FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 20, FUTEX_OP_CMP_EQ, 0},
    };
    b = 1;
    printf("%s wake_op sequence:", fl);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        r = fx(&a, FUTEX_WAKE_OP | pf, 1, 1, &b,
               FUTEX_OP(ops[i].op, ops[i].oparg, ops[i].cmp, ops[i].cmparg & 0xfff));
        printf(" %s=%d(%ld)", ops[i].name, b, r);
    }
    printf("\n");
}

static int do_futex(void)
{
    futex_flavour("private", FUTEX_PRIVATE_FLAG);
    futex_flavour("shared", 0);
    return failures ? 1 : 0;
}

/* ---- robust mutexes ------------------------------------------------------ */

static pthread_mutex_t rm;
static volatile int rm_locked, rm_go;

/* arg 0: returns from its start routine, and glibc marks its robust mutexes
 * as it ends the thread; arg 1: ends with a raw exit system call, so only the
 * kernel's (here: the sandbox's) walk of the robust list can. */
static void *robust_owner(void *arg)
{
    pthread_mutex_lock(&rm);
    __atomic_store_n(&rm_locked, 1, __ATOMIC_RELEASE);
    await_flag(&rm_go);
    if (arg) {
        msleep(50); /* the next locker is most likely waiting by now */
        syscall(SYS_exit, 0); /* ends holding the mutex */
    }
    return NULL; /* ends holding the mutex */
}

static void robust_init(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&rm, &a);
    rm_locked = rm_go = 0;
}

static int do_robust(void)
{
    /* 1. the owner is gone before the next lock */
    robust_init();
    pthread_t t = spawn(robust_owner, (void *)0);
    await_flag(&rm_locked);
    rm_go = 1;
    pthread_join(t, NULL);
    int e = pthread_mutex_lock(&rm);
    printf("lock_after_owner_died %s\n", ename(e));
    printf("consistent %s\n", ename(pthread_mutex_consistent(&rm)));
    printf("unlock %s\n", ename(pthread_mutex_unlock(&rm)));
    printf("relock %s\n", ename(pthread_mutex_lock(&rm)));
    pthread_mutex_unlock(&rm);

    /* 2. the next locker is already waiting when the owner dies in a raw exit */
    robust_init();
    t = spawn(robust_owner, (void *)1);
    await_flag(&rm_locked);
    printf("trylock_while_owned %s\n", ename(pthread_mutex_trylock(&rm)));
    rm_go = 1; /* the owner ends while this thread waits in lock */
    e = pthread_mutex_lock(&rm);
    printf("waiting_locker %s\n", ename(e));
    pthread_join(t, NULL);
    /* 3. not made consistent: unlocking makes it unrecoverable */
    printf("unlock_without_consistent %s\n", ename(pthread_mutex_unlock(&rm)));
    printf("lock_unrecoverable %s\n", ename(pthread_mutex_lock(&rm)));

    /* 4. a raw exit with the owner dead before anyone else tries */
    robust_init();
    t = spawn(robust_owner, (void *)1);
    await_flag(&rm_locked);
    rm_go = 1;
    pthread_join(t, NULL); /* CLONE_CHILD_CLEARTID still lets join return */
    printf("raw_exit_then_lock %s\n", ename(pthread_mutex_lock(&rm)));
    printf("consistent %s\n", ename(pthread_mutex_consistent(&rm)));
    printf("unlock %s\n", ename(pthread_mutex_unlock(&rm)));
    return 0;
}

/* ---- thread limit ---------------------------------------------------------- */

static pthread_mutex_t lim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lim_cond = PTHREAD_COND_INITIALIZER;
static int lim_release;

static void *lim_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lim_lock);
    while (!lim_release)
        pthread_cond_wait(&lim_cond, &lim_lock);
    pthread_mutex_unlock(&lim_lock);
    return (void *)1;
}

static int do_limit(int argc, char **argv)
{
    int max = argc > 2 ? atoi(argv[2]) : 100;
    if (max < 1 || max > 1000)
        max = 100;
    pthread_t th[1000];
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    int n = 0, err = 0;
    while (n < max) {
        err = pthread_create(&th[n], &a, lim_worker, NULL);
        if (err)
            break;
        n++;
    }
    printf("created %d first_error %s\n", n, err ? ename(err) : "none");
    fflush(stdout);
    pthread_mutex_lock(&lim_lock);
    lim_release = 1;
    pthread_cond_broadcast(&lim_cond);
    pthread_mutex_unlock(&lim_lock);
    long joined = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        if (pthread_join(th[i], &r) == 0)
            joined += (long)r;
    }
    /* the slots are free again */
    pthread_t again;
    int e = pthread_create(&again, &a, lim_worker, NULL);
    if (e == 0)
        pthread_join(again, NULL);
    printf("joined %ld create_after_join %s\n", joined, ename(e));
    return 0;
}

/* ---- exit_group and friends ------------------------------------------------ */

static int ex_pipe[2];
static volatile int ex_started;
static pthread_mutex_t ex_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ex_cond = PTHREAD_COND_INITIALIZER;

static void *ex_spin(void *a)
{
    (void)a;
    __atomic_fetch_add(&ex_started, 1, __ATOMIC_RELEASE);
    for (volatile unsigned long i = 0;; i++)
        ;
    return NULL;
}

static void *ex_sleep(void *a)
{
    (void)a;
    __atomic_fetch_add(&ex_started, 1, __ATOMIC_RELEASE);
    for (;;)
        sleep(1000);
    return NULL;
}

static void *ex_read(void *a)
{
    (void)a;
    char c;
    __atomic_fetch_add(&ex_started, 1, __ATOMIC_RELEASE);
    for (;;)
        read(ex_pipe[0], &c, 1);
    return NULL;
}

static void *ex_poll(void *a)
{
    (void)a;
    struct pollfd p = {ex_pipe[0], POLLIN, 0};
    __atomic_fetch_add(&ex_started, 1, __ATOMIC_RELEASE);
    for (;;)
        poll(&p, 1, -1);
    return NULL;
}

static void *ex_cond_wait(void *a)
{
    (void)a;
    pthread_mutex_lock(&ex_lock);
    __atomic_fetch_add(&ex_started, 1, __ATOMIC_RELEASE);
    for (;;)
        pthread_cond_wait(&ex_cond, &ex_lock);
    return NULL;
}

static void *ex_exiter(void *a)
{
    (void)a;
    while (__atomic_load_n(&ex_started, __ATOMIC_ACQUIRE) < 15)
        msleep(1);
    printf("exiting 42\n");
    exit(42); /* flushes stdio, runs atexit handlers, then exit_group */
}

static void ex_atexit(void) { printf("atexit ran\n"); }

static int start_blockers(void)
{
    void *(*kinds[])(void *) = {ex_spin, ex_sleep, ex_read, ex_poll, ex_cond_wait};
    if (pipe(ex_pipe))
        return 0;
    for (int i = 0; i < 15; i++)
        spawn(kinds[i % 5], NULL); /* 3 of each */
    while (__atomic_load_n(&ex_started, __ATOMIC_ACQUIRE) < 15)
        msleep(1);
    return 15;
}

static int do_exit_group(void)
{
    atexit(ex_atexit);
    printf("starting 15 workers\n");
    fflush(stdout);
    spawn(ex_exiter, NULL);
    start_blockers();
    pthread_join(spawn(ex_sleep, NULL), NULL); /* main blocks too, in a join that never ends */
    return 0;
}

static int do_exit_main(void)
{
    printf("started %d\n", start_blockers());
    return 5; /* exit(5) from main: every worker ends */
}

static void *pe_worker(void *a)
{
    (void)a;
    msleep(100);
    printf("worker done\n");
    fflush(stdout);
    return NULL;
}

static int do_pthread_exit(void)
{
    spawn(pe_worker, NULL);
    printf("main leaving\n");
    fflush(stdout);
    pthread_exit(NULL); /* the process lives on until the last thread ends: status 0 */
}

/* ---- signals ------------------------------------------------------------ */

static volatile int h_count, h_signo, h_code, h_pid_self, h_uid_self, h_value;
static volatile long h_tid;

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    h_count++;
    h_signo = sig;
    h_code = si->si_code;
    h_pid_self = si->si_pid == getpid();
    h_uid_self = si->si_uid == getuid();
    h_value = si->si_value.sival_int;
    h_tid = syscall(SYS_gettid);
}

static void on_plain(int sig)
{
    (void)sig;
    h_count++;
    h_tid = syscall(SYS_gettid);
}

static void handle(int sig, int flags, int info)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (info)
        sa.sa_sigaction = on_info, sa.sa_flags = SA_SIGINFO | flags;
    else
        sa.sa_handler = on_plain, sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static const char *codename(int c)
{
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TIMER: return "SI_TIMER";
    case SI_KERNEL: return "SI_KERNEL";
    default: return "other";
    }
}

static void reset_h(void) { h_count = h_signo = h_code = h_pid_self = h_uid_self = h_value = 0, h_tid = 0; }

static int do_sig_self(void)
{
    handle(SIGUSR1, 0, 1);
    handle(SIGUSR2, 0, 1);
    reset_h();
    int r = kill(getpid(), SIGUSR1); /* a single thread: delivered before kill returns */
    printf("kill_self %d handled %d sig %s code %s pid_self %d uid_self %d\n", r, h_count,
           sigabbrev_np(h_signo), codename(h_code), h_pid_self, h_uid_self);
    reset_h();
    r = raise(SIGUSR2);
    printf("raise %d handled %d sig %s code %s pid_self %d\n", r, h_count, sigabbrev_np(h_signo),
           codename(h_code), h_pid_self);
    reset_h();
    r = (int)syscall(SYS_tgkill, getpid(), tid(), SIGUSR1);
    printf("tgkill_self %d handled %d code %s in_this_thread %d\n", r, h_count, codename(h_code),
           h_tid == tid());
    reset_h();
    r = (int)syscall(SYS_tkill, tid(), SIGUSR2);
    printf("tkill_self %d handled %d code %s\n", r, h_count, codename(h_code));
    reset_h();
    r = kill(getpid(), 0);
    printf("kill_sig0 %d handled %d\n", r, h_count);
    r = kill(getpid(), 65);
    printf("kill_bad_signal %s\n", ename(r ? errno : 0));
    signal(SIGUSR1, SIG_IGN);
    r = raise(SIGUSR1);
    printf("ignored raise %d handled %d\n", r, h_count);
    signal(SIGUSR1, SIG_DFL);
    /* SIGCHLD, SIGURG and SIGWINCH are ignored by default */
    printf("default_ignored %d %d %d still here\n", raise(SIGCHLD), raise(SIGURG), raise(SIGWINCH));
    return 0;
}

static volatile int st_ready, st_done, st_sent, st_got;
static volatile long st_tid;
static volatile long st_handler_tid;
static volatile int st_interrupted_errno;

static void on_st(int sig)
{
    (void)sig;
    st_handler_tid = syscall(SYS_gettid);
    st_got++;
}

/* sleeps until a signal cuts the sleep short */
static void *st_sleeper(void *a)
{
    (void)a;
    st_tid = tid();
    __atomic_store_n(&st_ready, 1, __ATOMIC_RELEASE);
    for (;;) {
        struct timespec ts = {30, 0};
        if (nanosleep(&ts, NULL) && errno == EINTR)
            break;
    }
    st_interrupted_errno = EINTR;
    __atomic_store_n(&st_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* blocks SIGUSR2, is sent it, sees it pending, unblocks it */
static volatile int pend_seen, pend_before_unblock;
static void *st_pender(void *a)
{
    (void)a;
    sigset_t s, p;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    st_tid = tid();
    __atomic_store_n(&st_ready, 1, __ATOMIC_RELEASE);
    await_flag(&st_sent);
    sigpending(&p);
    pend_seen = sigismember(&p, SIGUSR2);
    pend_before_unblock = st_got;
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    __atomic_store_n(&st_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* SIGUSR1 blocked except inside sigsuspend */
static volatile int sus_ret_errno;
static void *st_suspender(void *a)
{
    (void)a;
    sigset_t empty;
    sigemptyset(&empty);
    st_tid = tid();
    __atomic_store_n(&st_ready, 1, __ATOMIC_RELEASE);
    int r = sigsuspend(&empty);
    sus_ret_errno = r == -1 ? errno : 0;
    __atomic_store_n(&st_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* computes, making no system call, until a handler has run */
static void *st_spinner(void *a)
{
    (void)a;
    st_tid = tid();
    __atomic_store_n(&st_ready, 1, __ATOMIC_RELEASE);
    while (!st_got)
        ;
    __atomic_store_n(&st_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void st_reset(void) { st_ready = st_done = st_sent = st_got = 0, st_tid = st_handler_tid = 0; }

static int do_sig_thread(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_st;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);

    /* tgkill, then tkill, to a sibling asleep in nanosleep */
    for (int use_tkill = 0; use_tkill < 2; use_tkill++) {
        st_reset();
        pthread_t t = spawn(st_sleeper, NULL);
        await_flag(&st_ready);
        int sends = 0;
        while (!__atomic_load_n(&st_done, __ATOMIC_ACQUIRE) && sends < 2000) {
            if (use_tkill)
                syscall(SYS_tkill, st_tid, SIGUSR1);
            else
                syscall(SYS_tgkill, getpid(), st_tid, SIGUSR1);
            sends++;
            msleep(10);
        }
        pthread_join(t, NULL);
        printf("%s to sleeping sibling: handled %d in_target %d sleep %s\n",
               use_tkill ? "tkill" : "tgkill", st_got > 0, st_handler_tid == st_tid,
               ename(st_interrupted_errno));
    }

    /* one tgkill to a sibling that computes in user space and never enters the kernel */
    st_reset();
    pthread_t sp = spawn(st_spinner, NULL);
    await_flag(&st_ready);
    syscall(SYS_tgkill, getpid(), st_tid, SIGUSR1);
    pthread_join(sp, NULL);
    printf("tgkill to spinning sibling: handled %d in_target %d\n", st_got, st_handler_tid == st_tid);

    /* pthread_kill to a sibling that blocks the signal: pending until it unblocks */
    st_reset();
    pthread_t t = spawn(st_pender, NULL);
    await_flag(&st_ready);
    pthread_kill(t, SIGUSR2);
    __atomic_store_n(&st_sent, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    printf("pthread_kill to blocking sibling: pending %d handled before unblock %d after %d "
           "in_target %d\n", pend_seen, pend_before_unblock, st_got, st_handler_tid == st_tid);

    /* a process-directed signal goes to the one thread that does not block it */
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, &old); /* inherited by the new thread */
    st_reset();
    t = spawn(st_suspender, NULL);
    await_flag(&st_ready);
    msleep(20);
    kill(getpid(), SIGUSR1);
    pthread_join(t, NULL);
    printf("kill to process: went to the unblocked thread %d handled %d sigsuspend %s\n",
           st_handler_tid == st_tid, st_got, ename(sus_ret_errno));
    sigpending(&old);
    printf("nothing left pending %d\n", !sigismember(&old, SIGUSR1));
    return 0;
}

static int do_sig_mask(void)
{
    handle(SIGUSR1, 0, 1);
    handle(SIGUSR2, 0, 1);
    sigset_t s, p, old;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    reset_h();
    sigprocmask(SIG_BLOCK, &s, &old);
    raise(SIGUSR1);
    raise(SIGUSR1); /* standard signals do not queue: one delivery */
    int before = h_count;
    sigpending(&p);
    int pend = sigismember(&p, SIGUSR1);
    sigprocmask(SIG_SETMASK, &old, NULL); /* delivered before this returns */
    printf("blocked raise: handled while blocked %d pending %d handled after unblock %d code %s\n",
           before, pend, h_count, codename(h_code));

    /* sigtimedwait takes a blocked pending signal without running the handler */
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    reset_h();
    kill(getpid(), SIGUSR2);
    siginfo_t si;
    struct timespec zero = {0, 0}, short_wait = {0, 20 * 1000000L};
    int r = sigtimedwait(&s, &si, &zero);
    printf("sigtimedwait %s code %s handled %d\n", r > 0 ? sigabbrev_np(r) : ename(errno),
           codename(si.si_code), h_count);
    r = sigtimedwait(&s, &si, &zero);
    printf("sigtimedwait empty %s\n", r > 0 ? sigabbrev_np(r) : ename(errno));
    r = sigtimedwait(&s, &si, &short_wait);
    printf("sigtimedwait 20ms %s\n", r > 0 ? sigabbrev_np(r) : ename(errno));

    /* real-time signals queue (standard ones do not), lowest number first */
    int rt1 = SIGRTMIN + 2, rt2 = SIGRTMIN + 3;
    sigemptyset(&s);
    sigaddset(&s, rt1);
    sigaddset(&s, rt2);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    raise(rt2);
    raise(rt1);
    raise(rt2);
    raise(rt1);
    raise(SIGUSR2);
    raise(SIGUSR2);
    printf("queued:");
    for (int i = 0; i < 7; i++) {
        r = sigtimedwait(&s, &si, &zero);
        if (r == rt1 || r == rt2)
            printf(" RTMIN+%d(%s)", r - SIGRTMIN, codename(si.si_code));
        else if (r > 0)
            printf(" %s(%s)", sigabbrev_np(r), codename(si.si_code));
        else
            printf(" %s", ename(errno));
    }
    printf("\n");
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigprocmask(SIG_BLOCK, NULL, &p);
    printf("mask restored %d\n", !sigismember(&p, SIGUSR1) && !sigismember(&p, SIGUSR2));
    return 0;
}

static int al_pipe[2];
static volatile int al_count;
static void on_alarm(int sig)
{
    (void)sig;
    al_count++;
}

static void mask_alarm(int how)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(how, &s, NULL);
}

static void *al_writer(void *a)
{
    (void)a;
    mask_alarm(SIG_BLOCK); /* SIGALRM can only go to the reader */
    while (__atomic_load_n(&al_count, __ATOMIC_ACQUIRE) < 2)
        msleep(1);
    msleep(20);
    write(al_pipe[1], "x", 1);
    return NULL;
}

static int do_alarm(void)
{
    char c = 0;
    if (pipe(al_pipe))
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART */
    errno = 0;
    unsigned first = alarm(1);
    if (errno) {
        printf("FAILED alarm: %s\n", ename(errno));
        return 1;
    }
    printf("alarm first %u\n", first);
    ssize_t n = read(al_pipe[0], &c, 1);
    printf("read without SA_RESTART %zd %s handled %d\n", n, n < 0 ? ename(errno) : "-", al_count);

    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pthread_t w = spawn(al_writer, NULL);
    alarm(1);
    n = read(al_pipe[0], &c, 1);
    printf("read with SA_RESTART %zd byte %c handled %d\n", n, n == 1 ? c : '-', al_count);
    pthread_join(w, NULL);

    alarm(100);
    unsigned left = alarm(0);
    printf("alarm cancel left %d\n", left > 90 && left <= 100);
    return 0;
}

/* An outside process signal (alarm's SIGALRM) lands first on the main
 * thread (the kernel tries the threads in order), which blocks it and waits
 * in pthread_join; only the worker, waiting in a read with no deadline,
 * takes it.  The worker must get it: its read ends with EINTR. */
static void *bm_worker(void *a)
{
    (void)a;
    mask_alarm(SIG_UNBLOCK);
    char c;
    ssize_t n = read(al_pipe[0], &c, 1);
    printf("worker read %zd %s handled %d\n", n, n < 0 ? ename(errno) : "-", al_count);
    return NULL;
}

static int do_blocked_main(void)
{
    if (pipe(al_pipe))
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: the read ends */
    sigaction(SIGALRM, &sa, NULL);
    mask_alarm(SIG_BLOCK);
    pthread_t w = spawn(bm_worker, NULL);
    alarm(1);
    pthread_join(w, NULL);
    printf("main joined handled %d\n", al_count);
    return 0;
}

static volatile int it_count;
static void on_tick(int sig)
{
    (void)sig;
    it_count++;
}

static int do_itimer(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART; /* pause() is never restarted */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 20000}, {0, 20000}}, cur, zero = {{0, 0}, {0, 0}};
    if (setitimer(ITIMER_REAL, &it, NULL) || getitimer(ITIMER_REAL, &cur)) {
        printf("FAILED setitimer: %s\n", ename(errno));
        return 1;
    }
    printf("interval %ld.%06ld armed %d\n", (long)cur.it_interval.tv_sec,
           (long)cur.it_interval.tv_usec, cur.it_value.tv_sec || cur.it_value.tv_usec);
    int pauses = 0, eintr = 1;
    while (it_count < 5) {
        int r = pause();
        eintr &= r == -1 && errno == EINTR;
        pauses++;
    }
    setitimer(ITIMER_REAL, &zero, &cur);
    printf("ticks at least 5 %d pause EINTR %d old interval %ld\n", it_count >= 5, eintr,
           (long)cur.it_interval.tv_usec);
    int seen = it_count;
    msleep(100);
    getitimer(ITIMER_REAL, &cur);
    printf("disarmed %d no more ticks %d\n", !cur.it_value.tv_sec && !cur.it_value.tv_usec,
           it_count == seen);
    /* ticks reach a thread that computes without entering the kernel */
    it_count = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    while (it_count < 3)
        ;
    setitimer(ITIMER_REAL, &zero, NULL);
    printf("ticks while spinning at least 3 %d\n", it_count >= 3);
    return 0;
}

static int do_timer(void)
{
    int sig = SIGRTMIN + 1;
    handle(sig, 0, 1);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_BLOCK, &s, &old);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = sig;
    sev.sigev_value.sival_int = 42;
    timer_t t;
    int r = timer_create(CLOCK_MONOTONIC, &sev, &t);
    printf("timer_create %s\n", ename(r ? errno : 0));
    struct itimerspec its = {{0, 10000000L}, {0, 10000000L}}, cur;
    if (r || timer_settime(t, 0, &its, NULL)) {
        printf("FAILED timer: %s\n", ename(errno));
        return 1;
    }
    timer_gettime(t, &cur);
    printf("interval %ld ns armed %d\n", cur.it_interval.tv_nsec,
           cur.it_value.tv_sec || cur.it_value.tv_nsec);
    reset_h();
    int eintr = 1;
    while (h_count < 3) {
        r = sigsuspend(&old);
        eintr &= r == -1 && errno == EINTR;
    }
    timer_delete(t);
    printf("ticks at least 3 %d sig %d code %s value %d sigsuspend EINTR %d\n", h_count >= 3,
           h_signo == sig, codename(h_code), h_value, eintr);

    /* one-shot, absolute */
    r = timer_create(CLOCK_REALTIME, &sev, &t);
    reset_h();
    struct itimerspec once = {{0, 0}, ts_at(now_ns(CLOCK_REALTIME) + 30000000LL)};
    if (r || timer_settime(t, TIMER_ABSTIME, &once, NULL)) {
        printf("FAILED timer: %s\n", ename(errno));
        return 1;
    }
    while (h_count < 1)
        sigsuspend(&old);
    timer_gettime(t, &cur);
    printf("one-shot absolute fired %d disarmed %d\n", h_count, !cur.it_value.tv_sec &&
           !cur.it_value.tv_nsec);
    timer_delete(t);
    return 0;
}

static int do_raise_default(void)
{
    printf("before\n");
    fflush(stdout);
    raise(SIGTERM);
    printf("after (should not be printed)\n");
    return 0;
}

/* ---- blocking calls block only their own thread -------------------------- */

static int bl_pipe[2], bl_pipe2[2];
static volatile int bl_read_done, bl_poll_done, bl_cond_done, bl_sleep_done;
static volatile int bl_ready;
static char bl_buf[16];
static volatile ssize_t bl_read_n;
static volatile int bl_poll_revents;
static pthread_mutex_t bl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bl_cond = PTHREAD_COND_INITIALIZER;
static int bl_go;
static volatile int bl_sleep_errno;

static void *bl_reader(void *a)
{
    (void)a;
    __atomic_fetch_add(&bl_ready, 1, __ATOMIC_RELEASE);
    bl_read_n = read(bl_pipe[0], bl_buf, sizeof bl_buf - 1);
    __atomic_store_n(&bl_read_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *bl_poller(void *a)
{
    (void)a;
    struct pollfd p = {bl_pipe2[0], POLLIN, 0};
    __atomic_fetch_add(&bl_ready, 1, __ATOMIC_RELEASE);
    poll(&p, 1, -1);
    bl_poll_revents = p.revents;
    __atomic_store_n(&bl_poll_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *bl_waiter(void *a)
{
    (void)a;
    pthread_mutex_lock(&bl_lock);
    __atomic_fetch_add(&bl_ready, 1, __ATOMIC_RELEASE);
    while (!bl_go)
        pthread_cond_wait(&bl_cond, &bl_lock);
    pthread_mutex_unlock(&bl_lock);
    __atomic_store_n(&bl_cond_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static volatile long bl_sleeper_tid;
static void *bl_sleeper(void *a)
{
    (void)a;
    bl_sleeper_tid = tid();
    __atomic_fetch_add(&bl_ready, 1, __ATOMIC_RELEASE);
    struct timespec ts = {60, 0};
    int r = nanosleep(&ts, NULL);
    bl_sleep_errno = r ? errno : 0;
    __atomic_store_n(&bl_sleep_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void on_wake(int sig) { (void)sig; }

static int do_blocking(void)
{
    signal(SIGUSR1, on_wake);
    if (pipe(bl_pipe) || pipe(bl_pipe2))
        return 1;
    pthread_t r = spawn(bl_reader, NULL), p = spawn(bl_poller, NULL), w = spawn(bl_waiter, NULL),
              s = spawn(bl_sleeper, NULL);
    while (__atomic_load_n(&bl_ready, __ATOMIC_ACQUIRE) < 4)
        msleep(1);
    msleep(50); /* let them reach their blocking calls */

    /* meanwhile this thread gets work done, broker calls included */
    int opened = 0;
    char cwd[256];
    for (int i = 0; i < 200; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            opened++;
            close(fd);
        }
        if (!getcwd(cwd, sizeof cwd))
            break;
    }
    msleep(10);
    int none_done = !bl_read_done && !bl_poll_done && !bl_cond_done && !bl_sleep_done;
    printf("main did %d opens while 4 threads blocked; none returned early %d\n", opened, none_done);

    write(bl_pipe[1], "hello", 5);
    pthread_join(r, NULL);
    bl_buf[bl_read_n > 0 ? bl_read_n : 0] = 0;
    printf("reader got %zd %s; others still blocked %d\n", bl_read_n, bl_buf,
           !bl_poll_done && !bl_cond_done && !bl_sleep_done);

    write(bl_pipe2[1], "y", 1);
    pthread_join(p, NULL);
    printf("poller revents POLLIN %d; others still blocked %d\n", (bl_poll_revents & POLLIN) != 0,
           !bl_cond_done && !bl_sleep_done);

    pthread_mutex_lock(&bl_lock);
    bl_go = 1;
    pthread_cond_signal(&bl_cond);
    pthread_mutex_unlock(&bl_lock);
    pthread_join(w, NULL);
    printf("condvar waiter woke; sleeper still asleep %d\n", !bl_sleep_done);

    while (!__atomic_load_n(&bl_sleep_done, __ATOMIC_ACQUIRE)) {
        pthread_kill(s, SIGUSR1);
        msleep(10);
    }
    pthread_join(s, NULL);
    printf("sleeper interrupted %s\n", ename(bl_sleep_errno));
    return 0;
}

/* Threads started under a 1 ms interval timer whose handler has no
 * SA_RESTART, all alive at once: in the sandbox each grows the pool while
 * signals cut into the wait for it, and pthread_create must still succeed
 * every time (clone never answers EINTR).  Each new thread can take a
 * signal of its own at once (the broker watches it before it runs). */
static volatile int gs_ticks, gs_usr1;
static pthread_barrier_t gs_all;

static void on_gs_tick(int sig)
{
    (void)sig;
    gs_ticks++;
}

static void on_gs_usr1(int sig)
{
    (void)sig;
    __atomic_add_fetch(&gs_usr1, 1, __ATOMIC_RELAXED);
}

static void *gs_worker(void *a)
{
    pthread_barrier_wait(&gs_all);
    return a;
}

static int do_grow_signals(void)
{
    enum { N = 40 };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_gs_tick; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = on_gs_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_barrier_init(&gs_all, NULL, N + 1);
    pthread_t ts[N];
    int made = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        int e = pthread_create(&ts[i], NULL, gs_worker, NULL);
        if (e) {
            printf("FAILED pthread_create %d: %s\n", i, ename(e));
            failed++;
            break;
        }
        made++;
        int k = pthread_kill(ts[i], SIGUSR1);
        if (k)
            printf("FAILED pthread_kill %d: %s\n", i, ename(k));
    }
    while (made == N && gs_ticks < 3)
        ; /* the timer runs on the host's clock: a few ticks always come */
    while (made == N && gs_usr1 < N)
        ; /* each signal reaches its thread, the barrier's futex wait or not */
    if (made == N)
        pthread_barrier_wait(&gs_all);
    for (int i = 0; i < made; i++)
        pthread_join(ts[i], NULL);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("grow_signals created %d failed %d ticks 1 signalled %d\n", made, failed, gs_usr1);
    return failed != 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc;
    if (!strcmp(cmd, "create")) rc = do_create(argc, argv);
    else if (!strcmp(cmd, "churn")) rc = do_churn();
    else if (!strcmp(cmd, "rawclone")) rc = do_rawclone();
    else if (!strcmp(cmd, "tls")) rc = do_tls();
    else if (!strcmp(cmd, "futex")) rc = do_futex();
    else if (!strcmp(cmd, "robust")) rc = do_robust();
    else if (!strcmp(cmd, "limit")) rc = do_limit(argc, argv);
    else if (!strcmp(cmd, "exit_group")) rc = do_exit_group();
    else if (!strcmp(cmd, "exit_main")) rc = do_exit_main();
    else if (!strcmp(cmd, "pthread_exit")) rc = do_pthread_exit();
    else if (!strcmp(cmd, "sig_self")) rc = do_sig_self();
    else if (!strcmp(cmd, "sig_thread")) rc = do_sig_thread();
    else if (!strcmp(cmd, "sig_mask")) rc = do_sig_mask();
    else if (!strcmp(cmd, "alarm")) rc = do_alarm();
    else if (!strcmp(cmd, "blocked_main")) rc = do_blocked_main();
    else if (!strcmp(cmd, "itimer")) rc = do_itimer();
    else if (!strcmp(cmd, "timer")) rc = do_timer();
    else if (!strcmp(cmd, "raise_default")) rc = do_raise_default();
    else if (!strcmp(cmd, "blocking")) rc = do_blocking();
    else if (!strcmp(cmd, "grow_signals")) rc = do_grow_signals();
    else {
        fprintf(stderr, "threads_basic: unknown subcommand %s\n", cmd);
        return 2;
    }
    if (failures)
        rc = 1;
    return rc;
}
