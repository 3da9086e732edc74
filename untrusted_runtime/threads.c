/* Threads.  The stub starts slot 0's thread before strict mode; the
 * spawner (trusted_stub/spawner.c) starts each further one when the broker
 * asks, which it does when clone finds no idle slot.  A pool thread idles
 * reading its wake pipe.  clone hands an idle slot the caller's registers
 * (rax = 0, the new stack and TLS) as an rt_sigreturn frame on the slot's
 * signal stack and writes a byte to its wake pipe; the slot starts the
 * program's thread with rt_sigreturn, which loads every register, the FPU
 * state and the real signal mask at once.  A thread that exits goes back to
 * the pool the same way. */
#include "runtime.h"

#define CLONE_THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD)
#define CLONE_TID_FLAGS (CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)
#define ROBUST_LIST_LIMIT 2048

__attribute__((noreturn)) void sb_sigreturn_to(unsigned long frame_sp);
void sb_pool_entry(void);

struct sb_thread *sb_thread_at(unsigned slot)
{
    return (struct sb_thread *)(ST->boot.threads_base + (unsigned long)slot * SB_THREAD_BLOCK);
}

/* Virtual thread ids: the process id for the first thread, then a new id
 * for each thread started, as Linux hands them out (not the slot's: a tid
 * must not come back at once for the next thread). */
struct sb_thread *sb_thread_by_tid(long tid)
{
    for (unsigned i = 0, started = sb_slots_started(); i < started; i++) {
        struct sb_thread *t = sb_thread_at(i);
        if (t->tid == tid && __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == SB_THREAD_LIVE)
            return t;
    }
    return NULL;
}

static int new_tid(void)
{
    for (;;) {
        unsigned n = __atomic_fetch_add(&ST->next_tid, 1, __ATOMIC_RELAXED);
        long tid = (long)ST->boot.pid + 1 + (long)(n % SB_TID_RANGE);
        if (!sb_thread_by_tid(tid))
            return (int)tid;
    }
}

void sb_wake(struct sb_thread *t)
{
    sys3(__NR_write, t->wake_wfd, "w", 1); /* non-blocking: a full pipe is already awake */
}

static unsigned long alt_top(struct sb_thread *t)
{
    return ((unsigned long)t + SB_THREAD_BLOCK) & ~63UL;
}

static stack_t our_altstack(struct sb_thread *t)
{
    unsigned long base = (unsigned long)t + SB_IDLE_STACK;
    return (stack_t){(void *)base, 0, (unsigned long)t + SB_THREAD_BLOCK - base};
}

static unsigned fp_size(const unsigned char *fp)
{
    const unsigned *sw = (const unsigned *)(fp + 464); /* fx_sw_bytes */
    return sw[0] == 0x46505853U ? sw[1] : 512;
}

/* An rt_sigreturn frame at the top of t's signal stack: `from` with the
 * FPU state copied alongside.  Returns the stack pointer to sigreturn with. */
static unsigned long build_start_frame(struct sb_thread *t, const struct ucontext *from)
{
    unsigned long sp = alt_top(t);
    const unsigned char *fp = (const unsigned char *)from->uc_mcontext.fpstate;
    unsigned size = fp ? fp_size(fp) : 0;
    sp = (sp - size) & ~63UL;
    if (fp)
        memcpy((void *)sp, fp, size);
    unsigned long fp_copy = sp;
    struct rt_frame *f = (struct rt_frame *)(((sp - sizeof *f) & ~15UL) - 8);
    f->pretcode = 0;
    f->uc = *from;
    f->uc.uc_link = NULL;
    f->uc.uc_stack = our_altstack(t);
    f->uc.uc_mcontext.fpstate = fp ? (void *)fp_copy : NULL;
    memset(&f->info, 0, sizeof f->info);
    return (unsigned long)&f->uc;
}

static struct sb_thread *claim_slot(void)
{
    for (unsigned i = 0, started = sb_slots_started(); i < started; i++) {
        struct sb_thread *t = sb_thread_at(i);
        unsigned idle = SB_THREAD_IDLE;
        if (__atomic_compare_exchange_n(&t->state, &idle, SB_THREAD_STARTING, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return t;
    }
    return NULL;
}

long sys_clone(struct sb_call *c)
{
    unsigned long flags = c->a[0], newsp = c->a[1], ptid = c->a[2], ctid = c->a[3], tls = c->a[4];
    /* Anything but a thread (fork-like clones, namespaces, vfork) is the broker's to refuse. */
    if ((flags & CLONE_THREAD_FLAGS) != CLONE_THREAD_FLAGS ||
        (flags & ~(CLONE_THREAD_FLAGS | CLONE_SYSVSEM | CLONE_DETACHED | CLONE_TID_FLAGS)) || !newsp)
        return sb_forward(c);
    if (((flags & CLONE_PARENT_SETTID) && !SB_ARENA_OK(ptid, 4)) ||
        ((flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) && !SB_ARENA_OK(ctid, 4)))
        return -EFAULT;
    struct sb_thread *n;
    while (!(n = claim_slot())) {
        /* No idle slot: the broker has the spawner start one (0: claim
         * again), or answers EAGAIN (at the thread limit, or the spawn
         * failed); a signal meanwhile restarts the call after its handler. */
        long r = sb_forward(c);
        if (r)
            return r;
    }
    int tid = n->tid = new_tid();
    n->sigmask = c->t->sigmask;
    n->sigpending = 0;
    n->alt_sp = n->alt_size = 0;
    n->alt_flags = SS_DISABLE;
    n->clear_tid = (flags & CLONE_CHILD_CLEARTID) ? ctid : 0;
    n->robust_list = n->robust_len = 0;
    n->futex_queued = 0;
    n->restart_kind = 0;
    n->suspended = 0;
    n->sigwait_set = 0;
    n->in_exit = 0;
    n->outer_uc = 0;
    struct ucontext uc = *c->uc;
    uc.uc_mcontext.rax = 0;
    uc.uc_mcontext.rsp = newsp;
    if (flags & CLONE_PARENT_SETTID)
        *(int *)ptid = tid;
    if (flags & CLONE_CHILD_SETTID)
        *(int *)ctid = tid;
    if (__atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) == 1)
        sb_hand_back_positions(c->t);
    sb_start_thread(n, &uc, (flags & CLONE_SETTLS) ? tls : rdfsbase());
    /* The main thread is paired with the broker only while it is alone: a
     * polling broker holds a CPU that threads handing work to each other
     * may need. */
    if (__atomic_exchange_n(&ST->boot.cpu, 0, __ATOMIC_ACQ_REL))
        sb_broker(c->t, SB_OP_SPREAD, NULL, 0, NULL, 0);
    return tid;
}

/* Readies the claimed slot n to start with the registers in uc (the real
 * signal mask empty, as for every program thread) and FS base fs; a byte to
 * its wake pipe starts it. */
void sb_ready_thread(struct sb_thread *n, const struct ucontext *uc, unsigned long fs)
{
    struct ucontext start = *uc;
    start.uc_sigmask = 0;
    n->start_fs = fs;
    n->start_frame = build_start_frame(n, &start);
    __atomic_add_fetch(&ST->live_threads, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&n->state, SB_THREAD_LIVE, __ATOMIC_RELEASE);
}

void sb_start_thread(struct sb_thread *n, const struct ucontext *uc, unsigned long fs)
{
    sb_ready_thread(n, uc, fs);
    sb_wake(n);
}

long sys_clone3(struct sb_call *c)
{
    (void)c;
    return -ENOSYS; /* glibc falls back to clone */
}

/* Into the idle loop by rt_sigreturn (leaving the signal stack, if on it),
 * with asynchronous signals really blocked: an idle slot must not take
 * them.  uc gives the segment registers. */
__attribute__((noreturn)) static void to_pool(struct sb_thread *t, struct ucontext uc, long notify_fd)
{
    struct sigcontext *m = &uc.uc_mcontext;
    m->rip = (unsigned long)sb_pool_entry;
    m->rsp = ((unsigned long)t + SB_IDLE_STACK) & ~15UL;
    m->rdi = (unsigned long)t;
    m->rsi = (unsigned long)notify_fd;
    m->fpstate = NULL; /* the kernel resets the FPU */
    uc.uc_sigmask = SB_ASYNC_SIGNALS;
    uc.uc_stack = our_altstack(t);
    struct rt_frame *f = (struct rt_frame *)(((m->rsp - sizeof *f) & ~15UL) - 8);
    f->uc = uc;
    sb_sigreturn_to((unsigned long)&f->uc);
}

/* A thread the spawner just started, confined now but with every signal
 * blocked (the spawner's mask).  Its ready message first: the broker answers
 * once it watches the thread (the spawner's pidfd of it), so no clone can
 * claim it before.  Then into the pool, telling the broker on the spawn
 * socket once it is idle. */
void sb_pool_join(struct sb_thread *t, long spawn_fd)
{
    __atomic_add_fetch(&ST->pool_ready, 1, __ATOMIC_RELEASE);
    if (sb_send_ready(t))
        sys1(__NR_exit, 125); /* no channel: the broker ends the sandbox */
    struct ucontext uc;
    memset(&uc, 0, sizeof uc);
    uc.uc_mcontext.cs = 0x33; /* __USER_CS */
    uc.uc_mcontext.ss = 0x2b; /* __USER_DS */
    uc.uc_mcontext.eflags = 0x202;
    to_pool(t, uc, spawn_fd);
}

/* One robust lock of a dying thread: if it still owns it, mark it
 * OWNER_DIED and wake a waiter, so the next locker gets EOWNERDEAD. */
static void release_robust_lock(struct sb_thread *t, unsigned long entry, long offset)
{
    unsigned long word = (entry & ~1UL) + (unsigned long)offset; /* bit 0: a PI lock */
    if (!SB_ARENA_OK(word, 4) || (word & 3))
        return;
    unsigned *w = (unsigned *)word;
    unsigned v = __atomic_load_n(w, __ATOMIC_RELAXED);
    while ((v & FUTEX_TID_MASK) == (unsigned)t->tid) {
        unsigned nv = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if (__atomic_compare_exchange_n(w, &v, nv, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            if (v & FUTEX_WAITERS)
                sb_futex_wake(word, 1, ~0U);
            return;
        }
    }
}

/* The kernel's robust-list walk for a dying thread: every lock on the list
 * (at most ROBUST_LIST_LIMIT, a cycle ends there), then the one whose lock
 * or unlock was in progress. */
static void release_robust(struct sb_thread *t)
{
    unsigned long head = t->robust_list;
    if (!head || !SB_ARENA_OK(head, 24))
        return;
    const unsigned long *h = (const unsigned long *)head;
    unsigned long e = h[0], pending = h[2];
    long offset = (long)h[1];
    for (int n = 0; e != head && n < ROBUST_LIST_LIMIT; n++) {
        if (!SB_ARENA_OK(e & ~1UL, 8))
            break;
        unsigned long next = *(const unsigned long *)(e & ~1UL);
        if (e != pending)
            release_robust_lock(t, e, offset);
        e = next;
    }
    if (pending)
        release_robust_lock(t, pending, offset);
}

/* exit of one thread: clear and wake its CLEARTID word (pthread_join),
 * release its robust locks and return it to the pool; the last thread's
 * exit ends the process. */
void sb_thread_exit(struct sb_call *c, long status)
{
    struct sb_thread *t = c->t;
    __atomic_add_fetch(&ST->threads_exiting, 1, __ATOMIC_ACQ_REL); /* before it leaves live_threads */
    if (__atomic_sub_fetch(&ST->live_threads, 1, __ATOMIC_ACQ_REL) == 0)
        sb_exit_process(t, status);
    release_robust(t);
    if (t->clear_tid && SB_ARENA_OK(t->clear_tid, 4) && !(t->clear_tid & 3)) {
        __atomic_store_n((int *)t->clear_tid, 0, __ATOMIC_RELEASE);
        sb_futex_wake(t->clear_tid, 1, ~0U);
    }
    __atomic_sub_fetch(&ST->threads_exiting, 1, __ATOMIC_ACQ_REL); /* no more runtime work that may ask the broker */
    to_pool(t, *c->uc, -1);
}

/* An idle slot: wait for clone to hand it a thread.  Bytes left over from
 * futex wakes of the previous thread are read and dropped.  notify_fd >= 0:
 * a new slot, which tells the broker it can be claimed now. */
void sb_pool_idle(struct sb_thread *t, long notify_fd)
{
    wrfsbase(0);
    t->futex_queued = 0;
    t->sigpending = 0;
    t->clear_tid = 0;
    __atomic_store_n(&t->state, SB_THREAD_IDLE, __ATOMIC_RELEASE);
    if (notify_fd >= 0)
        sys3(__NR_write, notify_fd, "r", 1);
    for (;;) {
        char b;
        long r = sys3(__NR_read, t->wake_rfd, &b, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN)
            sys1(__NR_exit, 125); /* no wake pipe (as for a lost channel): the broker ends the sandbox */
        if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == SB_THREAD_LIVE) {
            wrfsbase(t->start_fs);
            sb_sigreturn_to(t->start_frame);
        }
    }
}
