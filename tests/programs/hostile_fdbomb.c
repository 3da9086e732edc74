/* File-descriptor bombs: open, dup and pipe2 until the limit.  Each stops
 * at the sandbox's open-file limit with EMFILE; the broker holds no more
 * host fds than that, and gives every one back when the sandbox ends. */
#include "hostile.h"

static long until_emfile(const char *what)
{
    long n = 0, r;
    for (;;) {
        if (!strcmp(what, "open"))
            r = CALL(SYS_open, "/dev/null", O_RDONLY);
        else if (!strcmp(what, "file"))
            r = CALL(SYS_open, "/data/own", O_RDONLY);
        else if (!strcmp(what, "dup"))
            r = CALL(SYS_dup, 0);
        else {
            int p[2];
            r = CALL(SYS_pipe2, p, 0);
        }
        if (r < 0)
            break;
        n++;
        if (n > 100000)
            return -1;
    }
    printf("%s stopped by %s after %s\n", what, strerrorname_np((int)-r), n > 100 ? "many" : "few");
    fflush(stdout);
    for (int fd = 3; fd < 4096; fd++)
        close(fd);
    return n;
}

int main(void)
{
    until_emfile("open");
    until_emfile("file");
    until_emfile("dup");
    until_emfile("pipe");
    show("dup2_high", CALL(SYS_dup2, 0, 100000));
    show("fcntl_dupfd_high", CALL(SYS_fcntl, 0, F_DUPFD, 100000));
    return 0;
}
