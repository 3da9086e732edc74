/* The SIGSYS handler: every `syscall` the program executes outside the stub's
 * text arrives here (Syscall User Dispatch).  The generated SB_LOCAL_CALLS
 * list, made from the broker's syscall table, names the calls with a local
 * handler sys_<name>; everything else goes to the broker, which serves it or
 * denies it. */
#include "runtime.h"
#include "routes.h"

#define SYS_USER_DISPATCH 2

extern const char __executable_start[] __attribute__((visibility("hidden")));
extern const char __etext[] __attribute__((visibility("hidden")));

#define DECLARE(name) long sys_##name(struct sb_call *c);
SB_LOCAL_CALLS(DECLARE)

struct sb_thread *sb_current_thread(void)
{
    unsigned long sp;
    __asm__("mov %%rsp, %0" : "=r"(sp));
    return (struct sb_thread *)(sp & ~(SB_THREAD_BLOCK - 1UL));
}

int sb_in_stub_text(unsigned long addr)
{
    return addr >= (unsigned long)__executable_start && addr <= (unsigned long)__etext;
}

/* Trace mode only: report a call served here (unless its handler forwarded
 * it, in which case the broker saw and traced it). */
static void trace_local(struct sb_call *c, long r)
{
    if (c->forwarded)
        return;
    unsigned long i = __atomic_fetch_add(&ST->trace.head, 1, __ATOMIC_RELAXED);
    struct sb_trace_rec *rec = &ST->trace.rec[i % SB_TRACE_SLOTS];
    rec->nr = c->nr;
    for (int k = 0; k < 6; k++)
        rec->args[k] = c->a[k];
    rec->result = r;
    rec->tid = c->t->tid;
    rec->flags = 0;
    int arg = -1;
    switch (c->nr) {
#define PATH_ARG(name, i) case __NR_##name: arg = i; break;
        SB_PATH_ARGS(PATH_ARG)
    }
    if (arg < 0)
        return;
    const char *p = (const char *)c->a[arg];
    unsigned long n = 0;
    while (n < SB_TRACE_PATH - 1 && SB_ARENA_OK(p + n, 1) && p[n])
        rec->path[n] = p[n], n++;
    if (n < SB_TRACE_PATH - 1 && !SB_ARENA_OK(p + n, 1))
        return; /* (not the program's memory: the tracer says so) */
    int cut = n == SB_TRACE_PATH - 1 && SB_ARENA_OK(p + n, 1) && p[n];
    rec->path[n] = 0;
    rec->flags = SB_TRACE_COPIED | (unsigned)arg << SB_TRACE_ARG_SHIFT | (cut ? SB_TRACE_CUT : 0);
}

/* The memory map is one table for all threads.  (madvise only zeroes the
 * caller's memory: a dying thread's stack must not wait for the lock.) */
static int touches_memory_map(long nr)
{
    return nr == __NR_brk || nr == __NR_mmap || nr == __NR_munmap || nr == __NR_mremap ||
           nr == __NR_mprotect;
}

/* The runtime's locks guard a few table entries, but a holder can lose its
 * CPU (a wake it writes preempts it) or wait for the broker (mmap).  Spin a
 * little, then give the CPU away: strict mode has no sched_yield, but a
 * round trip blocks us until the broker answers.  Without it, threads
 * spinning through whole time slices held a 33-thread barrier up for
 * hundreds of milliseconds. */
#define SPINS 128

void sb_lock(uint32_t *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
        for (int i = 0; __atomic_load_n(l, __ATOMIC_RELAXED); i++) {
            if (i == SPINS) {
                sb_broker(sb_current_thread(), SB_OP_YIELD, NULL, 0, NULL, 0);
                i = 0;
            }
            __builtin_ia32_pause();
        }
    }
}

/* A call the broker would only deny (struct sb_local_denial): its -errno,
 * counted for the broker's log; 0 for any other. */
static long denied_here(long nr)
{
    unsigned n = __atomic_load_n(&ST->ndenials, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n && i < SB_LOCAL_DENIALS; i++) {
        struct sb_local_denial *d = &ST->denials[i];
        if (d->nr == nr) {
            long err = d->err;
            __atomic_add_fetch(&d->count, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&ST->denied_local, 1, __ATOMIC_RELEASE);
            return err > 0 && err < 4096 ? -err : -ENOSYS;
        }
    }
    return 0;
}

static long route(struct sb_call *c)
{
    long r;
    if (c->nr < 0) /* what the kernel answers; never a runtime op on the channel */
        return -ENOSYS;
    int lock = touches_memory_map(c->nr);
    if (lock)
        sb_lock(&ST->mem_lock);
    switch (c->nr) {
#define CASE(name)                                                                           \
    case __NR_##name:                                                                        \
        __atomic_add_fetch(&ST->calls_local, 1, __ATOMIC_RELAXED);                           \
        r = sys_##name(c);                                                                   \
        break;
        SB_LOCAL_CALLS(CASE)
    default:
        r = denied_here(c->nr);
        if (!r)
            r = sb_forward(c);
    }
    if (lock)
        sb_unlock(&ST->mem_lock);
    if (c->forwarded)
        return r;
    if (__builtin_expect(ST->boot.trace != 0, 0))
        trace_local(c, r);
    return r;
}

void sb_sigsys(int sig, k_siginfo *si, struct ucontext *uc)
{
    (void)sig;
    if (si->si_code != SYS_USER_DISPATCH)
        return;
    struct sigcontext *m = &uc->uc_mcontext;
    struct sb_thread *t = sb_current_thread();
    t->outer_uc = (unsigned long)uc;
    t->in_exit = 0;
    t->restart_kind = 0;
    /* Like the kernel's entry code, only the low 32 bits of rax name the call. */
    struct sb_call c = {t, uc, (long)(int)m->rax, {m->rdi, m->rsi, m->rdx, m->r10, m->r8, m->r9}, 0, 0};
    long r = route(&c);
    if (c.keep_regs) {
    } else if (r == -ERESTARTSYS || r == -ERESTARTNOHAND || r == -ERESTARTNOINTR) {
        /* Interrupted: rewind to the syscall instruction.  A handler about
         * to run decides whether it is restarted or answers EINTR. */
        m->rip -= 2;
        m->rax = (unsigned long)c.nr;
        t->restart_rip = m->rip;
        t->restart_kind = (unsigned)-r;
    } else {
        m->rax = (unsigned long)r;
    }
    sb_return_to_program(t, uc);
}

/* SA_RESTORER of all our handlers.  in_exit is cleared before rt_sigreturn:
 * a signal that lands here waits for the next call instead of being
 * delivered onto a ucontext about to be consumed. */
__attribute__((naked)) void sb_restorer(void)
{
    __asm__ volatile("mov %%rsp, %%rax\n\t"
                     "and %0, %%rax\n\t"
                     "movl $0, %c1(%%rax)\n\t"
                     "mov %2, %%eax\n\t"
                     "syscall\n\t"
                     "hlt"
                     :
                     : "i"(-(long)SB_THREAD_BLOCK), "i"(__builtin_offsetof(struct sb_thread, in_exit)),
                       "i"(__NR_rt_sigreturn));
}

/* rdtsc and rdtscp fault in strict mode (the TSC is disabled); answer them
 * with the broker's monotonic clock in nanoseconds, i.e. a 1 GHz TSC. */
static int emulate_rdtsc(struct ucontext *uc)
{
    struct sigcontext *m = &uc->uc_mcontext;
    const unsigned char *ip = (const unsigned char *)m->rip;
    int len;
    if (!SB_ARENA_OK(ip, 3))
        return 0;
    if (ip[0] == 0x0f && ip[1] == 0x31)
        len = 2;
    else if (ip[0] == 0x0f && ip[1] == 0x01 && ip[2] == 0xf9)
        len = 3;
    else
        return 0;
    long real, mono;
    sb_clock_now(&real, &mono);
    m->rax = (unsigned long)mono & 0xffffffffUL;
    m->rdx = (unsigned long)mono >> 32;
    if (len == 3)
        m->rcx = 0; /* IA32_TSC_AUX: cpu 0 */
    m->rip += len;
    return 1;
}

void sb_fault(int sig, k_siginfo *si, struct ucontext *uc)
{
    struct sb_thread *t = sb_current_thread();
    unsigned long rip = uc->uc_mcontext.rip;
    if (si->si_code <= 0) { /* sent, not raised by an instruction: an asynchronous signal */
        sb_async(sig, si, uc);
        return;
    }
    if (sig == SIGSEGV && emulate_rdtsc(uc))
        return;
    if (sb_in_stub_text(rip))
        sb_die(t, sig, si, rip); /* a fault in our own runtime: never the program's to handle */
    t->outer_uc = (unsigned long)uc;
    t->in_exit = 0;
    sb_deliver_fault(t, sig, si, uc);
    sb_return_to_program(t, uc);
}
