/* Identity, TLS and exit.  Ids are the virtual ones the broker chose. */
#include "runtime.h"

#define USER_ADDR_END 0x800000000000UL

long sys_getpid(struct sb_call *c) { (void)c; return ST->boot.pid; }
long sys_getppid(struct sb_call *c) { (void)c; return ST->boot.ppid; }
long sys_gettid(struct sb_call *c) { return c->t->tid; }
long sys_getuid(struct sb_call *c) { (void)c; return ST->boot.uid; }
long sys_geteuid(struct sb_call *c) { (void)c; return ST->boot.uid; }
long sys_getgid(struct sb_call *c) { (void)c; return ST->boot.gid; }
long sys_getegid(struct sb_call *c) { (void)c; return ST->boot.gid; }

long sys_setuid(struct sb_call *c) { return c->a[0] == ST->boot.uid ? 0 : -EPERM; }
long sys_setgid(struct sb_call *c) { return c->a[0] == ST->boot.gid ? 0 : -EPERM; }

long sys_uname(struct sb_call *c)
{
    if (!SB_ARENA_OK(c->a[0], sizeof ST->boot.utsname))
        return -EFAULT;
    memcpy((void *)c->a[0], ST->boot.utsname, sizeof ST->boot.utsname);
    return 0;
}

long sys_arch_prctl(struct sb_call *c)
{
    unsigned long code = c->a[0], addr = c->a[1];
    switch (code) {
    case ARCH_SET_FS:
        if (addr >= USER_ADDR_END)
            return -EPERM;
        wrfsbase(addr); /* survives rt_sigreturn: the kernel does not restore FS base */
        return 0;
    case ARCH_GET_FS:
        if (!SB_ARENA_OK(addr, 8))
            return -EFAULT;
        *(unsigned long *)addr = rdfsbase();
        return 0;
    default:
        return -EINVAL;
    }
}

long sys_set_tid_address(struct sb_call *c)
{
    c->t->clear_tid = c->a[0];
    return c->t->tid;
}

long sys_set_robust_list(struct sb_call *c)
{
    if (c->a[1] != 24)
        return -EINVAL;
    c->t->robust_list = c->a[0];
    c->t->robust_len = c->a[1];
    return 0;
}

long sys_rseq(struct sb_call *c) { (void)c; return -ENOSYS; }

/* The process's resource limits, read here from the broker's copy
 * (boot.rlimits) while the policy lets every such call by and one thread
 * runs: a change goes to the broker, which rewrites the copy while that
 * thread waits for it.  Anything else (another process, a buffer that is
 * not plain arena memory) is the broker's to answer. */
static long read_rlimit(struct sb_call *c, unsigned resource, unsigned long out)
{
    if (!ST->boot.local_rlimits || resource >= SB_RLIMITS || !SB_ARENA_OK(out, sizeof(struct sb_rlimit)) ||
        sb_pinned(out, sizeof(struct sb_rlimit)) || __atomic_load_n(&ST->live_threads, __ATOMIC_ACQUIRE) != 1)
        return sb_forward(c);
    memcpy((void *)out, &ST->boot.rlimits[resource], sizeof(struct sb_rlimit));
    return 0;
}

long sys_prlimit64(struct sb_call *c)
{
    int pid = (int)c->a[0]; /* (pid_t and unsigned int: the upper halves count for nothing) */
    if (c->a[2] || (pid != 0 && pid != (int)ST->boot.pid))
        return sb_forward(c);
    return read_rlimit(c, (unsigned)c->a[1], c->a[3]);
}

long sys_getrlimit(struct sb_call *c) { return read_rlimit(c, (unsigned)c->a[0], c->a[1]); }

/* The sandbox's own view, as the broker's handler gives it: its memory
 * limit as all of RAM and free, one process, no swap, and the time since
 * it started on its own clock (coarse or fixed with the policy's). */
long sys_sysinfo(struct sb_call *c)
{
    struct sysinfo *out = (struct sysinfo *)c->a[0];
    if (!ST->boot.local_sysinfo || !SB_ARENA_OK(out, sizeof *out) || sb_pinned((unsigned long)out, sizeof *out))
        return sb_forward(c);
    long realtime, monotonic;
    sb_clock_now(&realtime, &monotonic);
    long up = (monotonic - ST->boot.started_ns) / 1000000000L;
    memset(out, 0, sizeof *out);
    out->uptime = up > 0 ? up : 0;
    out->totalram = out->freeram = ST->boot.arena_size;
    out->procs = 1;
    out->mem_unit = 1;
    return 0;
}

long sys_exit(struct sb_call *c) { sb_thread_exit(c, (long)c->a[0]); }
long sys_exit_group(struct sb_call *c) { sb_exit_process(c->t, (long)c->a[0]); }

/* execve: the broker checks the new program, rebuilds the arena (image,
 * stack, sb_state) while we wait, and answers 0.  We then start the new
 * image the way the kernel would: clean registers, no TLS, default FPU
 * state, no alternate stack, on the boot block's entry and stack. */
long sys_execve(struct sb_call *c)
{
    unsigned started = sb_slots_started(); /* (the pool's threads stay: its slots are still started) */
    long r = sb_forward(c);
    if (r != 0)
        return r;
    struct sb_thread *t = c->t;
    ST->live_threads = 1; /* the broker wrote a fresh sb_state: this thread is the process */
    __atomic_store_n(&ST->pool_ready, started, __ATOMIC_RELEASE);
    t->alt_sp = t->alt_size = 0;
    t->alt_flags = SS_DISABLE;
    t->clear_tid = t->robust_list = t->robust_len = 0;
    wrfsbase(0);
    struct sigcontext *m = &c->uc->uc_mcontext;
    struct _fpstate_64 *fp = (struct _fpstate_64 *)m->fpstate;
    if (fp) {
        unsigned mask = fp->mxcsr_mask;
        memset(fp, 0, 512); /* the legacy FXSAVE area */
        fp->cwd = 0x37f;    /* x87 and SSE control words as at process start */
        fp->mxcsr = 0x1f80;
        fp->mxcsr_mask = mask;
    }
    memset(&m->r8, 0, (unsigned long)&m->rip - (unsigned long)&m->r8); /* r8 ... rsp */
    m->eflags = 0x202; /* IF only, as after a real execve */
    m->rip = ST->boot.entry;
    m->rsp = ST->boot.sp;
    c->keep_regs = 1;
    return 0;
}

long sys_execveat(struct sb_call *c)
{
    return sys_execve(c);
}
