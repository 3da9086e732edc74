/* callbench: times a loop of one system call, with only two clock reads.
 *
 *   callbench getppid|clock_getres|lseek ITERATIONS [FILE]
 *
 * Prints "CALL ITERATIONS TOTAL_NS NS_PER_CALL".  Runs the same natively and
 * inside strictbox; inside, getppid is answered by the in-sandbox runtime
 * (one SIGSYS round trip) and clock_getres / lseek are forwarded to the
 * broker (one channel round trip each).  Calls are made with a raw `syscall`
 * instruction so that libc caching or vDSO shortcuts cannot hide them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "self_timed.h"

static inline long raw3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s getppid|clock_getres|lseek ITERATIONS [FILE]\n", argv[0]);
        return 2;
    }
    const char *call = argv[1];
    long n = atol(argv[2]);
    long nr, a = 0, b = 0, c = 0;
    struct timespec res;
    if (!strcmp(call, "getppid")) {
        nr = SYS_getppid;
    } else if (!strcmp(call, "clock_getres")) {
        nr = SYS_clock_getres, a = CLOCK_MONOTONIC, b = (long)&res;
    } else if (!strcmp(call, "lseek")) {
        const char *path = argc > 3 ? argv[3] : "/usr/bin/busybox";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            perror(path);
            return 2;
        }
        nr = SYS_lseek, a = fd, b = 0, c = SEEK_SET;
    } else {
        fprintf(stderr, "unknown call %s\n", call);
        return 2;
    }
    long r = raw3(nr, a, b, c); /* warm up, and check it works at all */
    if (r < 0) {
        fprintf(stderr, "%s failed: %s\n", call, strerror((int)-r));
        return 3;
    }
    long long t0 = now_ns();
    for (long i = 0; i < n; i++)
        raw3(nr, a, b, c);
    long long t1 = now_ns();
    report(call, n, t0, t1);
    return 0;
}
