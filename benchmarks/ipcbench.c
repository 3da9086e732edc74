/* ipcbench: the IPC floor under the broker channel.
 *
 *   ipcbench strict|plain same|any|paired ITERATIONS
 *
 * A socketpair(AF_UNIX, SOCK_SEQPACKET) between a parent and a forked child.
 * The child (in "strict" mode after prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT))
 * loops read/write, echoing every message; the parent sends a 64-byte
 * message, waits for the echo, and times ITERATIONS round trips.  The parent
 * keeps the clock: a strict-mode process can call neither clock_gettime nor
 * rdtsc.  "same" pins both processes to one CPU (the first one this process
 * may run on); "any" leaves placement to the scheduler; "paired" pins them
 * to two CPUs and has each poll for the other instead of sleeping, as
 * strictbox pairs a broker with its sandbox's main thread (broker/loop.py):
 * the parent polls the socket (the broker's epoll with no timeout), the
 * child watches a shared word the parent bumps after each write (the
 * answered word of broker_client.c), then reads.
 *
 * Prints "MODE PLACEMENT ITERATIONS TOTAL_NS NS_PER_ROUND_TRIP". */
#define _GNU_SOURCE
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define SPINS 20000 /* as broker_client.c's ANSWER_SPINS */

static volatile unsigned long *sent; /* paired: messages the parent has written */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void child(int fd, int strict)
{
    char buf[MSG];
    if (strict && prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
        buf[0] = 'E'; /* tell the parent; write is still allowed either way */
    else
        buf[0] = 'R';
    if (write(fd, buf, 1) != 1) /* "ready": strict mode is on */
        syscall(SYS_exit, 4);
    for (unsigned long got = 0;; got++) {
        /* Only read/write/exit from here on: raw calls, no libc extras. */
        for (int i = 0; sent && i < SPINS && __atomic_load_n(sent, __ATOMIC_ACQUIRE) <= got; i++)
            __builtin_ia32_pause();
        long n = syscall(SYS_read, fd, buf, sizeof buf);
        if (n <= 0)
            break;
        if (syscall(SYS_write, fd, buf, n) != n)
            break;
    }
    syscall(SYS_exit, 0); /* exit_group is not allowed in strict mode */
}

/* One message out and its echo back; paired, the echo is polled for. */
static int round_trip(int fd, char *buf)
{
    if (write(fd, buf, MSG) != MSG)
        return 0;
    if (sent) {
        __atomic_add_fetch(sent, 1, __ATOMIC_RELEASE);
        struct pollfd p = {fd, POLLIN, 0};
        while (poll(&p, 1, 0) == 0)
            ;
    }
    return read(fd, buf, MSG) == MSG;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s strict|plain same|any|paired ITERATIONS\n", argv[0]);
        return 2;
    }
    int strict = !strcmp(argv[1], "strict");
    int same = !strcmp(argv[2], "same"), paired = !strcmp(argv[2], "paired");
    long n = atol(argv[3]);
    int cpus[2] = {-1, -1}; /* the first two CPUs this process may run on */
    cpu_set_t set;
    if ((same || paired) && sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int cpu = 0, k = 0; cpu < CPU_SETSIZE && k < 2; cpu++)
            if (CPU_ISSET(cpu, &set))
                cpus[k++] = cpu;
        if (paired && cpus[1] < 0) {
            fprintf(stderr, "paired needs two CPUs\n");
            return 2;
        }
        CPU_ZERO(&set);
        CPU_SET(cpus[0], &set);
        sched_setaffinity(0, sizeof set, &set); /* the child inherits it */
    }
    if (paired) {
        sent = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sent == MAP_FAILED) {
            perror("mmap");
            return 2;
        }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
        perror("socketpair");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        close(sv[0]);
        if (paired) {
            CPU_ZERO(&set);
            CPU_SET(cpus[1], &set);
            sched_setaffinity(0, sizeof set, &set);
        }
        child(sv[1], strict);
    }
    close(sv[1]);
    char buf[MSG];
    memset(buf, 'x', sizeof buf);
    if (read(sv[0], buf, sizeof buf) != 1 || buf[0] != 'R') {
        fprintf(stderr, "child could not enter strict mode\n");
        return 3;
    }
    for (int i = 0; i < 1000; i++) { /* warm up */
        if (!round_trip(sv[0], buf))
            return 4;
    }
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (!round_trip(sv[0], buf)) {
            fprintf(stderr, "round trip %ld failed\n", i);
            return 4;
        }
    }
    long long t1 = now_ns();
    close(sv[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "child ended badly (status %#x)\n", status);
    printf("%s %s %ld %lld %.1f\n", argv[1], argv[2], n, t1 - t0, (double)(t1 - t0) / (double)n);
    return 0;
}
