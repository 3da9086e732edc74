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

long sys_exit(struct sb_call *c) { sb_exit_process(c->t, (long)c->a[0]); }
long sys_exit_group(struct sb_call *c) { sb_exit_process(c->t, (long)c->a[0]); }
