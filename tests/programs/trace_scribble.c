/* Scribbles over the trace ring (struct sb_trace_ring in the arena) while
 * being traced: wild heads, records naming bogus calls, path arguments
 * pointing nowhere, the ring going backwards, then the boot flag turned off
 * and on.  Between scribbles it makes broker-served calls (getppid is local,
 * getgroups is not), so the broker drains the ring each time.  The broker
 * must neither crash nor stop the run: "survived" is the last line. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "strictbox_abi.h"

#define ST ((struct sb_state *)SB_ARENA_BASE)

static void drain(void)
{
    syscall(SYS_getgroups, 0, NULL); /* forwarded: the broker drains the ring first */
}

static void fill(int64_t nr, uint64_t arg, int64_t result)
{
    for (int i = 0; i < SB_TRACE_SLOTS; i++) {
        struct sb_trace_rec *r = &ST->trace.rec[i];
        r->nr = nr;
        for (int k = 0; k < 6; k++)
            r->args[k] = arg + (uint64_t)k;
        r->result = result;
        r->tid = -7;
        r->flags = 0xffffffffu;
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* "head": how many records the runtime wrote so far */
        getppid();
        getuid();
        printf("%lu\n", (unsigned long)ST->trace.head);
        return 0;
    }
    drain();
    fill(-5, 0, 0); /* a negative call number */
    ST->trace.head += 3;
    drain();
    fill(99999, 0xffffffffffffffffUL, INT64_MIN); /* no such call */
    ST->trace.head += SB_TRACE_SLOTS * 10;  /* more than the ring holds */
    drain();
    fill(SYS_openat, 0x7fff00000000UL, 3);  /* path pointers outside the arena */
    ST->trace.head += 5;
    drain();
    fill(SYS_openat, SB_ARENA_BASE + sizeof(struct sb_state) - 1, -4095); /* path at the state's end */
    ST->trace.head += 2;
    drain();
    fill(SYS_openat, 0x7fff00000000UL, 3); /* "copied" paths: no NUL, not UTF-8, any argument */
    for (int i = 0; i < SB_TRACE_SLOTS; i++) {
        ST->trace.rec[i].flags = SB_TRACE_COPIED | SB_TRACE_CUT | (unsigned)(i % 8) << SB_TRACE_ARG_SHIFT;
        memset(ST->trace.rec[i].path, 0xff, SB_TRACE_PATH);
    }
    ST->trace.head += 8;
    drain();
    ST->trace.head = 0xffffffffffffffffUL; /* the largest count */
    drain();
    ST->trace.head = 1; /* backwards */
    drain();
    memset(&ST->trace, 0xff, sizeof ST->trace);
    drain();
    ST->boot.trace = 0;
    getppid();
    drain();
    ST->boot.trace = 1;
    getppid();
    drain();
    printf("survived\n");
    return 0;
}
