/* F_GETFD and lseek on stdio and pipes (answered inside the sandbox), as
 * Linux answers them, through F_SETFD, dup, dup3(O_CLOEXEC), F_DUPFD_CLOEXEC
 * and close.  "count N": N rounds of the calls CPython makes on each stdio
 * stream (the test compares round trips). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void show(const char *name, int fd)
{
    errno = 0;
    int fdflags = fcntl(fd, F_GETFD);
    int e1 = errno;
    errno = 0;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    int e2 = errno;
    errno = 0;
    off_t bad = lseek(fd, 0, 99);
    printf("%s getfd=%d/%s lseek=%ld/%s whence99=%ld/%s\n", name, fdflags, strerrorname_np(e1),
           (long)pos, strerrorname_np(e2), (long)bad, strerrorname_np(errno));
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "count")) {
        for (int i = 0; i < atoi(argv[2]); i++)
            for (int fd = 1; fd <= 2; fd++)
                if (fcntl(fd, F_GETFD) != 0 || lseek(fd, 0, SEEK_CUR) != -1)
                    return 1;
        puts("count done");
        return 0;
    }
    int p[2];
    if (pipe(p))
        return 1;
    show("stdout", 1);
    show("stderr", 2);
    show("pipe_r", p[0]);
    show("pipe_w", p[1]);
    fcntl(1, F_SETFD, FD_CLOEXEC);
    show("stdout_cloexec", 1);
    fcntl(1, F_SETFD, 0);
    show("stdout_again", 1);
    int d = dup(p[0]);
    show("dup", d);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    show("pipe_r_cloexec", p[0]);
    show("dup_unchanged", d);
    int d3 = dup3(2, 20, O_CLOEXEC);
    show("dup3_cloexec", d3);
    int dc = fcntl(p[1], F_DUPFD_CLOEXEC, 30);
    show("dupfd_cloexec", dc);
    dup2(p[1], 20);
    show("dup2_over", 20);
    close(d);
    show("closed", d);
    close(20);
    show("closed20", 20);
    return 0;
}
