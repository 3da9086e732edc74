/* The raw syscall instruction and the few kernel types we need.  Every
 * syscall issued from here executes inside the stub's text, which is the
 * Syscall User Dispatch allowed region: after strict mode only read, write,
 * exit and rt_sigreturn succeed, anything else is SIGKILL. */
#ifndef SB_ARCH_H
#define SB_ARCH_H
#include "strictbox_abi.h"
#include <asm/unistd.h>
#include <asm/errno.h>
#include <asm/signal.h>
#include <asm/sigcontext.h>
#include <asm/ucontext.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <asm/prctl.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <linux/futex.h>
#include <linux/sysinfo.h>

/* Not in the uapi headers: from the kernel's include/linux/signal.h and elf.h. */
#define SS_ONSTACK 1
#define SS_DISABLE 2
#define SS_AUTODISARM (1U << 31)
#define R_X86_64_RELATIVE 8

typedef unsigned long size_t;
typedef long ssize_t;
#define NULL ((void *)0)

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static inline void wrfsbase(unsigned long v) { __asm__ volatile("wrfsbase %0" ::"r"(v) : "memory"); }
static inline unsigned long rdfsbase(void)
{
    unsigned long v;
    __asm__ volatile("rdfsbase %0" : "=r"(v));
    return v;
}

/* The kernel's struct sigaction (not glibc's). */
struct k_sigaction {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    unsigned long mask;
};

typedef struct {
    int si_signo, si_errno, si_code, pad;
    union {
        struct { unsigned long addr; } fault;
        struct { unsigned long call_addr; int syscall; unsigned int arch; } sys;
        unsigned char raw[112];
    };
} k_siginfo;

void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
