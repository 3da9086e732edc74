/* execve from inside the sandbox: failures return, success replaces the
 * image, close-on-exec fds close, ignored signals stay ignored and handlers
 * reset.  argv: exec DIR (DIR holds the scripts the test made). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void handler(int sig) { (void)sig; }

static void try_exec(const char *path)
{
    char *argv[] = {(char *)path, "one", NULL};
    execv(path, argv);
    printf("exec %s: %s\n", strrchr(path, '/') + 1, strerror(errno));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 4 && !strcmp(argv[1], "child")) {
        int keep = atoi(argv[2]), gone = atoi(argv[3]);
        struct sigaction a, b;
        sigaction(SIGUSR1, NULL, &a);
        sigaction(SIGUSR2, NULL, &b);
        printf("child: kept fd %d, cloexec fd %s\n", fcntl(keep, F_GETFD) >= 0,
               fcntl(gone, F_GETFD) < 0 ? strerror(errno) : "still open");
        printf("child: SIGUSR1 ignored %d, SIGUSR2 default %d\n", a.sa_handler == SIG_IGN,
               b.sa_handler == SIG_DFL);
        return 3;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/missing", argv[1]);
    try_exec(path);
    snprintf(path, sizeof path, "%s/not-executable", argv[1]);
    try_exec(path);
    snprintf(path, sizeof path, "%s/no-format", argv[1]);
    try_exec(path);
    int keep = dup(1);
    int gone = fcntl(1, F_DUPFD_CLOEXEC, 10);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, handler);
    char k[16], g[16];
    snprintf(k, sizeof k, "%d", keep);
    snprintf(g, sizeof g, "%d", gone);
    char *child[] = {argv[0], "child", k, g, NULL};
    execv(argv[0], child);
    printf("exec self: %s\n", strerror(errno));
    return 1;
}
