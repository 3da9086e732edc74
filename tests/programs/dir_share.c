/* One directory fd shared, as Linux shares its position:
 *   threads DIR  two threads list one fd to its end, 100 times: each entry
 *                comes back once ("same=100")
 *   upper DIR    the fd with junk in its upper 32 bits (the kernel reads 32),
 *                and lseek's whence too
 *   dup DIR      a partial listing, then the rest on a dup */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[4096];

static void names(const char *label, long r)
{
    printf("%s r=%ld:", label, r);
    for (long o = 0; r > 0 && o < r; o += *(unsigned short *)(buf + o + 16))
        printf(" %s", buf + o + 19);
    printf("\n");
    fflush(stdout);
}

static void *count(void *arg)
{
    int fd = (int)(long)arg;
    long r, n = 0;
    char b[200];
    while ((r = syscall(SYS_getdents64, fd, b, sizeof b)) > 0)
        for (long o = 0; o < r; o += *(unsigned short *)(b + o + 16))
            n++;
    return (void *)n;
}

int main(int argc, char **argv)
{
    const char *mode = argv[1], *dir = argv[2];
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (!strcmp(mode, "threads")) {
        long expect = (long)count((void *)(long)fd), same = 0, more = 0, fewer = 0;
        close(fd);
        for (int i = 0; i < 100; i++) {
            fd = open(dir, O_RDONLY | O_DIRECTORY);
            pthread_t a, b;
            void *ra, *rb;
            pthread_create(&a, NULL, count, (void *)(long)fd);
            pthread_create(&b, NULL, count, (void *)(long)fd);
            pthread_join(a, &ra);
            pthread_join(b, &rb);
            long t = (long)ra + (long)rb;
            t > expect ? more++ : t < expect ? fewer++ : same++;
            close(fd);
        }
        printf("entries=%ld same=%ld duplicated=%ld lost=%ld\n", expect, same, more, fewer);
    } else if (!strcmp(mode, "upper")) {
        long hi = fd | (1L << 32);
        names("low", syscall(SYS_getdents64, fd, buf, 80));
        names("high", syscall(SYS_getdents64, hi, buf, 80));
        names("low2", syscall(SYS_getdents64, fd, buf, 80));
        printf("lseek_whence_high %ld\n", (long)syscall(SYS_lseek, fd, 0, 1L << 32));
        names("after", syscall(SYS_getdents64, fd, buf, 80));
    } else {
        names("first", syscall(SYS_getdents64, fd, buf, 80));
        int d = dup(fd);
        names("dup", syscall(SYS_getdents64, d, buf, 80));
    }
    return 0;
}
