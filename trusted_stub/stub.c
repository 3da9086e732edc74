/* The trusted bootstrap.  Runs before strict mode with the fds the broker
 * gave it: `strictbox-stub ARENA_FD CHANNEL_FD BROKER_PID`.  It maps the
 * arena the broker already filled (boot block, program image, initial
 * stack), installs our signal handlers on the thread's alternate stack, arms
 * Syscall User Dispatch over its own text and enters seccomp strict mode.
 * From then on nothing here is trusted. */
#include "runtime.h"
#include <linux/elf.h>
#include <asm/stat.h>

void sb_sigsys(int sig, k_siginfo *si, struct ucontext *uc);
void sb_fault(int sig, k_siginfo *si, struct ucontext *uc);
void sb_restorer(void);
__attribute__((noreturn)) void sb_enter_program(unsigned long entry, unsigned long sp);

extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char __executable_start[] __attribute__((visibility("hidden")));
extern const char __etext[] __attribute__((visibility("hidden")));
extern Elf64_Dyn _DYNAMIC[] __attribute__((visibility("hidden")));

/* Apply our own R_X86_64_RELATIVE relocations: there is no ld.so to do it. */
static void relocate(void)
{
    unsigned long base = (unsigned long)__ehdr_start, rela = 0, size = 0;
    for (Elf64_Dyn *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_RELA)
            rela = base + d->d_un.d_ptr;
        else if (d->d_tag == DT_RELASZ)
            size = d->d_un.d_val;
    }
    for (Elf64_Rela *r = (Elf64_Rela *)rela; size >= sizeof *r; r++, size -= sizeof *r)
        if (ELF64_R_TYPE(r->r_info) == R_X86_64_RELATIVE)
            *(unsigned long *)(base + r->r_offset) = base + r->r_addend;
}

__attribute__((noreturn)) static void fail(const char *what, long err)
{
    static const char prefix[] = "strictbox-stub: ";
    char num[24];
    int i = sizeof num;
    unsigned long e = (unsigned long)(err < 0 ? -err : err);
    do
        num[--i] = (char)('0' + e % 10);
    while ((e /= 10) && i > 1);
    num[--i] = ' ';
    sys3(__NR_write, 2, prefix, sizeof prefix - 1);
    sys3(__NR_write, 2, what, strlen(what));
    sys3(__NR_write, 2, num + i, sizeof num - i);
    sys3(__NR_write, 2, "\n", 1);
    sys1(__NR_exit_group, 127);
    for (;;)
        ;
}

static long parse_uint(const char *s)
{
    long v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 0x7fffffff)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static void handle(int sig, void (*fn)(int, k_siginfo *, struct ucontext *))
{
    struct k_sigaction sa = {(unsigned long)fn, SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTORER,
                             (unsigned long)sb_restorer, 0};
    long r = sys4(__NR_rt_sigaction, sig, &sa, NULL, 8);
    if (r)
        fail("rt_sigaction failed", r);
}

void sb_stub_main(long *sp)
{
    relocate();
    char **argv = (char **)(sp + 1);
    int ok = sp[0] == 5;
    long arena_fd = ok ? parse_uint(argv[1]) : -1;
    long chan_fd = ok ? parse_uint(argv[2]) : -1;
    long clock_fd = ok ? parse_uint(argv[3]) : -1;
    long broker = ok ? parse_uint(argv[4]) : -1;
    if (arena_fd < 0 || chan_fd < 0 || clock_fd < 0 || broker < 0)
        fail("usage: strictbox-stub ARENA_FD CHANNEL_FD CLOCK_FD BROKER_PID (started by the broker)", 0);

    /* Die with the broker; if it is already gone, don't start at all. */
    sys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    if (sys1(__NR_getppid, 0) != broker)
        fail("broker exited before start", 0);

    struct stat st;
    long r = sys2(__NR_fstat, arena_fd, &st);
    if (r)
        fail("cannot stat the arena", r);
    r = sys6(__NR_mmap, SB_ARENA_BASE, (long)st.st_size, PROT_READ | PROT_WRITE | PROT_EXEC,
             MAP_SHARED | MAP_FIXED_NOREPLACE, arena_fd, 0);
    if (r != SB_ARENA_BASE)
        fail("cannot map the arena at its fixed address", r);
    sys1(__NR_close, arena_fd);
    r = sys6(__NR_mmap, SB_CLOCK_PAGE, 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, clock_fd, 0);
    if (r != SB_CLOCK_PAGE)
        fail("cannot map the clock page at its fixed address", r);
    sys1(__NR_close, clock_fd);
    struct sb_boot *b = &ST->boot;
    if (b->magic != SB_MAGIC || b->version != SB_ABI_VERSION || b->arena_size != (unsigned long)st.st_size ||
        b->arena_base != SB_ARENA_BASE)
        fail("arena boot block does not match this stub", 0);
    if (b->threads_base % SB_THREAD_BLOCK || !SB_ARENA_OK(b->threads_base, SB_THREAD_BLOCK))
        fail("bad thread block address", 0);

    struct sb_thread *t = (struct sb_thread *)b->threads_base;
    t->magic = SB_MAGIC;
    t->chan_fd = (int)chan_fd;
    t->tid = (int)b->pid;
    unsigned long alt = ((unsigned long)(t + 1) + 63) & ~63UL;
    stack_t ss = {(void *)alt, 0, (unsigned long)t + SB_THREAD_BLOCK - alt};
    if ((r = sys2(__NR_sigaltstack, &ss, NULL)))
        fail("sigaltstack failed", r);
    handle(SIGSYS, sb_sigsys);
    handle(SIGSEGV, sb_fault);
    handle(SIGBUS, sb_fault);
    handle(SIGFPE, sb_fault);
    handle(SIGILL, sb_fault);
    handle(SIGTRAP, sb_fault);
    unsigned long none = 0;
    sys4(__NR_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);

    /* The allowed region's test uses the address after `syscall`: one byte more. */
    ST->selector = SYSCALL_DISPATCH_FILTER_ALLOW;
    unsigned long start = (unsigned long)__executable_start;
    r = sys5(__NR_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start,
             (unsigned long)__etext + 1 - start, &ST->selector);
    if (r)
        fail("Syscall User Dispatch unavailable (Linux >= 5.11 needed)", r);
    r = sys2(__NR_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
    if (r)
        fail("cannot enter seccomp strict mode", r);
    ST->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
    sb_enter_program(b->entry, b->sp);
}
