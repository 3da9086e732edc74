/* Helpers shared by the hostile_*.c programs of tests/test_hostile_suite.py.
 *
 * Every result is printed as one line, "label value", value being the
 * return value or -ENAME for an error, and flushed at once so that what was
 * written before strictbox ends a program is there to compare. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SB_CFFI
#define SB_CFFI /* stdint types for the ABI header */
#endif
#include "strictbox_abi.h"

#define ST ((volatile struct sb_state *)SB_ARENA_BASE)
#define WILD 0x7fff00000000UL          /* user space, never the arena */
#define TOP 0xffffffffffff0000UL       /* + 0x20000 wraps past 2^64 */
#define AT_CWD ((long)AT_FDCWD)

static inline struct sb_thread *thread0(void)
{
    return (struct sb_thread *)ST->boot.threads_base;
}

__attribute__((unused)) static inline unsigned long arena_end(void)
{
    return ST->boot.arena_base + ST->boot.arena_size;
}

/* A `syscall` instruction in the program's own text: trapped by Syscall
 * User Dispatch unless the selector says "allow". */
static inline long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
#define raw3(nr, a, b, c) raw6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static inline void allow_direct(void) { ST->selector = 0; } /* SYSCALL_DISPATCH_FILTER_ALLOW */
static inline void trap_again(void) { ST->selector = 1; }

/* -errno for glibc's -1/errno convention */
static inline long sc(long r)
{
    return r == -1 ? -errno : r;
}
#define CALL(...) sc(syscall(__VA_ARGS__))

__attribute__((unused)) static void show(const char *label, long r)
{
    if (r < 0 && r > -4096)
        printf("%s -%s\n", label, strerrorname_np((int)-r) ? strerrorname_np((int)-r) : "E?");
    else
        printf("%s %ld\n", label, r);
    fflush(stdout);
}

/* "ok" for a non-negative result (an fd number is not stable enough to print) */
__attribute__((unused)) static void show_ok(const char *label, long r)
{
    if (r >= 0) {
        printf("%s ok\n", label);
        fflush(stdout);
    } else {
        show(label, r);
    }
}

__attribute__((unused)) static void say(const char *line)
{
    puts(line);
    fflush(stdout);
}

/* Writes a raw message to the broker channel, past the runtime. */
__attribute__((unused)) static long channel_write(const void *msg, long n)
{
    allow_direct();
    long w = raw3(SYS_write, thread0()->chan_fd, msg, n);
    trap_again();
    return w;
}

__attribute__((unused)) static long channel_read(void *buf, long n)
{
    allow_direct();
    long r = raw3(SYS_read, thread0()->chan_fd, buf, n);
    trap_again();
    return r;
}

/* msgpack, the way the runtime writes requests */
__attribute__((unused)) static unsigned char *mp_uint(unsigned char *p, uint64_t v)
{
    if (v < 0x80) {
        *p++ = (unsigned char)v;
        return p;
    }
    *p++ = 0xcf;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

__attribute__((unused)) static unsigned char *mp_int(unsigned char *p, int64_t v)
{
    if (v >= 0)
        return mp_uint(p, (uint64_t)v);
    *p++ = 0xd3;
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)((uint64_t)v >> (8 * i));
    return p;
}

/* [seq, op, args...] with the next sequence number; returns its length */
__attribute__((unused)) static long mp_request(unsigned char *out, uint64_t seq, long op, const uint64_t *args, int n)
{
    unsigned char *p = out;
    *p++ = (unsigned char)(0x90 | (2 + n));
    p = mp_uint(p, seq);
    p = mp_int(p, op);
    for (int i = 0; i < n; i++)
        p = mp_uint(p, args[i]);
    return p - out;
}
