/* Finds code of the trusted stub from inside the sandbox.  /proc is not
 * reachable, but every trapped call leaves the kernel's signal frame on the
 * thread's alternate stack, inside the arena: its first word is the
 * handler's SA_RESTORER, whose last steps are the stub's
 * `mov $15,%eax; syscall`.  Memory is probed under our own SIGSEGV
 * handler, which the runtime delivers. */
#include <setjmp.h>
#include <signal.h>

static sigjmp_buf probe_jmp;

static void probe_fault(int sig)
{
    (void)sig;
    siglongjmp(probe_jmp, 1);
}

/* 1 if [p, p+n) can be read */
__attribute__((unused)) static int readable(const volatile unsigned char *p, int n)
{
    static int installed;
    if (!installed) {
        struct sigaction sa = {0};
        sa.sa_handler = probe_fault;
        sa.sa_flags = SA_NODEFER;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        installed = 1;
    }
    if (sigsetjmp(probe_jmp, 1))
        return 0;
    unsigned char sum = 0;
    for (int i = 0; i < n; i++)
        sum += p[i];
    (void)sum;
    return 1;
}

static const unsigned char restorer_code[] = {0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};

#define RESTORER_WINDOW 32 /* the restorer's code before its rt_sigreturn */

/* The `mov $15,%eax; syscall` in the stub's restorer, or 0. */
__attribute__((unused)) static unsigned long find_restorer(void)
{
    getppid(); /* a trapped call: a fresh signal frame on the alternate stack */
    unsigned long t = (unsigned long)thread0();
    unsigned long lo = SB_ARENA_BASE, hi = arena_end();
    for (unsigned long *w = (unsigned long *)(t + sizeof(struct sb_thread));
         (unsigned long)(w + 1) <= t + SB_THREAD_BLOCK; w++) {
        unsigned long v = *w;
        if (v < 0x1000 || (v >= lo && v < hi) || v > 0x7fffffffffffUL)
            continue;
        if (!readable((const unsigned char *)v, RESTORER_WINDOW + sizeof restorer_code))
            continue;
        for (unsigned long at = v; at <= v + RESTORER_WINDOW; at++)
            if (!memcmp((const void *)at, restorer_code, sizeof restorer_code))
                return at;
    }
    return 0;
}

/* Jumps to a `syscall` instruction at `at` with these registers. */
__attribute__((noreturn, unused)) static void jump_to_syscall(unsigned long at, long nr, long a, long b, long c)
{
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("jmp *%[at]" : : [at] "r"(at), "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "memory");
    __builtin_unreachable();
}
