/* The trusted bootstrap.  Runs before strict mode with the fds the broker
 * gave it: `strictbox-stub ARENA_FD CLOCK_FD BROKER_PID SPAWN_FD` (or, started
 * ahead, sent: `--standby SOCKET_FD BROKER_PID`), and each
 * thread slot's channel and wake pipe named in its block of the arena.  It
 * maps the arena the broker already filled (boot block, initial stack,
 * thread blocks), copies in the image's other bytes and maps its read-only
 * segments from the files the boot block names (copies, pins), installs our signal handlers, starts the
 * program's main thread, which sets up its alternate stack, arms Syscall
 * User Dispatch over the stub's text and enters seccomp strict mode, and
 * becomes the spawner (spawner.c), which starts the pool's other threads
 * confined the same way.  From then on nothing here is trusted. */
#include "runtime.h"
#include <linux/elf.h>
#include <asm/stat.h>
#include <asm/resource.h>
#include <asm/socket.h>

void sb_sigsys(int sig, k_siginfo *si, struct ucontext *uc);
void sb_fault(int sig, k_siginfo *si, struct ucontext *uc);
void sb_restorer(void);
long sb_spawn_thread(unsigned long flags, unsigned long stack, int *ptid,
                     void (*fn)(struct sb_thread *), struct sb_thread *arg);
__attribute__((noreturn)) void sb_spawner(long wake_fd, long spawn_fd, unsigned long next_block,
                                          unsigned long end_block, unsigned char *selector,
                                          struct sb_spawn_box *box, void *note);
long sb_spawner_note(void *page, int fd, int arena_fd, int map_fd, unsigned long arena_size);

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

static void handle(int sig, void (*fn)(int, k_siginfo *, struct ucontext *), unsigned long flags,
                   unsigned long mask)
{
    struct k_sigaction sa = {(unsigned long)fn, SA_SIGINFO | SA_ONSTACK | SA_RESTORER | flags,
                             (unsigned long)sb_restorer, mask};
    long r = sys4(__NR_rt_sigaction, sig, &sa, NULL, 8);
    if (r)
        fail("rt_sigaction failed", r);
}

/* This thread's half of entering strict mode: die with the broker, its own
 * signal stack, Syscall User Dispatch over the stub's text (the allowed
 * region's test uses the address after `syscall`: one byte more), then
 * seccomp strict mode. */
static void confine_thread(struct sb_thread *t)
{
    sys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    unsigned long alt = (unsigned long)t + SB_IDLE_STACK;
    stack_t ss = {(void *)alt, 0, (unsigned long)t + SB_THREAD_BLOCK - alt};
    long r = sys2(__NR_sigaltstack, &ss, NULL);
    if (r)
        fail("sigaltstack failed", r);
    unsigned long start = (unsigned long)__executable_start;
    r = sys5(__NR_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start,
             (unsigned long)__etext + 1 - start, &ST->selector);
    if (r)
        fail("Syscall User Dispatch unavailable (Linux >= 5.11 needed)", r);
    r = sys2(__NR_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
    if (r)
        fail("cannot enter seccomp strict mode", r);
}

/* fd, moved to the lowest free number if it is not among the first 64. */
static int low_fd(int fd)
{
    if (fd >= 0 && fd < 64)
        return fd;
    long r = sys3(__NR_fcntl, fd, F_DUPFD, 3);
    if (r < 0 || r >= 64)
        fail("cannot renumber an inherited fd", r);
    sys1(__NR_close, fd);
    return (int)r;
}

/* The read-only segments of the program and its ld.so, straight from
 * their files (the page cache's pages, as a real exec shares them) over
 * the arena, where the broker left them unwritten. */
static void map_pins(const struct sb_boot *b)
{
    if (b->npins > SB_MAX_PINS)
        fail("bad pinned segments", b->npins);
    for (unsigned i = 0; i < b->npins; i++) {
        const struct sb_pin *p = &b->pins[i];
        if (!SB_ARENA_OK(p->start, p->len) || p->start < SB_IMAGE_BASE || (p->start | p->len | p->off) & 4095)
            fail("bad pinned segment", i);
        long r = sys6(__NR_mmap, p->start, p->len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, p->fd, p->off);
        if (r != (long)p->start)
            fail("cannot map a segment of the program", r);
    }
    for (unsigned i = 0; i < b->npins; i++)
        sys1(__NR_close, b->pins[i].fd);
}

/* Copies file spans into the arena (struct sb_copy) through our own fd of
 * it: kernel to kernel, while the broker does the rest of its start.  A
 * file cut short since the broker read it leaves zeros, or for a segment
 * of the program's (SB_COPY_WHOLE) ends the start, as the broker's own copy
 * would.  The fd's offset is left at 0. */
static void copy_files(const struct sb_copy *c, unsigned n, long arena_fd)
{
    struct stat st;
    long r = sys2(__NR_fstat, arena_fd, &st);
    if (r || n > SB_MAX_COPIES)
        fail("bad file copies", r ? r : n);
    unsigned long size = (unsigned long)st.st_size; /* (a standby has not mapped it yet) */
    for (unsigned i = 0; i < n; i++, c++) {
        if (c->flags & SB_COPY_DONE)
            continue;
        if (c->start < SB_IMAGE_BASE || c->len > size || c->start - SB_ARENA_BASE > size - c->len ||
            (long)c->off < 0)
            fail("bad file copy", i);
        r = sys3(__NR_lseek, arena_fd, c->start - SB_ARENA_BASE, 0 /* SEEK_SET */);
        if (r < 0)
            fail("cannot seek in the arena", r);
        long off = (long)c->off;
        for (unsigned long left = c->len; left; left -= r) {
            r = sys4(__NR_sendfile, arena_fd, c->fd, &off, left < 0x40000000 ? left : 0x40000000);
            if (r < 0)
                fail("cannot copy the program's bytes in", r);
            if (r == 0 && c->flags & SB_COPY_WHOLE)
                fail("a file of the program was cut short", i);
            if (r == 0)
                break;
        }
    }
    sys3(__NR_lseek, arena_fd, 0, 0); /* (as it came) */
}

/* The boot block's copies, then their fds but those a pin still needs. */
static void copy_in(const struct sb_boot *b, long arena_fd)
{
    copy_files(b->copies, b->ncopies, arena_fd);
    for (unsigned i = 0; i < b->ncopies; i++) {
        int used = 0;
        for (unsigned j = 0; j < b->npins && j < SB_MAX_PINS; j++)
            used |= b->pins[j].fd == b->copies[i].fd;
        if (!used)
            sys1(__NR_close, b->copies[i].fd);
    }
}

/* Puts the n fds received at numbers at (first each above all of those,
 * then each in place), moving *keep out of the way if it is one. */
static void place_fds(int *fds, const int32_t *at, unsigned n, long *keep)
{
    long high = 3;
    for (unsigned i = 0; i < n; i++) {
        if (at[i] < 0)
            fail("bad standby fd number", at[i]);
        high = at[i] >= high ? at[i] + 1 : high;
    }
    for (unsigned i = 0; i < n; i++) {
        long r = sys3(__NR_fcntl, fds[i], F_DUPFD, high);
        if (r < 0)
            fail("cannot move a standby fd", r);
        sys1(__NR_close, fds[i]);
        fds[i] = (int)r;
    }
    for (unsigned i = 0; i < n; i++)
        if (at[i] == *keep) {
            long r = sys3(__NR_fcntl, *keep, F_DUPFD, high);
            if (r < 0)
                fail("cannot move the standby socket", r);
            sys1(__NR_close, *keep);
            *keep = r;
        }
    for (unsigned i = 0; i < n; i++) {
        long r = sys3(__NR_dup3, fds[i], at[i], 0);
        if (r != at[i])
            fail("cannot place a standby fd", r);
        sys1(__NR_close, fds[i]);
    }
}

/* A standby (broker/standby.py): takes its sandbox's messages (struct
 * sb_standby) on sock, placing the fds each brings and copying in the
 * spans it names, until the last; then it runs on the CPUs the broker's
 * start would have given a new process.  The broker letting it go first
 * (its end closes) ends it quietly. */
static void stand_by(long sock, long *arena_fd, long *clock_fd, long *spawn_fd)
{
    static struct sb_standby m;
    static unsigned long cmsg[2 + SB_STANDBY_FDS / 2]; /* header, then the fds */
    do {
        unsigned long iov[2] = {(unsigned long)&m, sizeof m};
        struct { unsigned long name, namelen, iov, iovlen, control, controllen, flags; } msg = {
            0, 0, (unsigned long)iov, 1, (unsigned long)cmsg, sizeof cmsg, 0};
        long n;
        do
            n = sys3(__NR_recvmsg, sock, &msg, 0);
        while (n == -EINTR);
        if (n == 0)
            sys1(__NR_exit_group, 0);
        unsigned got = msg.controllen >= 16 && cmsg[1] == (SOL_SOCKET | (unsigned long)SCM_RIGHTS << 32) &&
                       cmsg[0] >= 16 ? (unsigned)((cmsg[0] - 16) / sizeof(int)) : 0;
        if (n != sizeof m || m.magic != SB_MAGIC || m.version != SB_ABI_VERSION ||
            m.nfds > SB_STANDBY_FDS || got != m.nfds)
            fail("bad standby message", n);
        place_fds((int *)&cmsg[2], m.at, m.nfds, &sock);
        copy_files(m.copies, m.ncopies, m.arena_fd);
    } while (!m.last);
    sys1(__NR_close, sock);
    sys3(__NR_sched_setaffinity, 0, sizeof m.cpus, m.cpus); /* (a failure only costs speed) */
    *arena_fd = m.arena_fd;
    *clock_fd = m.clock_fd;
    *spawn_fd = m.spawn_fd;
}

/* Slot 0's thread runs the program's main thread on the CPU the broker
 * pairs it with, when it asks (struct sb_boot.cpu); the others may run
 * anywhere.  A failure only costs speed. */
static void place_main_thread(struct sb_thread *t)
{
    unsigned cpu = ST->boot.cpu;
    if (t != sb_thread_at(0) || cpu == 0 || cpu > 8 * sizeof(unsigned long) * 16)
        return;
    unsigned long mask[16];
    memset(mask, 0, sizeof mask);
    mask[(cpu - 1) / 64] = 1UL << ((cpu - 1) % 64);
    sys3(__NR_sched_setaffinity, 0, sizeof mask, mask);
}

/* Slot 0's thread: confine itself, report ready, idle until started. */
static void pool_thread(struct sb_thread *t)
{
    place_main_thread(t);
    confine_thread(t);
    __atomic_add_fetch(&ST->pool_ready, 1, __ATOMIC_RELEASE);
    sb_pool_idle(t, -1);
}

void sb_stub_main(long *sp)
{
    relocate();
    char **argv = (char **)(sp + 1);
    static const char standby[] = "--standby";
    int waits = sp[0] == 4 && !memcmp(argv[1], standby, sizeof standby), ok = sp[0] == 5 || waits;
    long arena_fd = ok && !waits ? parse_uint(argv[1]) : -1;
    long clock_fd = ok && !waits ? parse_uint(argv[2]) : -1;
    long broker = ok ? parse_uint(argv[3]) : -1;
    long spawn_fd = ok && !waits ? parse_uint(argv[4]) : -1;
    long sock = waits ? parse_uint(argv[2]) : -1;
    if (waits ? sock < 0 || broker < 0 : arena_fd < 0 || clock_fd < 0 || broker < 0 || spawn_fd < 0)
        fail("usage: strictbox-stub ARENA_FD CLOCK_FD BROKER_PID SPAWN_FD, or --standby SOCKET_FD "
             "BROKER_PID (started by the broker)", 0);

    /* Die with the broker (each thread asks for it too); if it is already
     * gone, don't start at all. */
    sys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    if (sys1(__NR_getppid, 0) != broker)
        fail("broker exited before start", 0);
    if (waits)
        stand_by(sock, &arena_fd, &clock_fd, &spawn_fd);

    struct stat st;
    long r = sys2(__NR_fstat, arena_fd, &st);
    if (r)
        fail("cannot stat the arena", r);
    r = sys6(__NR_mmap, SB_ARENA_BASE, (long)st.st_size, PROT_READ | PROT_WRITE | PROT_EXEC,
             MAP_SHARED | MAP_FIXED_NOREPLACE, arena_fd, 0);
    if (r != SB_ARENA_BASE)
        fail("cannot map the arena at its fixed address", r);
    r = sys6(__NR_mmap, SB_CLOCK_PAGE, 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, clock_fd, 0);
    if (r != SB_CLOCK_PAGE)
        fail("cannot map the clock page at its fixed address", r);
    sys1(__NR_close, clock_fd);
    struct sb_boot *b = &ST->boot;
    if (b->magic != SB_MAGIC || b->version != SB_ABI_VERSION || b->arena_size != (unsigned long)st.st_size ||
        b->arena_base != SB_ARENA_BASE)
        fail("arena boot block does not match this stub", 0);
    if (b->threads_base % SB_THREAD_BLOCK || b->max_threads < 1 ||
        !SB_ARENA_OK(b->threads_base, (unsigned long)b->max_threads * SB_THREAD_BLOCK))
        fail("bad thread block address", 0);
    copy_in(b, arena_fd);

    /* Each thread's pidfd goes out at a number far above the sandbox's fds
     * (3 per slot, at most 256 slots) and no higher than it may have (a
     * limit of millions would cost megabytes); the arena's fd stays open
     * just below it, for mapping the arena back over pinned pages, and a
     * file the spawner maps goes just below that.  The fds we
     * inherited keep the broker's numbers, which can be anything: they move
     * down first.  The fd table grows now, while this thread is the only
     * one: a table threads share grows only after an RCU grace period
     * (~20 ms). */
    struct { unsigned long cur, max; } nofile;
    r = sys2(__NR_getrlimit, RLIMIT_NOFILE, &nofile);
    if (r || nofile.cur < 64)
        fail("getrlimit(RLIMIT_NOFILE) failed", r);
    int pidfd_at = (int)(nofile.cur < 4096 ? nofile.cur : 4096) - 1, arena_at = pidfd_at - 1;
    struct sb_thread *t = sb_thread_at(0);
    spawn_fd = low_fd(spawn_fd);
    t->chan_fd = low_fd(t->chan_fd);
    t->wake_rfd = low_fd(t->wake_rfd);
    t->wake_wfd = low_fd(t->wake_wfd);
    for (unsigned i = 0; i < b->npins && i < SB_MAX_PINS; i++) { /* (pins share fds) */
        int was = b->pins[i].fd, now = low_fd(was);
        for (unsigned j = i; j < b->npins && j < SB_MAX_PINS; j++)
            if (b->pins[j].fd == was)
                b->pins[j].fd = now;
    }
    if (arena_fd != arena_at) {
        r = sys3(__NR_dup3, arena_fd, arena_at, O_CLOEXEC);
        if (r != arena_at)
            fail("cannot keep the arena's fd", r);
        sys1(__NR_close, arena_fd);
    }
    map_pins(b);

    /* Our handlers for every signal.  Asynchronous ones are blocked while
     * the pool starts: the idle threads keep them blocked for good. */
    for (int sig = 1; sig < SB_NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (sig == SIGTTIN || sig == SIGTTOU) {
            /* really ignored: a read or write on a terminal from the
             * background answers EIO instead of stopping us (no job control) */
            struct k_sigaction ign = {1 /* SIG_IGN */, 0, 0, 0};
            sys4(__NR_rt_sigaction, sig, &ign, NULL, 8);
            continue;
        }
        if (SB_SYNC_SIGNALS & SB_BIT(sig))
            handle(sig, sig == SIGSYS ? sb_sigsys : sb_fault, SA_NODEFER, 0);
        else
            handle(sig, sb_async, 0, SB_ASYNC_SIGNALS);
    }
    unsigned long mask = SB_ASYNC_SIGNALS;
    sys4(__NR_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8);
    ST->selector = SYSCALL_DISPATCH_FILTER_ALLOW;

    /* Every thread of the program, its main one too, comes from the pool.
     * This first thread (the one the broker knows by pid) only starts them:
     * the kernel tells of a non-leader thread's death (PIDFD_THREAD), and
     * the broker must learn of any thread killed by strict mode. */
    r = sb_spawn_thread(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                        CLONE_SYSVSEM | CLONE_PARENT_SETTID,
                        (unsigned long)t + SB_IDLE_STACK, &t->host_tid, pool_thread, t);
    if (r < 0)
        fail("cannot start the program's thread", r);
    while (__atomic_load_n(&ST->pool_ready, __ATOMIC_ACQUIRE) < 1)
        sys1(__NR_sched_yield, 0);

    /* Tell the broker the thread stands (it watches it from now on) and
     * wait for its answer. */
    if (sb_send_ready(t))
        fail("the broker did not answer", 0);

    /* Hand slot 0 the program's entry, block every signal for good, and
     * become the spawner, whose first act starts the program.  No program
     * code has run yet, so all of this may still trust memory. */
    ST->selector = SYSCALL_DISPATCH_FILTER_BLOCK;
    struct ucontext uc;
    memset(&uc, 0, sizeof uc);
    uc.uc_mcontext.rip = b->entry;
    uc.uc_mcontext.rsp = b->sp;
    uc.uc_mcontext.eflags = 0x202; /* IF only, as at a real execve */
    uc.uc_mcontext.cs = 0x33;      /* __USER_CS */
    uc.uc_mcontext.ss = 0x2b;      /* __USER_DS */
    t->state = SB_THREAD_STARTING;
    sb_ready_thread(t, &uc, 0); /* no fpstate: the kernel starts it with a clean FPU */
    /* The spawner's messages, read-only from here on. */
    long note = sys6(__NR_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (note < 0)
        fail("cannot map the spawner's note", note);
    r = sb_spawner_note((void *)note, pidfd_at, arena_at, arena_at - 1, b->arena_size);
    if (r)
        fail("cannot make the spawner's note read-only", r);
    unsigned long all = ~0UL;
    sys4(__NR_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
    sb_spawner(t->wake_wfd, spawn_fd, (unsigned long)sb_thread_at(1),
               (unsigned long)sb_thread_at(b->max_threads), &ST->selector, &ST->spawn, (void *)note);
}
