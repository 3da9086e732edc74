/* Reading the clock page, shared by the runtime's trapped time calls and
 * the program's vDSO (untrusted_runtime/vdso), which read it without a trap.
 * Both need only this header and strictbox_abi.h: no runtime code. */
#ifndef SB_CLOCK_READ_H
#define SB_CLOCK_READ_H

/* The clock page's time (SB_CLOCK_PAGE, under its seqlock).  Between two
 * ticks the monotonic value is nudged up by `nudge` ns per read past the
 * last one this process was given (sb_state.clock_last), so that a clock
 * never stands still for the program (t1 - t0 > 0 for two reads in a row).
 * A nudge must stay below what a read costs, or one thread's reads would
 * run the clock ahead of the real one; and as threads add theirs up, the
 * lead stops at one tick: past it a read adds 1 ns.  A page that never
 * moves (deterministic time: no tick) has only the nudges for time, 1 us a
 * read, whoever reads. */
static inline void sb_read_clock(long nudge, long *realtime_ns, long *monotonic_ns)
{
    const volatile struct sb_clock *clk = (const volatile struct sb_clock *)SB_CLOCK_PAGE;
    uint64_t *last_p = &((struct sb_state *)SB_ARENA_BASE)->clock_last;
    unsigned seq, tick;
    long real, mono;
    do {
        seq = clk->seq;
        __asm__ volatile("" ::: "memory");
        real = clk->realtime_ns;
        mono = clk->monotonic_ns;
        tick = clk->tick_ns;
        __asm__ volatile("" ::: "memory");
    } while ((seq & 1) || seq != clk->seq);
    uint64_t cap = tick ? (uint64_t)mono + tick : ~(uint64_t)0;
    if (!tick && nudge < 1000)
        nudge = 1000;
    uint64_t last = __atomic_load_n(last_p, __ATOMIC_RELAXED), next;
    do
        next = (uint64_t)mono > last ? (uint64_t)mono
               : last + (last + (uint64_t)nudge <= cap ? (uint64_t)nudge : 1);
    while (!__atomic_compare_exchange_n(last_p, &last, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    *realtime_ns = real + (long)(next - (uint64_t)mono);
    *monotonic_ns = (long)next;
}

#endif
