/* A puppet for tests/test_fuzz_broker.py: inside the sandbox it takes
 * commands on stdin and puts their bytes, raw, on its broker channel, so the
 * test can speak the channel protocol (well or badly) from a real process on
 * a real channel.  It flips the dispatch selector to "allow" once at start:
 * from then on its own read and write go straight to the kernel (strict mode
 * allows them), and it makes no other system call.
 *
 * Commands (stdin): one byte, a 16-bit little-endian length, that many bytes.
 *   S  send the bytes as one channel message, then read one reply
 *   N  send the bytes, read nothing
 *   D  read one reply
 *   M  8-byte little-endian offset, then bytes: copied into the scratch buffer
 *   Q  8-byte seq: hand the numbering back to the runtime and exit(0) through it
 * Reports (stdout), one line each:
 *   P <chan fd> <seq> <scratch address> <scratch size>     (at start)
 *   W <result of write>                                    (N)
 *   R <result of read> <reply bytes in hex>                (S, D)
 *   M <bytes copied>                                       (M) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "strictbox_abi.h"

static long raw3(long nr, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

/* Requests point into the first 4 KiB; the rest is room for what the broker
 * writes there (at most 1 MiB per call), so no call overwrites our own state. */
static unsigned char scratch[2 << 20];
#define SCRATCH_USED 4096
static char line[1024];
static int len;

static void put(const char *s)
{
    while (*s)
        line[len++] = *s++;
}

static void put_num(long v)
{
    char b[24];
    int i = sizeof b;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    do
        b[--i] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        b[--i] = '-';
    memcpy(line + len, b + i, sizeof b - i);
    len += sizeof b - i;
}

static void flush(void)
{
    line[len++] = '\n';
    for (int off = 0; off < len;) {
        long w = raw3(1, 1, (long)line + off, len - off);
        if (w <= 0)
            raw3(60, 1, 0, 0); /* exit: allowed by strict mode */
        off += (int)w;
    }
    len = 0;
}

static int read_full(unsigned char *p, int n)
{
    for (int got = 0; got < n;) {
        long r = raw3(0, 0, (long)p + got, n - got);
        if (r <= 0)
            return 0;
        got += (int)r;
    }
    return 1;
}

static void reply(int fd)
{
    unsigned char rep[512];
    long n = raw3(0, fd, (long)rep, sizeof rep);
    put("R ");
    put_num(n);
    put(" ");
    for (long i = 0; i < n; i++) {
        line[len++] = "0123456789abcdef"[rep[i] >> 4];
        line[len++] = "0123456789abcdef"[rep[i] & 15];
    }
    flush();
}

int main(void)
{
    volatile struct sb_state *st = (volatile struct sb_state *)SB_ARENA_BASE;
    struct sb_thread *t = (struct sb_thread *)st->boot.threads_base;
    int fd = t->chan_fd;
    static unsigned char buf[65536 + 8];

    st->selector = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW: read and write go to the kernel */
    put("P ");
    put_num(fd);
    put(" ");
    put_num((long)t->seq);
    put(" ");
    put_num((long)(uintptr_t)scratch);
    put(" ");
    put_num(SCRATCH_USED);
    flush();
    for (;;) {
        unsigned char hdr[3];
        if (!read_full(hdr, 3))
            raw3(60, 2, 0, 0);
        int n = hdr[1] | hdr[2] << 8;
        if (!read_full(buf, n))
            raw3(60, 2, 0, 0);
        switch (hdr[0]) {
        case 'S':
        case 'N': {
            long w = raw3(1, fd, (long)buf, n);
            if (hdr[0] == 'S' && w == n) {
                reply(fd);
            } else {
                put("W ");
                put_num(w);
                flush();
            }
            break;
        }
        case 'D':
            reply(fd);
            break;
        case 'M': {
            uint64_t off = 0;
            memcpy(&off, buf, n >= 8 ? 8 : 0);
            long c = 0;
            for (int i = 8; i < n && off + (i - 8) < SCRATCH_USED; i++, c++)
                scratch[off + (i - 8)] = buf[i];
            put("M ");
            put_num(c);
            flush();
            break;
        }
        case 'Q': {
            uint64_t seq = 0;
            memcpy(&seq, buf, n >= 8 ? 8 : 0);
            t->seq = seq;
            st->selector = 1; /* the runtime serves us again */
            exit(0);
        }
        default:
            raw3(60, 3, 0, 0);
        }
    }
}
