/* Reads and lowers resource limits, one line per call (the same natively
 * and sandboxed, but for the values strictbox chooses):
 *   read: getrlimit and prlimit64 (own pid, and 0) of NOFILE, STACK, AS
 *   lower: RLIMIT_NOFILE's soft limit to 40, then reads it back both ways
 *   errors: a bad resource, NULL, a read-only buffer, a raise, another pid
 *   fds: RLIMIT_NOFILE's soft limit to 8, then opens, dups and polls past it
 *   wide: the resource and the pid with their registers' upper halves set
 *   thread:N: a second thread reads its own tid's limit, then N more
 *   exec: runs itself again with "read" (limits outlive an execve)
 *   reads:N: N more getrlimit calls (nothing printed) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct rlimit rodata = {1, 1}; /* a buffer in a read-only page */

static void show(const char *what, long r, const struct rlimit *l)
{
    if (r < 0)
        printf("%s errno %d\n", what, errno);
    else
        printf("%s %llu %llu\n", what, (unsigned long long)l->rlim_cur, (unsigned long long)l->rlim_max);
}

static void both(const char *name, int resource)
{
    struct rlimit a, b, c;
    char what[64];
    snprintf(what, sizeof what, "get %s", name);
    show(what, syscall(SYS_getrlimit, resource, &a), &a);
    snprintf(what, sizeof what, "prlimit pid %s", name);
    show(what, syscall(SYS_prlimit64, getpid(), resource, NULL, &b), &b);
    snprintf(what, sizeof what, "prlimit 0 %s", name);
    show(what, syscall(SYS_prlimit64, 0, resource, NULL, &c), &c);
}

static void *in_thread(void *n)
{
    struct rlimit l;
    show("thread prlimit own tid", syscall(SYS_prlimit64, gettid(), RLIMIT_NOFILE, NULL, &l), &l);
    for (long k = (long)n; k > 0; k--)
        syscall(SYS_getrlimit, RLIMIT_STACK, &l);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct rlimit l;
        if (!strcmp(argv[i], "read")) {
            both("nofile", RLIMIT_NOFILE);
            both("stack", RLIMIT_STACK);
            both("as", RLIMIT_AS);
        } else if (!strcmp(argv[i], "lower")) {
            syscall(SYS_getrlimit, RLIMIT_NOFILE, &l);
            l.rlim_cur = 40;
            show("set nofile 40", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &l, NULL), &l);
            both("nofile", RLIMIT_NOFILE);
        } else if (!strcmp(argv[i], "errors")) {
            show("get 99", syscall(SYS_getrlimit, 99, &l), &l);
            show("prlimit 99", syscall(SYS_prlimit64, 0, 99, NULL, &l), &l);
            show("get NULL", syscall(SYS_getrlimit, RLIMIT_NOFILE, NULL), &l);
            show("prlimit NULL", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, NULL), &l);
            show("get read-only", syscall(SYS_getrlimit, RLIMIT_NOFILE, &rodata), &l);
            syscall(SYS_getrlimit, RLIMIT_NOFILE, &l);
            l.rlim_max = l.rlim_max == RLIM_INFINITY ? l.rlim_max : l.rlim_max + 1;
            l.rlim_cur = l.rlim_max;
            show("raise nofile", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &l, NULL), &l);
            show("prlimit other", syscall(SYS_prlimit64, 999999, RLIMIT_NOFILE, NULL, &l), &l);
        } else if (!strcmp(argv[i], "fds")) {
            syscall(SYS_getrlimit, RLIMIT_NOFILE, &l);
            l.rlim_cur = 8;
            show("set nofile 8", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &l, NULL), &l);
            int opened = 0, fd;
            while ((fd = open("/dev/null", O_RDONLY)) >= 0)
                opened++;
            printf("opened %d, then errno %d\n", opened, errno);
            close(7);
            printf("open again %d\n", open("/dev/null", O_RDONLY));
            errno = 0;
            int r = dup2(0, 8);
            printf("dup2 to 8: %d errno %d\n", r, errno);
            printf("dup2 to 7: %d\n", dup2(0, 7));
            errno = 0;
            r = fcntl(0, F_DUPFD, 8);
            printf("F_DUPFD from 8: %d errno %d\n", r, errno);
            struct pollfd p[9] = {{0}};
            errno = 0;
            r = poll(p, 9, 0);
            printf("poll 9: %d errno %d\n", r, errno);
        } else if (!strcmp(argv[i], "wide")) {
            show("get stack wide", syscall(SYS_getrlimit, (1UL << 32) | RLIMIT_STACK, &l), &l);
            show("prlimit pid wide", syscall(SYS_prlimit64, (1UL << 32) | (unsigned long)getpid(),
                                             RLIMIT_STACK, NULL, &l), &l);
        } else if (!strncmp(argv[i], "thread:", 7)) {
            pthread_t t;
            pthread_create(&t, NULL, in_thread, (void *)atol(argv[i] + 7));
            pthread_join(t, NULL);
        } else if (!strcmp(argv[i], "exec")) {
            fflush(stdout);
            execv(argv[0], (char *[]){argv[0], "read", NULL});
            printf("exec errno %d\n", errno);
        } else if (!strncmp(argv[i], "reads:", 6)) {
            for (long n = atol(argv[i] + 6); n > 0; n--)
                syscall(SYS_getrlimit, RLIMIT_STACK, &l);
        }
    }
    return 0;
}
