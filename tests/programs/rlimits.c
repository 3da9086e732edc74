/* Reads and lowers resource limits, one line per call (the same natively
 * and sandboxed, but for the values strictbox chooses):
 *   read: getrlimit and prlimit64 (own pid, and 0) of NOFILE, STACK, AS
 *   lower: RLIMIT_NOFILE's soft limit to 40, then reads it back both ways
 *   errors: a bad resource, NULL, a read-only buffer, a raise, another pid
 *   reads:N: N more getrlimit calls (nothing printed) */
#include <errno.h>
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
        } else if (!strncmp(argv[i], "reads:", 6)) {
            for (long n = atol(argv[i] + 6); n > 0; n--)
                syscall(SYS_getrlimit, RLIMIT_STACK, &l);
        }
    }
    return 0;
}
