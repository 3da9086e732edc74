/* A directory listing that an execve interrupts: the first image reads a
 * few entries (one small buffer), the new image reads the rest from the
 * same fd.  Prints how many entries each read, and every name once. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[65536];

static long names(int fd, size_t n, int all)
{
    long count = 0, r;
    while ((r = syscall(SYS_getdents64, fd, buf, n)) > 0) {
        for (long off = 0; off < r; off += *(unsigned short *)(buf + off + 16), count++)
            printf("%s\n", buf + off + 19);
        if (!all)
            break;
    }
    return count;
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
        printf("first %ld\n", names(fd, 100, 0));
        fflush(stdout);
        char num[16];
        snprintf(num, sizeof num, "%d", fd);
        execl("/proc/self/exe", argv[0], argv[1], num, (char *)NULL);
        return 1;
    }
    printf("rest %ld\n", names(atoi(argv[2]), sizeof buf, 1));
    return 0;
}
