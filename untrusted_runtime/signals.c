/* The program's signal dispositions, masks and alternate stack are
 * bookkeeping here: the real handlers (ours) stay installed and the real mask
 * stays empty, because a SIGSYS raised while blocked kills the process.
 * Signals are delivered to the program's handler on a kernel-style
 * rt_sigframe built on the program's own stack; the program's restorer then
 * traps rt_sigreturn, which we emulate by loading that frame back.
 *
 * Asynchronous signals (from the broker's timers, a sibling's tgkill, the
 * outside) arrive as real signals in sb_async.  On program code they are
 * delivered at once.  Inside our runtime they are marked pending: a blocking
 * read there returns EINTR (our handlers have no SA_RESTART), the call ends
 * with ERESTARTSYS/ERESTARTNOHAND, and sb_return_to_program, the last step
 * of every handler of ours, delivers them as the kernel would on its way
 * back to user mode. */
#include "runtime.h"

#define BIT(sig) SB_BIT(sig)
#define SIG_IGN_VALUE 1UL
#define SI_USER 0
#define SI_QUEUE (-1)
#define SI_TKILL (-6)
#define RT_MIN 32
#define QUEUE_MAX 64 /* queued instances of one real-time signal */
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP))
#define FP_XSTATE_MAGIC1 0x46505853U
#define FXSAVE_SIZE 512
#define SW_BYTES_OFF 464 /* fx_sw_bytes inside the fxsave area */
#define USER_EFLAGS 0x50dd5UL /* AC OF DF TF SF ZF AF PF CF RF, as the kernel keeps */

long sys_rt_sigaction(struct sb_call *c)
{
    long sig = (long)c->a[0];
    if (sig < 1 || sig >= SB_NSIG || c->a[3] != 8)
        return -EINVAL;
    struct k_sigaction *act = (void *)c->a[1], *old = (void *)c->a[2];
    if ((act && !SB_ARENA_OK(act, sizeof *act)) || (old && !SB_ARENA_OK(old, sizeof *old)))
        return -EFAULT;
    struct sb_sigaction cur = ST->sig[sig];
    if (act) {
        if (sig == SIGKILL || sig == SIGSTOP)
            return -EINVAL;
        ST->sig[sig] = (struct sb_sigaction){act->handler, act->flags, act->restorer,
                                             act->mask & ~UNBLOCKABLE};
    }
    if (old)
        *old = (struct k_sigaction){cur.handler, cur.flags, cur.restorer, cur.mask};
    return 0;
}

long sys_rt_sigprocmask(struct sb_call *c)
{
    unsigned long how = c->a[0], *set = (void *)c->a[1], *old = (void *)c->a[2];
    if (c->a[3] != 8)
        return -EINVAL;
    if ((set && !SB_ARENA_OK(set, 8)) || (old && !SB_ARENA_OK(old, 8)))
        return -EFAULT;
    unsigned long prev = c->t->sigmask;
    if (set) {
        unsigned long s = *set & ~UNBLOCKABLE;
        if (how == SIG_BLOCK)
            c->t->sigmask |= s;
        else if (how == SIG_UNBLOCK)
            c->t->sigmask &= ~s;
        else if (how == SIG_SETMASK)
            c->t->sigmask = s;
        else
            return -EINVAL;
    }
    if (old)
        *old = prev;
    return 0;
}

static int on_prog_altstack(struct sb_thread *t, unsigned long sp)
{
    return t->alt_size && sp - t->alt_sp <= t->alt_size;
}

long sys_sigaltstack(struct sb_call *c)
{
    struct sb_thread *t = c->t;
    stack_t *ss = (void *)c->a[0], *old = (void *)c->a[1];
    if ((ss && !SB_ARENA_OK(ss, sizeof *ss)) || (old && !SB_ARENA_OK(old, sizeof *old)))
        return -EFAULT;
    int onstack = on_prog_altstack(t, c->uc->uc_mcontext.rsp);
    stack_t prev = {(void *)t->alt_sp, (int)(t->alt_size ? (onstack ? SS_ONSTACK : 0) : SS_DISABLE),
                    t->alt_size};
    if (ss) {
        if (onstack)
            return -EPERM;
        if (ss->ss_flags & SS_DISABLE) {
            t->alt_sp = t->alt_size = 0;
        } else {
            if (ss->ss_flags & ~(unsigned long)SS_AUTODISARM)
                return -EINVAL;
            if (ss->ss_size < 2048)
                return -ENOMEM;
            t->alt_sp = (unsigned long)ss->ss_sp;
            t->alt_size = ss->ss_size;
        }
    }
    if (old)
        *old = prev;
    return 0;
}

static unsigned fpstate_size(const unsigned char *fp)
{
    const unsigned *sw = (const unsigned *)(fp + SW_BYTES_OFF);
    return sw[0] == FP_XSTATE_MAGIC1 ? sw[1] : FXSAVE_SIZE;
}

/* Builds the program's rt_sigframe for `sig` and points uc at its handler. */
static void push_frame(struct sb_thread *t, int sig, const k_siginfo *si, struct ucontext *uc)
{
    struct sb_sigaction *a = &ST->sig[sig];
    struct sigcontext *m = &uc->uc_mcontext;
    unsigned long sp = m->rsp;
    if ((a->flags & SA_ONSTACK) && t->alt_size && !on_prog_altstack(t, sp))
        sp = t->alt_sp + t->alt_size;
    sp -= 128; /* the red zone */
    const unsigned char *fp = (const unsigned char *)m->fpstate;
    unsigned fpsize = fp ? fpstate_size(fp) : 0;
    sp = (sp - fpsize) & ~63UL;
    unsigned long fp_copy = sp;
    sp = ((sp - sizeof(struct rt_frame)) & ~15UL) - 8;
    struct rt_frame *f = (struct rt_frame *)sp;
    if (!SB_ARENA_OK(sp, fp_copy + fpsize - sp))
        sb_die(t, SIGSEGV, NULL, m->rip); /* no room for the frame: as the kernel would */

    if (fp)
        memcpy((void *)fp_copy, fp, fpsize);
    f->pretcode = a->restorer;
    f->uc = *uc;
    f->uc.uc_link = NULL;
    f->uc.uc_stack = (stack_t){(void *)t->alt_sp, t->alt_size ? 0 : SS_DISABLE, t->alt_size};
    f->uc.uc_mcontext.fpstate = fp ? (void *)fp_copy : NULL;
    f->uc.uc_sigmask = t->suspended ? t->suspend_mask : t->sigmask;
    f->info = *si;
    if (t->suspended) { /* rt_sigsuspend's mask ends with the handler */
        t->sigmask = t->suspend_mask;
        t->suspended = 0;
    }

    t->sigmask |= a->mask | ((a->flags & SA_NODEFER) ? 0 : BIT(sig));
    t->sigmask &= ~UNBLOCKABLE;
    unsigned long handler = a->handler;
    if (a->flags & SA_RESETHAND)
        a->handler = 0;
    m->rip = handler;
    m->rsp = sp;
    m->rdi = (unsigned long)sig;
    m->rsi = (unsigned long)&f->info;
    m->rdx = (unsigned long)&f->uc;
    m->rax = 0;
    m->eflags &= ~0x400UL; /* DF clear on handler entry */
}

void sb_deliver_fault(struct sb_thread *t, int sig, k_siginfo *si, struct ucontext *uc)
{
    struct sb_sigaction *a = &ST->sig[sig];
    /* Linux forces the default action on a blocked or ignored synchronous fault. */
    if (a->handler <= 1 || (t->sigmask & BIT(sig)) || !(a->flags & SA_RESTORER))
        sb_die(t, sig, si, uc->uc_mcontext.rip);
    push_frame(t, sig, si, uc);
}

/* -- asynchronous signals ------------------------------------------------- */

static int default_ignored(int sig)
{
    /* there is no job control in a sandbox: the stop signals are ignored too */
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT ||
           sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU || sig == SIGSTOP;
}

static int ignored(int sig)
{
    unsigned long h = ST->sig[sig].handler;
    return h == SIG_IGN_VALUE || (h == 0 && default_ignored(sig));
}

static int lowest(unsigned long set)
{
    return __builtin_ctzl(set) + 1;
}

/* -- pending sets and their queues ---------------------------------------------
 * A thread's own (t->sigpending, t->sigq) and the process's (ST->...), each
 * changed with atomics only: a signal handler of ours may add to them while
 * this thread's runtime, or a sibling, takes from them. */

/* One instance of sig into a pending set: a standard signal is pending or
 * not (the first one's siginfo is kept); real-time ones queue. */
static void pend(uint64_t *set, struct sb_sigq *q, int sig, int code, const unsigned char *fields)
{
    struct sb_sigq *e = &q[sig];
    int fresh = !(__atomic_load_n(set, __ATOMIC_ACQUIRE) & BIT(sig));
    if (!fresh && (sig < RT_MIN || __atomic_load_n(&e->count, __ATOMIC_ACQUIRE) >= QUEUE_MAX))
        return; /* pending already (past RLIMIT_SIGPENDING, for a real-time one) */
    if (fresh) {
        e->code = code;
        memcpy(e->fields, fields, sizeof e->fields);
        __atomic_store_n(&e->count, 0, __ATOMIC_RELEASE);
    }
    __atomic_add_fetch(&e->count, 1, __ATOMIC_ACQ_REL);
    __atomic_or_fetch(set, BIT(sig), __ATOMIC_ACQ_REL);
}

static void fill_info(k_siginfo *info, int sig, const struct sb_sigq *e)
{
    memset(info, 0, sizeof *info);
    info->si_signo = sig;
    info->si_code = e->code;
    memcpy(info->raw, e->fields, sizeof e->fields);
    if (e->code == SI_USER || e->code == SI_TKILL || e->code == SI_QUEUE) {
        unsigned *ids = (unsigned *)info->raw; /* si_pid, si_uid: the sandbox's own */
        ids[0] = ST->boot.pid;
        ids[1] = ST->boot.uid;
    }
}

/* Takes one instance of sig out of a pending set; 1 if there was one. */
static int unpend(uint64_t *set, struct sb_sigq *q, int sig, k_siginfo *info)
{
    struct sb_sigq *e = &q[sig];
    for (;;) {
        uint64_t cur = __atomic_load_n(set, __ATOMIC_ACQUIRE);
        if (!(cur & BIT(sig)))
            return 0;
        fill_info(info, sig, e);
        unsigned n = __atomic_load_n(&e->count, __ATOMIC_ACQUIRE);
        if (n > 1) {
            if (__atomic_compare_exchange_n(&e->count, &n, n - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                return 1;
            continue;
        }
        if (__atomic_compare_exchange_n(set, &cur, cur & ~BIT(sig), 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            __atomic_store_n(&e->count, 0, __ATOMIC_RELEASE);
            return 1;
        }
    }
}

/* A pending signal among `allowed`, this thread's first, taken. */
static int take_from(struct sb_thread *t, unsigned long allowed, k_siginfo *info)
{
    for (;;) {
        unsigned long mine = __atomic_load_n(&t->sigpending, __ATOMIC_ACQUIRE) & allowed;
        unsigned long ours = __atomic_load_n(&ST->sigpending, __ATOMIC_ACQUIRE) & allowed;
        if (mine) {
            int sig = lowest(mine);
            if (unpend(&t->sigpending, t->sigq, sig, info))
                return sig;
        } else if (ours) {
            int sig = lowest(ours);
            if (unpend(&ST->sigpending, ST->sigq, sig, info)) {
                __atomic_and_fetch(&ST->sigpoked, ~BIT(sig), __ATOMIC_ACQ_REL);
                return sig;
            }
        } else {
            return 0;
        }
    }
}

int sb_signal_waiting(struct sb_thread *t)
{
    unsigned long pending = t->sigpending | __atomic_load_n(&ST->sigpending, __ATOMIC_ACQUIRE);
    return (pending & (~t->sigmask | t->sigwait_set)) != 0;
}

/* A process-directed signal: pending for the process, and a thread waiting
 * for it in rt_sigtimedwait is woken to take it. */
static void pend_process(int sig, int code, const unsigned char *fields)
{
    pend(&ST->sigpending, ST->sigq, sig, code, fields);
    for (unsigned i = 0, started = sb_slots_started(); i < started; i++) {
        struct sb_thread *w = sb_thread_at(i);
        if (w->sigwait_set & BIT(sig) && __atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == SB_THREAD_LIVE)
            sb_wake(w);
    }
}

/* A live thread other than t that does not block sig (its slot), or -1. */
static int taker(struct sb_thread *t, int sig)
{
    for (unsigned i = 0, started = sb_slots_started(); i < started; i++) {
        struct sb_thread *w = sb_thread_at(i);
        if (w != t && !(w->sigmask & BIT(sig)) &&
            __atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == SB_THREAD_LIVE)
            return (int)i;
    }
    return -1;
}

/* Process-directed signals that t blocks, that another thread would take,
 * and that no thread was poked for yet.  (The kernel hands a process signal
 * to any thread: it does not see our masks.) */
static unsigned long unclaimed(struct sb_thread *t)
{
    unsigned long want = __atomic_load_n(&ST->sigpending, __ATOMIC_ACQUIRE) & t->sigmask &
                         ~__atomic_load_n(&ST->sigpoked, __ATOMIC_ACQUIRE);
    for (unsigned long rest = want; rest; rest &= rest - 1)
        if (taker(t, lowest(rest)) < 0)
            want &= ~BIT(lowest(rest));
    return want;
}

/* A wait of t's must end now: a signal it takes is pending, or one it
 * blocks needs another thread poked (poke_takers, once the call is out). */
int sb_must_stop(struct sb_thread *t)
{
    return sb_signal_waiting(t) || unclaimed(t);
}

/* The broker pokes a taker of each unclaimed signal, which takes it
 * wherever it is, computing or waiting in a call.  Only where t has no call
 * of its own out: a handler about to return to the program (an interrupted
 * call was rewound: it restarts), or a call it serves. */
static void poke_takers(struct sb_thread *t)
{
    for (unsigned long want = unclaimed(t); want; want &= want - 1) {
        int sig = lowest(want), slot = taker(t, sig);
        if (slot >= 0 && !(__atomic_fetch_or(&ST->sigpoked, BIT(sig), __ATOMIC_ACQ_REL) & BIT(sig))) {
            unsigned long a = (unsigned long)slot;
            sb_broker(t, SB_OP_POKE, &a, 1, NULL, 0);
        }
    }
}

static void deliver_async(struct sb_thread *t, int sig, const k_siginfo *info, struct ucontext *uc)
{
    struct sigcontext *m = &uc->uc_mcontext;
    if (ignored(sig))
        return; /* an interrupted call stays rewound: it restarts */
    if (ST->sig[sig].handler == 0)
        sb_die(t, sig, NULL, m->rip); /* the default action: the process ends */
    if (t->restart_kind && m->rip == t->restart_rip) {
        if (t->restart_kind == ERESTARTNOHAND ||
            (t->restart_kind == ERESTARTSYS && !(ST->sig[sig].flags & SA_RESTART))) {
            m->rip += 2;
            m->rax = (unsigned long)-EINTR;
        }
        t->restart_kind = 0;
    }
    push_frame(t, sig, info, uc);
}

static void deliver_all(struct sb_thread *t, struct ucontext *uc)
{
    k_siginfo info;
    int sig;
    while ((sig = take_from(t, ~t->sigmask, &info)))
        deliver_async(t, sig, &info, uc);
}

/* The last step of each of our handlers before it returns to the program:
 * deliver every pending signal the thread does not block.  in_exit tells a
 * signal arriving after the last look to deliver itself onto uc. */
void sb_return_to_program(struct sb_thread *t, struct ucontext *uc)
{
    poke_takers(t);
    for (;;) {
        deliver_all(t, uc);
        __atomic_store_n(&t->in_exit, 1, __ATOMIC_SEQ_CST);
        if (!((t->sigpending | __atomic_load_n(&ST->sigpending, __ATOMIC_ACQUIRE)) & ~t->sigmask))
            return;
        __atomic_store_n(&t->in_exit, 0, __ATOMIC_SEQ_CST);
    }
}

void sb_async(int sig, k_siginfo *si, struct ucontext *uc)
{
    struct sb_thread *t = sb_current_thread();
    int poke = si->si_code == SI_QUEUE && *(uint64_t *)(si->raw + 8) == SB_POKE_VALUE;
    if (poke) {
        /* the broker's nudge: a process signal is pending that this thread
         * may take; one it has come to block must go to another thread */
        __atomic_and_fetch(&ST->sigpoked, ~t->sigmask, __ATOMIC_ACQ_REL);
    } else if (ignored(sig) && !(t->sigwait_set & BIT(sig))) {
        return;
    /* A process-directed signal this thread blocks may go to a sibling. */
    } else if (si->si_code != SI_TKILL && (t->sigmask & BIT(sig)) && !(t->sigwait_set & BIT(sig))) {
        pend_process(sig, si->si_code, si->raw);
    } else {
        pend(&t->sigpending, t->sigq, sig, si->si_code, si->raw);
    }
    if (!sb_in_stub_text(uc->uc_mcontext.rip)) {
        t->outer_uc = (unsigned long)uc;
        t->in_exit = 0;
        t->restart_kind = t->restart_kind && uc->uc_mcontext.rip == t->restart_rip ? t->restart_kind : 0;
        sb_return_to_program(t, uc);
    } else if (t->in_exit && t->outer_uc) {
        deliver_all(t, (struct ucontext *)t->outer_uc);
    } else if (sb_must_stop(t)) {
        /* Our runtime is at work on this thread and looks before it returns;
         * but it may be about to block: make sure the wait ends. */
        sb_cancel_if_signalled(t);      /* a broker call's answer it reads */
        if (t->futex_queued)
            sb_wake(t);                 /* a futex wait on its wake pipe */
    }
}

/* -- sending ---------------------------------------------------------------- */

static long pend_self(struct sb_thread *t, int sig, int code)
{
    unsigned char fields[16] = {0};
    if (sig && !ignored(sig))
        pend(&t->sigpending, t->sigq, sig, code, fields);
    return 0;
}

long sys_kill(struct sb_call *c)
{
    int pid = (int)c->a[0], sig = (int)c->a[1];
    if (sig < 0 || sig >= SB_NSIG)
        return -EINVAL;
    if (pid != (int)ST->boot.pid && pid != 0 && pid != -(int)ST->boot.pid)
        return -ESRCH; /* the sandbox sees no other process */
    if (!sig || ignored(sig))
        return 0;
    if (!(c->t->sigmask & BIT(sig)))
        return pend_self(c->t, sig, SI_USER);
    /* blocked here: pending for the process, and a thread that does not
     * block it is poked (it may be waiting, or computing) */
    unsigned char fields[16] = {0};
    pend_process(sig, SI_USER, fields);
    poke_takers(c->t);
    return 0;
}

long sys_rt_sigpending(struct sb_call *c)
{
    if (c->a[1] != 8)
        return -EINVAL;
    if (!SB_ARENA_OK(c->a[0], 8))
        return -EFAULT;
    unsigned long pending = c->t->sigpending | __atomic_load_n(&ST->sigpending, __ATOMIC_ACQUIRE);
    *(unsigned long *)c->a[0] = pending & c->t->sigmask;
    return 0;
}

/* sigwaitinfo and sigtimedwait: take a pending signal of the set, or wait
 * for one (the broker watches the wake pipe a sender writes to). */
long sys_rt_sigtimedwait(struct sb_call *c)
{
    struct sb_thread *t = c->t;
    if (c->a[3] != 8)
        return -EINVAL;
    if (!SB_ARENA_OK(c->a[0], 8) || (c->a[1] && !SB_ARENA_OK(c->a[1], sizeof(k_siginfo))))
        return -EFAULT;
    unsigned long set = *(unsigned long *)c->a[0] & ~UNBLOCKABLE;
    long deadline = -1, real, now, ns;
    if (c->a[2]) {
        long e = sb_timespec_ns(c->a[2], &ns);
        if (e)
            return e;
        sb_clock_now(&real, &now);
        deadline = ns > 0x7fffffffffffffffL - now ? 0x7fffffffffffffffL : now + ns;
    }
    for (;;) {
        k_siginfo info;
        int sig = take_from(t, set, &info);
        if (sig) {
            if (c->a[1])
                *(k_siginfo *)c->a[1] = info;
            return sig;
        }
        if ((t->sigpending | ST->sigpending) & ~t->sigmask & ~set)
            return -ERESTARTNOHAND; /* a handler runs first: EINTR */
        poke_takers(t);
        unsigned long left = 1UL << 62;
        if (deadline >= 0) {
            sb_clock_now(&real, &now);
            if (now >= deadline)
                return -EAGAIN;
            left = (unsigned long)(deadline - now);
        }
        t->sigwait_set = set;
        sb_wake_wait(t, left);
        t->sigwait_set = 0;
    }
}

static long thread_kill(struct sb_call *c, long tid, long sig)
{
    if (sig < 0 || sig >= SB_NSIG)
        return -EINVAL;
    if (tid <= 0)
        return -EINVAL;
    struct sb_thread *to = sb_thread_by_tid(tid);
    if (!to)
        return -ESRCH;
    if (to == c->t)
        return pend_self(c->t, (int)sig, SI_TKILL);
    return sb_forward(c); /* a real signal to the sibling's kernel thread, sent by the broker */
}

long sys_tgkill(struct sb_call *c)
{
    if ((int)c->a[0] != (int)ST->boot.pid)
        return (int)c->a[0] <= 0 ? -EINVAL : -ESRCH;
    return thread_kill(c, (int)c->a[1], (int)c->a[2]);
}

long sys_tkill(struct sb_call *c)
{
    return thread_kill(c, (int)c->a[0], (int)c->a[1]);
}

/* rt_sigsuspend, ppoll and pselect6 wait under a mask of their own: it is
 * held until the handler of the signal that ends the wait has run (the frame
 * keeps the program's mask), or given back at once if none will run. */
static void hold_mask(struct sb_thread *t, unsigned long mask)
{
    t->suspend_mask = t->sigmask;
    t->suspended = 1;
    t->sigmask = mask & ~UNBLOCKABLE;
}

static void release_mask_unless_signalled(struct sb_thread *t)
{
    if (!sb_signal_waiting(t)) {
        t->sigmask = t->suspend_mask;
        t->suspended = 0;
    }
}

/* ppoll and pselect6: the broker waits, our side holds the mask. */
static long wait_with_mask(struct sb_call *c, unsigned long maskp, unsigned long size)
{
    struct sb_thread *t = c->t;
    if (!maskp)
        return sb_forward(c);
    if (size != 8)
        return -EINVAL;
    if (!SB_ARENA_OK(maskp, 8))
        return -EFAULT;
    hold_mask(t, *(unsigned long *)maskp);
    long r = sb_signal_waiting(t) ? -ERESTARTNOHAND : sb_forward(c);
    release_mask_unless_signalled(t);
    return r;
}

long sys_ppoll(struct sb_call *c)
{
    return wait_with_mask(c, c->a[3], c->a[4]);
}

long sys_pselect6(struct sb_call *c)
{
    unsigned long p = c->a[5];
    if (!p)
        return sb_forward(c);
    if (!SB_ARENA_OK(p, 16))
        return -EFAULT;
    return wait_with_mask(c, ((unsigned long *)p)[0], ((unsigned long *)p)[1]);
}

long sys_rt_sigsuspend(struct sb_call *c)
{
    unsigned long *set = (void *)c->a[0];
    if (c->a[1] != 8)
        return -EINVAL;
    if (!SB_ARENA_OK(set, 8))
        return -EFAULT;
    struct sb_thread *t = c->t;
    hold_mask(t, *set);
    while (!sb_signal_waiting(t)) {
        poke_takers(t);
        long r = sb_forward(c); /* the broker holds it until a signal interrupts */
        if (r != -ERESTARTNOHAND && r != -EINTR)
            break;
    }
    release_mask_unless_signalled(t); /* (only a misbehaving broker leaves none) */
    return -EINTR;
}

/* The program's restorer has popped pretcode: its rsp is the frame's ucontext. */
long sys_rt_sigreturn(struct sb_call *c)
{
    struct sigcontext *m = &c->uc->uc_mcontext;
    struct ucontext *fu = (struct ucontext *)m->rsp;
    if (!SB_ARENA_OK(fu, sizeof *fu))
        sb_die(c->t, SIGSEGV, NULL, m->rip);
    struct sigcontext *s = &fu->uc_mcontext;
    unsigned char *ours = (unsigned char *)m->fpstate;
    const unsigned char *theirs = (const unsigned char *)s->fpstate;
    if (ours && theirs) {
        unsigned n = fpstate_size(ours);
        if (!SB_ARENA_OK(theirs, n))
            sb_die(c->t, SIGSEGV, NULL, m->rip);
        /* keep our own size description; take every register value */
        unsigned char sw[FXSAVE_SIZE - SW_BYTES_OFF];
        memcpy(sw, ours + SW_BYTES_OFF, sizeof sw);
        memcpy(ours, theirs, n);
        memcpy(ours + SW_BYTES_OFF, sw, sizeof sw);
    }
    m->r8 = s->r8, m->r9 = s->r9, m->r10 = s->r10, m->r11 = s->r11;
    m->r12 = s->r12, m->r13 = s->r13, m->r14 = s->r14, m->r15 = s->r15;
    m->rdi = s->rdi, m->rsi = s->rsi, m->rbp = s->rbp, m->rbx = s->rbx;
    m->rdx = s->rdx, m->rax = s->rax, m->rcx = s->rcx, m->rsp = s->rsp, m->rip = s->rip;
    m->eflags = (m->eflags & ~USER_EFLAGS) | (s->eflags & USER_EFLAGS);
    c->t->sigmask = fu->uc_sigmask & ~UNBLOCKABLE;
    c->keep_regs = 1;
    return 0;
}
