/* The program's vDSO, handed over in AT_SYSINFO_EHDR as Linux hands over its
 * own: clock_gettime and time read the clock page in the program's code,
 * with no trapped system call (CPython makes hundreds at start-up, each a
 * SIGSYS).  The kernel's vDSO cannot serve: it reads the TSC, which strict
 * mode disables.  Like everything in the sandbox this is untrusted; the
 * broker copies the image in at each exec (loader.py).  Position
 * independent, no data, no relocations: it reads only fixed addresses. */
#include "strictbox_abi.h"
#include "clock_read.h"

#define NSEC 1000000000L
/* 1 ns: an untrapped read takes tens of ns, so the clock keeps moving on
 * every read without running ahead of the real one. */
#define NUDGE_NS 1

struct timespec_k {
    long tv_sec;
    long tv_nsec;
};

/* What the clock page does not answer (CPU-time clocks, bad ids) is a
 * system call after all: trapped, and served by the runtime as before. */
static long fallback(long nr, long a0, long a1)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0), "S"(a1) : "rcx", "r11", "memory");
    return r;
}

int __vdso_clock_gettime(int clk, struct timespec_k *ts)
{
    long real, mono, ns;
    switch (clk) {
    case 0: case 5: case 11: /* REALTIME, REALTIME_COARSE, TAI */
        sb_read_clock(NUDGE_NS, &real, &mono);
        ns = real;
        break;
    case 1: case 4: case 6: case 7: /* MONOTONIC, _RAW, _COARSE, BOOTTIME */
        sb_read_clock(NUDGE_NS, &real, &mono);
        ns = mono;
        break;
    default:
        return (int)fallback(228 /* clock_gettime */, clk, (long)ts);
    }
    ts->tv_sec = ns / NSEC;
    ts->tv_nsec = ns % NSEC;
    return 0;
}

long __vdso_time(long *t)
{
    long real, mono;
    sb_read_clock(NUDGE_NS, &real, &mono);
    if (t)
        *t = real / NSEC;
    return real / NSEC;
}
