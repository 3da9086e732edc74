/* Internal interface of the in-sandbox runtime.  All state lives in the
 * arena (struct sb_state at SB_ARENA_BASE, struct sb_thread per thread). */
#ifndef SB_RUNTIME_H
#define SB_RUNTIME_H
#include "arch.h"

#define ST ((struct sb_state *)SB_ARENA_BASE)
_Static_assert(SB_ARENA_BASE + sizeof(struct sb_state) <= SB_PREFETCH_BASE, "sb_state overlaps the prefetch slots");
_Static_assert(SB_PREFETCH_BASE + SB_PREFETCH_SLOTS * SB_PREFETCH_SLOT <= SB_ARENA_BASE + SB_STATE_SIZE, "prefetch slots overflow the state area");
_Static_assert(SB_ARENA_BASE + SB_STATE_SIZE <= SB_IMAGE_BASE, "the state area overlaps the image");
_Static_assert(sizeof(((struct sb_trace_ring *)0)->rec) == SB_TRACE_SLOTS * sizeof(struct sb_trace_rec), "trace ring size");
_Static_assert(sizeof(((struct sb_state *)0)->listings) == SB_LISTINGS * sizeof(struct sb_listing), "listings");
_Static_assert(sizeof(((struct sb_state *)0)->listed_names) == SB_LISTING_NAMES * sizeof(uint32_t), "listed names");
_Static_assert(sizeof(((struct sb_state *)0)->stale) == SB_MAX_STALE * sizeof(struct sb_vma), "stale ranges");
_Static_assert(sizeof(((struct sb_state *)0)->statc) == SB_STAT_CACHE * sizeof(struct sb_statcache), "stat cache");
_Static_assert(sizeof(struct sb_thread) + 4096 <= SB_IDLE_STACK, "no room for the idle stack in a thread block");

/* One trapped system call: the saved registers and the decoded arguments. */
struct sb_call {
    struct sb_thread *t;
    struct ucontext *uc;
    long nr;
    unsigned long a[6];
    int keep_regs; /* set by handlers that rewrote the whole register file */
    int forwarded; /* sb_forward sent this very call to the broker (which traces it) */
};

#define SB_BIT(sig) (1UL << ((sig) - 1))
/* The signals we keep for ourselves (SIGSYS, faults) and the unblockable
 * ones; every other signal is asynchronous: delivered by sb_async. */
#define SB_SYNC_SIGNALS (SB_BIT(SIGSYS) | SB_BIT(SIGSEGV) | SB_BIT(SIGBUS) | SB_BIT(SIGFPE) | \
                         SB_BIT(SIGILL) | SB_BIT(SIGTRAP))
#define SB_ASYNC_SIGNALS (~0UL & ~SB_SYNC_SIGNALS & ~SB_BIT(SIGKILL) & ~SB_BIT(SIGSTOP))
/* Internal results: the call was interrupted by a signal; restart it unless
 * a handler without SA_RESTART runs (ERESTARTSYS), or whenever a handler
 * runs (ERESTARTNOHAND), or always, after any handler (ERESTARTNOINTR: clone
 * waiting for a new pool thread), as the kernel does. */
#define SCM_RIGHTS 1 /* (not in the kernel's uapi headers; the cffi build checks it) */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514

void sb_lock(uint32_t *l);
static inline void sb_unlock(uint32_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* The kernel's rt_sigframe: what rt_sigreturn loads (from rsp - 8). */
struct rt_frame {
    unsigned long pretcode;
    struct ucontext uc;
    k_siginfo info;
};

/* dispatch.c */
struct sb_thread *sb_current_thread(void);
int sb_in_stub_text(unsigned long addr);

/* broker_client.c: one request and its reply over this thread's channel. */
long sb_broker(struct sb_thread *t, long op, const unsigned long *args, int nargs,
               long *extra, int nextra);
long sb_forward(struct sb_call *c);
int sb_send_ready(struct sb_thread *t);
void sb_cancel_if_signalled(struct sb_thread *t);
long sb_wake_wait(struct sb_thread *t, unsigned long ns);
__attribute__((noreturn)) void sb_exit_process(struct sb_thread *t, long status);
__attribute__((noreturn)) void sb_die(struct sb_thread *t, int sig, k_siginfo *si,
                                      unsigned long rip);

/* threads.c */
struct sb_thread *sb_thread_at(unsigned slot);
/* The slots whose threads have started (the spawner starts them in order,
 * one at a time): a scan for live or waiting threads looks at these only,
 * and touches none of the untouched blocks' pages (each would cost the
 * arena a page). */
static inline unsigned sb_slots_started(void)
{
    unsigned n = __atomic_load_n(&ST->pool_ready, __ATOMIC_ACQUIRE);
    return n < ST->boot.max_threads ? n : ST->boot.max_threads;
}
struct sb_thread *sb_thread_by_tid(long tid);
__attribute__((noreturn)) void sb_pool_idle(struct sb_thread *t, long notify_fd);
void sb_pool_join(struct sb_thread *t, long spawn_fd);
__attribute__((noreturn)) void sb_thread_exit(struct sb_call *c, long status);
void sb_wake(struct sb_thread *t);
void sb_ready_thread(struct sb_thread *n, const struct ucontext *uc, unsigned long fs);
void sb_hand_back_positions(struct sb_thread *t);
void sb_start_thread(struct sb_thread *n, const struct ucontext *uc, unsigned long fs);

/* futex.c */
long sb_futex_wake(unsigned long uaddr, int n, unsigned bitset);

/* memory.c */
void sb_zero(unsigned long start, unsigned long len);
/* [start, start + len) overlaps the pinned image (read-only here). */
int sb_pinned(unsigned long start, unsigned long len);

/* signals.c */
void sb_deliver_fault(struct sb_thread *t, int sig, k_siginfo *si, struct ucontext *uc);
void sb_async(int sig, k_siginfo *si, struct ucontext *uc);
void sb_return_to_program(struct sb_thread *t, struct ucontext *uc);
int sb_signal_waiting(struct sb_thread *t);
int sb_must_stop(struct sb_thread *t);

/* listings.c: the path names nothing, a directory the broker listed shows */
int sb_listed_missing(const char *path, unsigned call);

/* time_random.c */
void sb_clock_now(long *realtime_ns, long *monotonic_ns);
long sb_timespec_ns(unsigned long p, long *ns);

static inline int sb_arena_ok(unsigned long p, unsigned long n)
{
    unsigned long base = ST->boot.arena_base, size = ST->boot.arena_size;
    return p >= base && n <= size && p - base <= size - n;
}
#define SB_ARENA_OK(p, n) sb_arena_ok((unsigned long)(p), (unsigned long)(n))

#endif
