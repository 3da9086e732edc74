/* Talks to the broker channel directly: flips the selector to "allow" and
 * writes a hand-made message to the channel fd found in thread 0's block.
 *
 *   hostile_channel MODE
 *     garbage   bytes that are not msgpack
 *     badseq    a well-formed request with a wrong sequence number
 *     oversize  a message of 300 bytes (the limit is 256)
 *     string    a string where the op should be
 *     empty     a zero-length message
 *     local     a well-formed request for getpid, a call the runtime serves
 *               itself and that the broker has no handler for
 *     valid     a well-formed getcwd request (control: must be answered)
 *
 * After sending it reads the channel: the broker should kill us before a
 * reply comes.  If one comes, we print it and exit 3 (0 for "valid"). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "strictbox_abi.h"

static long raw3(long nr, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static unsigned char *put_uint(unsigned char *p, uint64_t v)
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

static char cwd[64];

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "garbage";
    volatile struct sb_state *st = (volatile struct sb_state *)SB_ARENA_BASE;
    struct sb_thread *t = (struct sb_thread *)st->boot.threads_base;
    int fd = t->chan_fd;
    uint64_t seq = t->seq;
    unsigned char msg[300], rep[256], *p = msg;

    if (!strcmp(mode, "garbage")) {
        memcpy(p, "\xc1garbage", 8);
        p += 8;
    } else if (!strcmp(mode, "badseq") || !strcmp(mode, "local")) {
        *p++ = 0x98; /* array of 8: seq, op, six arguments */
        p = put_uint(p, !strcmp(mode, "badseq") ? seq + 5 : seq + 1);
        p = put_uint(p, 39); /* getpid */
        for (int i = 0; i < 6; i++)
            p = put_uint(p, 0);
    } else if (!strcmp(mode, "oversize")) {
        memset(msg, 0, sizeof msg);
        msg[0] = 0x98;
        p = msg + sizeof msg;
    } else if (!strcmp(mode, "string")) {
        *p++ = 0x98;
        p = put_uint(p, seq + 1);
        *p++ = 0xa2; /* fixstr "op" instead of a number */
        *p++ = 'o';
        *p++ = 'p';
        for (int i = 0; i < 6; i++)
            p = put_uint(p, 0);
    } else if (!strcmp(mode, "empty")) {
        /* nothing: a zero-length SOCK_SEQPACKET record */
    } else if (!strcmp(mode, "valid")) {
        *p++ = 0x98;
        p = put_uint(p, seq + 1);
        p = put_uint(p, 79); /* getcwd */
        p = put_uint(p, (uint64_t)(uintptr_t)cwd);
        p = put_uint(p, sizeof cwd);
        for (int i = 0; i < 4; i++)
            p = put_uint(p, 0);
    } else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    printf("mode %s: %d bytes to channel fd %d after seq %lu\n", mode, (int)(p - msg), fd,
           (unsigned long)seq);
    fflush(stdout);

    st->selector = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW: read/write go to the kernel */
    long w = raw3(1, fd, (long)msg, p - msg);
    long n = raw3(0, fd, (long)rep, sizeof rep);
    st->selector = 1; /* back to trapping: the runtime serves us again */

    if (!strcmp(mode, "valid")) {
        t->seq = seq + 1; /* keep the runtime's numbering in step with the broker's */
        printf("wrote %ld, reply of %ld bytes, cwd %s\n", w, n, cwd);
        return 0;
    }
    printf("REPLY: wrote %ld, reply of %ld bytes\n", w, n);
    return 3;
}
