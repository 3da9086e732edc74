/* futex, served inside the sandbox: the program's threads share its memory
 * and the thread table, so waiters queue in the arena and a waker writes a
 * byte to each woken thread's wake pipe.  An untimed wait blocks reading
 * that pipe; a timed one asks the broker to watch the pipe with a deadline
 * (SB_OP_WAKE_WAIT).  A byte is only a hint: the waiter believes
 * futex_queued, which wakers clear under the bucket lock. */
#include "runtime.h"


static uint32_t *bucket_of(unsigned long uaddr)
{
    return &ST->futex_lock[(uaddr >> 2) % SB_FUTEX_BUCKETS];
}

/* Locks the bucket of the word t waits on; the word can change under us
 * (FUTEX_REQUEUE), so look again once the lock is held. */
static uint32_t *lock_own_bucket(struct sb_thread *t)
{
    for (;;) {
        unsigned long a = __atomic_load_n(&t->futex_uaddr, __ATOMIC_ACQUIRE);
        uint32_t *l = bucket_of(a);
        sb_lock(l);
        if (__atomic_load_n(&t->futex_uaddr, __ATOMIC_ACQUIRE) == a)
            return l;
        sb_unlock(l);
    }
}

/* 1 if t was still queued (and now is not), 0 if a waker got there first. */
static int dequeue_self(struct sb_thread *t)
{
    uint32_t *l = lock_own_bucket(t);
    int queued = t->futex_queued;
    t->futex_queued = 0;
    sb_unlock(l);
    return queued;
}

/* Wakes up to n waiters on uaddr whose bitset meets `bitset`; call with the
 * bucket locked.  Returns how many. */
static int wake_locked(unsigned long uaddr, int n, unsigned bitset)
{
    int woken = 0;
    for (unsigned i = 0, started = sb_slots_started(); i < started && woken < n; i++) {
        struct sb_thread *w = sb_thread_at(i);
        if (w->futex_queued && w->futex_uaddr == uaddr && (w->futex_bitset & bitset)) {
            __atomic_store_n(&w->futex_queued, 0, __ATOMIC_RELEASE);
            sb_wake(w);
            woken++;
        }
    }
    return woken;
}

long sb_futex_wake(unsigned long uaddr, int n, unsigned bitset)
{
    uint32_t *l = bucket_of(uaddr);
    sb_lock(l);
    int woken = wake_locked(uaddr, n, bitset);
    sb_unlock(l);
    return woken;
}

/* deadline: on our monotonic clock, or -1 for none. */
static long futex_wait(struct sb_call *c, unsigned long uaddr, unsigned val, unsigned bitset,
                       long deadline)
{
    struct sb_thread *t = c->t;
    uint32_t *l = bucket_of(uaddr);
    sb_lock(l);
    if (__atomic_load_n((unsigned *)uaddr, __ATOMIC_ACQUIRE) != val) {
        sb_unlock(l);
        return -EAGAIN;
    }
    t->futex_uaddr = uaddr;
    t->futex_bitset = bitset;
    __atomic_store_n(&t->futex_queued, 1, __ATOMIC_RELEASE);
    sb_unlock(l);
    for (;;) {
        long r = -EINTR;
        if (sb_must_stop(t)) {
            /* a signal that came before we were queued: our handler wrote
             * no byte for it (one that comes after does) */
        } else if (deadline < 0) {
            char b;
            r = sys3(__NR_read, t->wake_rfd, &b, 1);
        } else {
            long real, now;
            sb_clock_now(&real, &now);
            unsigned long left = deadline > now ? (unsigned long)(deadline - now) : 0;
            r = left ? sb_wake_wait(t, left) : -ETIMEDOUT;
        }
        if (!__atomic_load_n(&t->futex_queued, __ATOMIC_ACQUIRE))
            return 0; /* woken */
        /* A signal ends the wait however it came: EINTR, or the byte our
         * handler writes when it landed just before the read (sb_async). */
        if (r == -ETIMEDOUT || sb_must_stop(t)) {
            if (!dequeue_self(t))
                return 0; /* a waker won the race: the wake counts */
            if (r == -ETIMEDOUT)
                return -ETIMEDOUT;
            /* as Linux: an untimed wait restarts under SA_RESTART, a timed one
             * (ERESTART_RESTARTBLOCK there) answers EINTR once a handler ran */
            return deadline < 0 ? -ERESTARTSYS : -ERESTARTNOHAND;
        }
        /* a stale byte, or a signal for someone else: wait on */
    }
}

/* FUTEX_OP's encoded operation on *uaddr2; returns the comparison's result. */
static long wake_op_apply(unsigned long uaddr2, unsigned encoded, int *cmp_true)
{
    unsigned op = (encoded >> 28) & 0xf, cmp = (encoded >> 24) & 0xf;
    /* both arguments are 12-bit signed numbers */
    int oparg_s = (int)((encoded >> 12) & 0xfff), cmparg_s = (int)(encoded & 0xfff);
    oparg_s = oparg_s & 0x800 ? oparg_s - 0x1000 : oparg_s;
    cmparg_s = cmparg_s & 0x800 ? cmparg_s - 0x1000 : cmparg_s;
    unsigned oparg = (unsigned)oparg_s;
    if (op & 8) { /* FUTEX_OP_OPARG_SHIFT */
        op &= 7;
        oparg = 1U << (oparg & 31);
    }
    unsigned *w = (unsigned *)uaddr2, old = __atomic_load_n(w, __ATOMIC_RELAXED), new;
    do {
        switch (op) {
        case 0: new = oparg; break;
        case 1: new = old + oparg; break;
        case 2: new = old | oparg; break;
        case 3: new = old & ~oparg; break;
        case 4: new = old ^ oparg; break;
        default: return -ENOSYS;
        }
    } while (!__atomic_compare_exchange_n(w, &old, new, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    int o = (int)old, a = cmparg_s;
    switch (cmp) {
    case 0: *cmp_true = o == a; break;
    case 1: *cmp_true = o != a; break;
    case 2: *cmp_true = o < a; break;
    case 3: *cmp_true = o <= a; break;
    case 4: *cmp_true = o > a; break;
    case 5: *cmp_true = o >= a; break;
    default: return -ENOSYS;
    }
    return 0;
}

static void lock_two(uint32_t *a, uint32_t *b)
{
    if (a == b) {
        sb_lock(a);
    } else if (a < b) {
        sb_lock(a);
        sb_lock(b);
    } else {
        sb_lock(b);
        sb_lock(a);
    }
}

static void unlock_two(uint32_t *a, uint32_t *b)
{
    sb_unlock(a);
    if (a != b)
        sb_unlock(b);
}

/* REQUEUE and CMP_REQUEUE: wake n, move up to n2 more to uaddr2. */
static long requeue(unsigned long uaddr, unsigned long uaddr2, int n, int n2, int check, unsigned val3)
{
    uint32_t *l1 = bucket_of(uaddr), *l2 = bucket_of(uaddr2);
    lock_two(l1, l2);
    if (check && __atomic_load_n((unsigned *)uaddr, __ATOMIC_ACQUIRE) != val3) {
        unlock_two(l1, l2);
        return -EAGAIN;
    }
    long done = wake_locked(uaddr, n, ~0U);
    for (unsigned i = 0, started = sb_slots_started(); i < started && n2 > 0; i++) {
        struct sb_thread *w = sb_thread_at(i);
        if (w->futex_queued && w->futex_uaddr == uaddr) {
            __atomic_store_n(&w->futex_uaddr, uaddr2, __ATOMIC_RELEASE);
            n2--;
            done++;
        }
    }
    unlock_two(l1, l2);
    return done;
}

long sys_futex(struct sb_call *c)
{
    unsigned long uaddr = c->a[0], uaddr2 = c->a[4];
    int op = (int)c->a[1], cmd = op & FUTEX_CMD_MASK;
    unsigned val = (unsigned)c->a[2], val3 = (unsigned)c->a[5];
    if (!SB_ARENA_OK(uaddr, 4))
        return -EFAULT;
    if (uaddr & 3)
        return -EINVAL;
    int n = (int)val < 0 ? 0x7fffffff : (int)val;
    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
        unsigned bitset = cmd == FUTEX_WAIT ? ~0U : val3;
        if (!bitset)
            return -EINVAL;
        long deadline = -1, ns;
        if (c->a[3]) {
            long e = sb_timespec_ns(c->a[3], &ns);
            if (e)
                return e;
            long real, mono;
            sb_clock_now(&real, &mono);
            if (cmd == FUTEX_WAIT)
                deadline = mono + ns; /* relative */
            else if (op & FUTEX_CLOCK_REALTIME)
                deadline = mono + (ns - real); /* absolute, on CLOCK_REALTIME */
            else
                deadline = ns; /* absolute, on CLOCK_MONOTONIC */
            if (deadline < 0)
                deadline = 0;
        }
        return futex_wait(c, uaddr, val, bitset, deadline);
    }
    case FUTEX_WAKE:
        return sb_futex_wake(uaddr, n, ~0U);
    case FUTEX_WAKE_BITSET:
        if (!val3)
            return -EINVAL;
        return sb_futex_wake(uaddr, n, val3);
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
        if (!SB_ARENA_OK(uaddr2, 4))
            return -EFAULT;
        if (uaddr2 & 3)
            return -EINVAL;
        long n2 = (long)c->a[3]; /* val2 travels in the timeout register */
        if ((int)n2 < 0)
            return -EINVAL;
        return requeue(uaddr, uaddr2, n, (int)n2, cmd == FUTEX_CMP_REQUEUE, val3);
    }
    case FUTEX_WAKE_OP: {
        if (!SB_ARENA_OK(uaddr2, 4))
            return -EFAULT;
        if (uaddr2 & 3)
            return -EINVAL;
        int n2 = (int)c->a[3] < 0 ? 0x7fffffff : (int)c->a[3];
        uint32_t *l1 = bucket_of(uaddr), *l2 = bucket_of(uaddr2);
        lock_two(l1, l2);
        int yes = 0;
        long r = wake_op_apply(uaddr2, val3, &yes);
        if (r == 0) {
            r = wake_locked(uaddr, n, ~0U);
            if (yes)
                r += wake_locked(uaddr2, n2, ~0U);
        }
        unlock_two(l1, l2);
        return r;
    }
    default:
        return -ENOSYS; /* the priority-inheritance operations */
    }
}
