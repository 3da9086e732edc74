/* Pipes, dup, fcntl, poll, select and sleeps inside one process; prints the
 * same lines natively and sandboxed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static long elapsed_ms(struct timespec a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];
    char buf[64] = {0};
    if (pipe2(p, O_CLOEXEC))
        return 1;
    struct pollfd pf = {p[0], POLLIN, 0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("poll empty: %d\n", poll(&pf, 1, 50));
    printf("waited >= 50ms: %d\n", elapsed_ms(t0) >= 50);
    printf("write %zd\n", write(p[1], "hello", 5));
    printf("poll full: %d revents %#x\n", poll(&pf, 1, -1), pf.revents);
    int ready = -1;
    printf("FIONREAD %d: %d\n", ioctl(p[0], FIONREAD, &ready), ready);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 0};
    printf("select: %d isset %d\n", select(p[0] + 1, &r, NULL, NULL, &tv), FD_ISSET(p[0], &r));
    printf("read %zd %s\n", read(p[0], buf, sizeof buf), buf);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    printf("nonblocking read %zd %s, O_NONBLOCK %d\n", read(p[0], buf, sizeof buf),
           strerror(errno), !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    int out = dup(1);
    dprintf(out, "through dup %d\n", out);
    int saved = dup(1);
    dup2(p[1], 1);
    printf("into the pipe\n");
    dup2(saved, 1);
    memset(buf, 0, sizeof buf);
    printf("back from the pipe: %zd %s", read(p[0], buf, sizeof buf - 1), buf);
    close(p[1]);
    printf("end of file: %zd\n", read(p[0], buf, 4));
    printf("dup3 same fd: %d %s\n", dup3(out, out, 0), strerror(errno));
    int hi = fcntl(1, F_DUPFD_CLOEXEC, 20);
    printf("F_DUPFD_CLOEXEC %d cloexec %d\n", hi, fcntl(hi, F_GETFD));
    dprintf(hi, "through fd %d\n", hi);
    printf("bad fd: %d %s\n", dup(999), strerror(errno));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec d = {0, 30 * 1000000};
    nanosleep(&d, NULL);
    printf("slept >= 30ms: %d\n", elapsed_ms(t0) >= 30);
    return 0;
}
