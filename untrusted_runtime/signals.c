/* The program's signal dispositions, masks and alternate stack are
 * bookkeeping here: the real handlers (ours) stay installed and the real mask
 * stays empty, because a SIGSYS raised while blocked kills the process.
 * Synchronous faults are delivered to the program's handler on a kernel-style
 * rt_sigframe built on the program's own stack; the program's restorer then
 * traps rt_sigreturn, which we emulate by loading that frame back. */
#include "runtime.h"

#define BIT(sig) (1UL << ((sig) - 1))
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP))
#define FP_XSTATE_MAGIC1 0x46505853U
#define FXSAVE_SIZE 512
#define SW_BYTES_OFF 464 /* fx_sw_bytes inside the fxsave area */
#define USER_EFLAGS 0x50dd5UL /* AC OF DF TF SF ZF AF PF CF RF, as the kernel keeps */

struct rt_frame {
    unsigned long pretcode;
    struct ucontext uc;
    k_siginfo info;
};

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

void sb_deliver_fault(struct sb_thread *t, int sig, k_siginfo *si, struct ucontext *uc)
{
    struct sb_sigaction *a = &ST->sig[sig];
    struct sigcontext *m = &uc->uc_mcontext;
    /* Linux forces the default action on a blocked or ignored synchronous fault. */
    if (a->handler <= 1 || (t->sigmask & BIT(sig)) || !(a->flags & SA_RESTORER))
        sb_die(t, sig, si, m->rip);

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
        sb_die(t, SIGSEGV, si, m->rip); /* no room for the frame: as the kernel would */

    if (fp)
        memcpy((void *)fp_copy, fp, fpsize);
    f->pretcode = a->restorer;
    f->uc = *uc;
    f->uc.uc_link = NULL;
    f->uc.uc_stack = (stack_t){(void *)t->alt_sp, t->alt_size ? 0 : SS_DISABLE, t->alt_size};
    f->uc.uc_mcontext.fpstate = fp ? (void *)fp_copy : NULL;
    f->uc.uc_sigmask = t->sigmask;
    f->info = *si;

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
