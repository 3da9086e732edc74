/* writev to a broker-held writable file with many iovecs that all point at
 * the same large buffer: the total (COUNT x SIZE_MIB MiB) is far above the
 * 1 MiB the broker moves per request, so it should never need to hold it.
 *
 *   hostile_writev PATH COUNT SIZE_MIB */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int count = atoi(argv[2]);
    size_t size = (size_t)atol(argv[3]) << 20;
    char *buf = malloc(size);
    struct iovec *v = calloc(count, sizeof *v);
    if (!buf || !v)
        return 2;
    for (int i = 0; i < count; i++)
        v[i] = (struct iovec){buf, size};
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 2;
    }
    long r = syscall(SYS_writev, fd, v, count);
    printf("writev %ld\n", r);
    return 0;
}
